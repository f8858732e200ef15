/** Sites and configuration: one URL per section, each editable with errors shown at the field. */
import { CustomerNav } from '../ui/CustomerNav';
import { href } from '../ui/kit';
import { SitesSection } from './configuration/Sites';
import { CriteriaSection } from './configuration/Criteria';
import { JsonItemsSection, FlowThroughSection } from './configuration/JsonItems';
import { GlobalSettingsSection } from './configuration/GlobalSettings';
import { ImportExportSection } from './configuration/ImportExport';

const SECTIONS: Array<[string, string]> = [
  ['sites', 'Sites and defaults'],
  ['criteria', 'Criteria'],
  ['quick-add-groups', 'Quick Add Groups'],
  ['user-profiles', 'Profiles'],
  ['flow-through', 'Flow-through criteria'],
  ['settings', 'Global settings'],
  ['document', 'Import and export'],
];

export function ConfigurationScreen(props: { params: { customerId: string; section?: string } }) {
  const { customerId } = props.params;
  const section = props.params.section ?? 'sites';
  const base = `/customers/${encodeURIComponent(customerId)}/configuration`;
  return (
    <>
      <CustomerNav customerId={customerId} title="Sites and configuration" />
      <nav aria-label="Configuration" class="subtabs">
        {SECTIONS.map(([id, label]) => (
          <a key={id} href={href(`${base}/${id}`)} aria-current={id === section ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {section === 'sites' ? <SitesSection customerId={customerId} /> : null}
      {section === 'criteria' ? <CriteriaSection customerId={customerId} /> : null}
      {section === 'quick-add-groups' ? <JsonItemsSection customerId={customerId} kind="quick-add-groups" /> : null}
      {section === 'user-profiles' ? <JsonItemsSection customerId={customerId} kind="user-profiles" /> : null}
      {section === 'flow-through' ? <FlowThroughSection customerId={customerId} /> : null}
      {section === 'settings' ? <GlobalSettingsSection customerId={customerId} /> : null}
      {section === 'document' ? <ImportExportSection customerId={customerId} /> : null}
      {!SECTIONS.some(([id]) => id === section) ? <p class="state empty">There is no “{section}” section.</p> : null}
    </>
  );
}
