/**
 * The operator's console in a real browser (Debian's Chromium through playwright-core) against the whole
 * local stack: each journey is done on the page as an operator would, then checked on the page and in
 * storage. Every screen is checked with axe-core (no serious or critical violation) and photographed: into
 * .local/console-screenshots/ on every run, into docs/console/ (the README's pictures) only when
 * SITESYNC_CONSOLE_SCREENSHOTS=docs (`npm run console:screenshots`), so a test run leaves the tree clean.
 * One browser and one stack for the file, a small demo tenant.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sender } from '../../shared/adapters/servicebus/client';
import { QUEUES } from '../../shared/config/queues';
import { buildConsole } from '../../local/cli/console';
import { demoCustomerConfiguration, DEMO_SITE_IDS } from '../../local/demo/customer';
import { PROJECT_ROOT } from '../../local/host/load';
import { launchChromium, type LaunchedBrowser } from '../support/chromium';
import { startTestStack, type TestStack } from '../support/stack';

const CUSTOMER = 'fabrikam';
const USERS = 120;
const SHOTS = process.env.SITESYNC_CONSOLE_SCREENSHOTS === 'docs'
  ? path.join(PROJECT_ROOT, 'docs', 'console')
  : path.join(PROJECT_ROOT, '.local', 'console-screenshots');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let t: TestStack;
let chrome: LaunchedBrowser;
let page: Page;
let base: string;
const cspViolations: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await buildConsole({ ifStale: true, quiet: true });
  [t, chrome] = await Promise.all([startTestStack({ users: USERS, seed: 'console' }), launchChromium()]);
  base = `${t.stack.endpoints.hostUrl}/console`;
  const context = await chrome.browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
}, 180_000);

afterAll(async () => {
  await chrome?.close();
  await t?.stop();
});

/** axe-core in the page (evaluated over the DevTools protocol: the page's CSP allows no injected script). */
async function checkAccessibility(screen: string): Promise<void> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    // The page's globals, typed here: the tests compile without the DOM library.
    const g = globalThis as unknown as { document: unknown; axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: unknown }> }> }> } };
    const result = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `${screen}: ${JSON.stringify(serious, null, 1)}`).toEqual([]);
}

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function screen(name: string): Promise<void> {
  await page.waitForSelector('.state.loading', { state: 'detached', timeout: 30_000 }).catch(() => undefined);
  await checkAccessibility(name);
  await shoot(name);
}

