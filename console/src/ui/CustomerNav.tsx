/** The customer's pages, one tab each; the current page is marked for assistive technology too. */
import { useLocation } from 'preact-iso';
import { href } from './kit';

const PAGES: Array<[string, string]> = [
  ['', 'Sync'],
  ['/users', 'Users'],
  ['/held-deletions', 'Held deletions'],
  ['/configuration', 'Sites and configuration'],
  ['/numbers', 'Numbers'],
  ['/provisioning', 'Provisioning'],
];

export function CustomerNav(props: { customerId: string; title: string }) {
  const { path } = useLocation();
  const base = `/customers/${encodeURIComponent(props.customerId)}`;
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href('/')}>Estate</a> › <a href={href(base)}>{props.customerId}</a>
      </nav>
      <h1>{props.title}</h1>
      <nav aria-label="Customer" class="tabs">
        {PAGES.map(([suffix, label]) => {
          const target = href(base + suffix);
          const current = suffix === '' ? path === target : path === target || path.startsWith(`${target}/`);
          return (
            <a key={suffix} href={target} aria-current={current ? 'page' : undefined}>
              {label}
            </a>
          );
        })}
      </nav>
    </>
  );
}
