/** Every dead-lettered provisioning message, across customers. */
import { DeadLetterList } from '../ui/DeadLetterList';
import { href, Section } from '../ui/kit';

export function DeadLettersScreen() {
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href('/')}>Estate</a> › Dead letters
      </nav>
      <h1>Dead letters</h1>
      <Section title="Provisioning messages the handler refused">
        <DeadLetterList />
      </Section>
    </>
  );
}