describe('the operator console', () => {
  it('serves the page with a strict policy, hashed assets cached and the page revalidated', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'; style-src 'self'/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/<style/);
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)![1];
    const js = await fetch(`${t.stack.endpoints.hostUrl}${asset}`);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const again = await fetch(`${t.stack.endpoints.hostUrl}${asset}`, { headers: { 'if-none-match': js.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    // Deep links answer with the page: the app routes in the browser.
    expect((await fetch(`${base}/customers/x/users`)).headers.get('content-type')).toMatch(/text\/html/);
  });

  it('signs in with the function key, by keyboard, and keeps it in the tab only', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('text=Sign in to the console');
    await screen('sign-in');
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab'); // brand
    await page.keyboard.press('Tab'); // the key
    await page.keyboard.type('not-the-key');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=This key is not accepted.');
    await page.getByLabel('Function key').fill(t.stack.endpoints.functionKey);
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1:text("Estate")');
    expect(await page.evaluate(() => Object.keys((globalThis as unknown as { sessionStorage: object }).sessionStorage))).toContain('sitesync.functionKey');
    expect(await page.evaluate(() => Object.keys((globalThis as unknown as { localStorage: object }).localStorage))).toEqual([]);
    expect(page.url()).not.toContain(t.stack.endpoints.functionKey);
    await page.waitForSelector('text=No customers yet');
    await screen('estate-empty');
  });

  it('onboards a customer from its configuration document and watches its first sync finish', async () => {
    const demo = t.stack.demo!;
    const doc = demoCustomerConfiguration({ tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` }, { directRoutingNumbers: 400, callingPlanPool: 0 });
    // Flow-through off: the first sync leaves every user at customer level, for the overbuild below.
    doc.globalSettings = { ...doc.globalSettings, addSync: 'no', updateSync: 'no' };
    await page.getByRole('link', { name: 'Onboard', exact: true }).click();
    await page.getByLabel('Customer id').fill(CUSTOMER);
    await page.getByLabel('Configuration document (JSON)').fill(JSON.stringify(doc, null, 2));
    await screen('onboard');
    await page.getByRole('button', { name: 'Apply the document' }).click();
    await page.waitForSelector(`text=Applied to ${CUSTOMER}`);
    expect(await page.textContent('main')).toMatch(/first-sync: started/);
    const stored = await t.storage.customers.get(CUSTOMER);
    expect(stored?.value).toMatchObject({ tenantId: demo.tenantId, name: 'Contoso (demo)' });
    expect((await t.storage.sites.list(CUSTOMER)).map((s) => s.value.id).sort()).toEqual(Object.values(DEMO_SITE_IDS).sort());

    await page.getByRole('link', { name: CUSTOMER }).click();
    await page.waitForSelector('h2:text("Run history")');
    // Live progress while it runs (the page polls), then the finished run in the history.
    await page.waitForSelector('td .badge.ok:text("succeeded")', { timeout: 120_000 });
    const runs = await t.api.json<{ value: Array<{ status: string; counts: { users: { added: number } } }> }>('GET', `/customers/${CUSTOMER}/sync-runs`);
    expect(runs.value[0]).toMatchObject({ status: 'succeeded', counts: { users: { added: USERS } } });
    await page.waitForSelector('h3:text("full sync")');
    await screen('customer');
  }, 240_000);

  it('previews an overbuild, runs it, and shows each user where it went', async () => {
    const atCustomer = async () => {
      let count = 0;
      for await (const u of t.storage.users.list(CUSTOMER)) if (u.value.state.kind === 'at-customer') count++;
      return count;
    };
    expect(await atCustomer()).toBe(USERS);
    await page.getByRole('link', { name: 'Provisioning' }).click();
    await page.waitForSelector('h2:text("Overbuild")');
    expect(await page.getByRole('button', { name: 'Run the overbuild' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Preview placement' }).click();
    const preview = page.getByRole('table', { name: /^Preview: \d+ customer-level users/ });
    await preview.waitFor({ timeout: 60_000 });
    expect(await preview.locator('tbody tr').count()).toBe(50);
    // A dry run: nothing moved.
    expect(await atCustomer()).toBe(USERS);
    await screen('provisioning-preview');
    // The tenant has just run out of seats: users whose profile needs a license they lack will need attention.
    for (const sku of t.stack.graph!.control.skus(t.stack.demo!.tenantId)) sku.prepaidUnits.enabled = sku.consumedUnits;
    await page.getByRole('button', { name: 'Run the overbuild' }).click();
    await page.waitForSelector('[data-testid="overbuild-result"] .badge:text("Completed")', { timeout: 180_000 });
    const moved = Number(await page.locator('[data-testid="overbuild-result"] li:has-text("moved") .big').textContent());
    expect(moved).toBeGreaterThan(0);
    await screen('provisioning-overbuild');
    const stayed = Number(await page.locator('[data-testid="overbuild-result"] li:has-text("stayed at customer") .big').textContent());
    expect(await atCustomer()).toBe(stayed);
  }, 240_000);

  it('finds a user that needs attention from the estate and reads why', async () => {
    // Provisioning of the moved users goes on after the overbuild: wait until storage has one to find.
    const needy = await waitUntil('a user needing attention', async () => {
      for await (const u of t.storage.users.list(CUSTOMER)) if (u.value.state.kind === 'needs-attention') return u.value;
      return undefined;
    });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Estate' }).click();
    await page.waitForSelector('caption:text("Customers")');
    await screen('estate');
    await page.getByRole('link', { name: /need(s)? attention users of/ }).click();
    await page.waitForSelector('h1:text("Users")');
    expect(page.url()).toContain('state=needs-attention');
    await screen('users');
    await page.locator('tbody th a').first().click();
    await page.waitForSelector('[data-testid="state-reason"]');
    const shownId = decodeURIComponent(page.url().split('/users/')[1]);
    const stored = (await t.storage.users.get(CUSTOMER, shownId))!.value;
    expect(stored.state.kind).toBe('needs-attention');
    expect(await page.textContent('[data-testid="state-reason"]')).toBe((stored.state as { reason: string }).reason);
    expect(needy.state.kind).toBe('needs-attention');
    await page.waitForSelector('[data-testid="placement-verdict"]');
    await page.waitForSelector('ol.timeline li');
    await screen('user');
  }, 240_000);

  it('moves one user with Quick User and follows its transaction step by step', async () => {
    let target: string | undefined;
    for await (const u of t.storage.users.list(CUSTOMER)) if (u.value.state.kind === 'at-customer' && !u.value.removed) target = u.value.userId;
    expect(target).toBeDefined();
    await page.goto(`${base}/customers/${CUSTOMER}/provisioning`);
    await page.getByLabel('User id').fill(target!);
    await page.getByLabel('Site for the user').selectOption(DEMO_SITE_IDS.SEA);
    await page.getByLabel('Quick Add Group').selectOption('collaboration');
    await page.getByRole('button', { name: 'Move and provision' }).click();
    const outcome = await page.waitForSelector('p.notice:text-matches("Transaction .*: (succeeded|failed|partially-failed)")', { timeout: 120_000 });
    const [, id, result] = /^Transaction (\S+): (\S+)$/.exec((await outcome.textContent())!.trim())!;
    const stored = (await t.storage.transactions.get(CUSTOMER, id))!.value;
    expect(stored).toMatchObject({ kind: 'quick-user', userId: target, outcome: result });
    expect(await page.locator('ol.steps li').count()).toBe(stored.steps.length);
    expect((await t.storage.users.get(CUSTOMER, target!))!.value.state.kind).not.toBe('at-customer');
    await screen('provisioning-quick-user');
  }, 240_000);

  it('discards some held deletions, allows some, then all: each hold shown with its run and age, checked in storage', async () => {
    const control = t.stack.graph!.control;
    const tenantId = t.stack.demo!.tenantId;
    const victims = [...control.state(tenantId).byId.values()].filter((r) => r.deletedDateTime === null).map((r) => r.u.id).sort().slice(0, 30);
    for (const id of victims) control.hardDeleteUser(tenantId, id);
    // Graph notifies each deletion; past the customer's threshold the guard holds the rest for an operator.
    await control.notificationsIdle();
    const held = await waitUntil('the guard to hold the deletions past the threshold', async () => {
      const h = await t.api.json<{ value: Array<{ id: string; runId: string }> }>('GET', `/customers/${CUSTOMER}/held-deletions`);
      let gone = 0;
      for (const id of victims) if (!(await t.storage.users.get(CUSTOMER, id))) gone++;
      return h.value.length > 5 && h.value.length + gone === victims.length ? h.value : undefined;
    });
    await page.goto(`${base}/customers/${CUSTOMER}`);
    await page.getByRole('link', { name: 'Held deletions' }).click();
    await page.waitForSelector(`caption:text("${held.length} held deletions")`);
    // Each hold says which run held it and for how long.
    const firstRow = page.locator('tbody tr').first();
    expect(await firstRow.locator('td').nth(4).textContent()).toBe('change notifications');
    expect(await firstRow.locator('td time').last().textContent()).toMatch(/^\d+ (s|min)$/);
    await screen('held-deletions');
    for (const h of held) expect(await t.storage.users.get(CUSTOMER, h.id)).toBeDefined();

    // Discard two: nothing deleted, no longer held.
    const [kept1, kept2, gone1, gone2, gone3] = held.map((h) => h.id);
    for (const id of [kept1, kept2]) await page.getByLabel(`Pick ${id}`).check();
    await page.getByRole('button', { name: 'Discard selected (2)' }).click();
    await page.waitForSelector('text=Discarded 2 hold(s); nothing was deleted.');
    await page.waitForSelector(`caption:text("${held.length - 2} held deletions")`);
    for (const id of [kept1, kept2]) expect(await t.storage.users.get(CUSTOMER, id), id).toBeDefined();

    // Allow three: Microsoft no longer shows them, so they go.
    for (const id of [gone1, gone2, gone3]) await page.getByLabel(`Pick ${id}`).check();
    await page.getByRole('button', { name: 'Allow selected (3)' }).click();
    await page.waitForSelector('text=Applied: 3 users.');
    await page.waitForSelector(`caption:text("${held.length - 5} held deletions")`);
    for (const id of [gone1, gone2, gone3]) expect(await t.storage.users.get(CUSTOMER, id), id).toBeUndefined();

    // Allow all: the rest.
    await page.getByRole('button', { name: 'Allow all' }).click();
    await page.waitForSelector(`text=Applied: ${held.length - 5} users.`);
    await page.waitForSelector('text=Nothing is held');
    for (const id of victims) if (id !== kept1 && id !== kept2) expect(await t.storage.users.get(CUSTOMER, id), id).toBeUndefined();
    expect((await t.api.json<{ value: unknown[] }>('GET', `/customers/${CUSTOMER}/held-deletions`)).value).toEqual([]);
  }, 240_000);

  it('replays a dead-lettered provisioning message', async () => {
    await sender(QUEUES.userProvisioning.name, t.stack.settings).sendMessages({ messageId: 'console-poison', body: { customerId: CUSTOMER, hello: 'world' }, contentType: 'application/json' });
    const dlq = `${QUEUES.userProvisioning.name}/$DeadLetterQueue`;
    await waitUntil('the message to be dead-lettered', async () => (t.stack.broker.stats(dlq).active >= 1 ? true : undefined));
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dead letters' }).click();
    await page.waitForSelector('code:text("console-poison")');
    await screen('dead-letters');
    await page.getByLabel('Pick console-poison').check();
    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    await page.waitForSelector('text=Replayed 1 message(s)');
    // The original left the dead-letter queue; still poison, it comes back under its replay id.
    const listed = await waitUntil('the replayed message to be dead-lettered again', async () => {
      const r = await t.api.json<{ messages: Array<{ messageId: string }> }>('GET', '/dead-letters/user-provisioning');
      return r.messages.some((m) => m.messageId.startsWith('console-poison~replay~')) ? r.messages : undefined;
    });
    expect(listed.map((m) => m.messageId)).not.toContain('console-poison');
  });

  it('tests criteria before saving them, and shows the API\'s validation errors at the field', async () => {
    const base = `${t.stack.endpoints.hostUrl}/console/customers/${CUSTOMER}/configuration`;
    await page.goto(`${base}/sites`);
    await page.getByRole('button', { name: /^Edit / }).first().click();
    await page.waitForSelector('h2:text("Site defaults")');
    await screen('configuration-sites');
    await page.goto(`${base}/criteria`);
    await page.getByRole('button', { name: 'Edit Office by city' }).click();
    await waitUntil('the criteria to load', async () => ((await page.getByLabel('Id').inputValue()) === 'office-by-city' ? true : undefined));
    await page.getByLabel('Resolve macros for site').selectOption(DEMO_SITE_IDS.SEA);
    await page.getByRole('button', { name: 'Test these criteria' }).click();
    const result = await page.waitForSelector('[data-testid="criteria-test-result"]');
    let seattle = 0;
    let total = 0;
    for await (const u of t.storage.users.list(CUSTOMER)) {
      if (u.value.removed) continue;
      total++;
      if (String(u.value.attributes.city ?? '').toLowerCase() === 'seattle') seattle++;
    }
    expect(await result.textContent()).toBe(`${seattle} of ${total} users match.`);
    // A catastrophic regex is refused by the API and the error is shown at the value's field.
    const value = page.getByLabel('Value').first();
    await page.getByLabel('Condition').first().selectOption('Regex Search');
    await value.fill('(a+)+$');
    await page.getByRole('button', { name: 'Save criteria' }).click();
    await page.waitForSelector('.field.invalid small.field-error');
    expect(await value.getAttribute('aria-invalid')).toBe('true');
    const stored = (await t.storage.modelFilterCriteria.get(CUSTOMER, 'office-by-city'))!.value;
    expect(stored.criteria[0].condition).not.toBe('Regex Search');
    await screen('configuration-criteria');
    for (const section of ['quick-add-groups', 'user-profiles', 'flow-through', 'settings', 'document']) {
      await page.goto(`${base}/${section}`);
      await page.waitForSelector('section.panel');
      await screen(`configuration-${section}`);
    }
  });

  it('shows the number inventory by range and status, and reserves a number and releases it', async () => {
    await page.goto(`${t.stack.endpoints.hostUrl}/console/customers/${CUSTOMER}/numbers`);
    await page.waitForSelector('svg.rangebar rect');
    const free = (await t.storage.numbers.listAll(CUSTOMER)).map((e) => e.value).find((e) => e.status === 'Available' && e.siteId)!;
    const stored = async () => (await t.storage.numbers.get({ customerId: CUSTOMER, siteId: free.siteId }, free.number))!.value;
    await page.getByLabel('Number', { exact: true }).fill(free.number);
    await page.getByLabel('Inventory').selectOption(free.siteId!);
    await page.getByLabel('Action').selectOption('reserve');
    await page.getByLabel('Reason').fill('kept for the new reception desk');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForSelector(`text=${free.number} is Reserved (kept for the new reception desk).`);
    expect(await stored()).toMatchObject({ status: 'Reserved', reason: 'kept for the new reception desk' });
    await screen('numbers');
    // A number a user holds is refused, with the API's reason, and stays as it was.
    const used = (await t.storage.numbers.listAll(CUSTOMER)).map((e) => e.value).find((e) => e.status === 'Used' && e.siteId && e.userId)!;
    await page.getByLabel('Number', { exact: true }).fill(used.number);
    await page.getByLabel('Inventory').selectOption(used.siteId!);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForSelector('[role="alert"]');
    expect((await t.storage.numbers.get({ customerId: CUSTOMER, siteId: used.siteId }, used.number))!.value).toMatchObject({ status: 'Used', userId: used.userId });
    // Released: Available at once.
    await page.getByLabel('Number', { exact: true }).fill(free.number);
    await page.getByLabel('Inventory').selectOption(free.siteId!);
    await page.getByLabel('Action').selectOption('release');
    await page.getByLabel('Reason').fill('');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForSelector(`text=${free.number} is Available.`);
    expect((await stored()).status).toBe('Available');
  });

  it('is usable on a tablet', async () => {
    await page.setViewportSize({ width: 820, height: 1180 });
    await page.goto(`${t.stack.endpoints.hostUrl}/console/`);
    await page.waitForSelector('caption:text("Customers")');
    await checkAccessibility('estate on a tablet');
    await page.screenshot({ path: path.join(SHOTS, 'estate-tablet.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows the API\'s problem when a page cannot load, and a page for an unknown address', async () => {
    await page.goto(`${t.stack.endpoints.hostUrl}/console/customers/nobody/users`);
    await page.waitForSelector('.state.error:has-text("Could not load users")');
    expect(await page.textContent('.state.error')).toContain('404');
    await screen('error');
    await page.goto(`${t.stack.endpoints.hostUrl}/console/no/such/page`);
    await page.waitForSelector('h1:text("Not found")');
  });

  it('violated no content security policy and threw no error on any page', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
