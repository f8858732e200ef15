/**
 * The operator's console in a real browser (Debian's Chromium through playwright-core) against the whole
 * local stack: each journey is done on the page as an operator would, then checked on the page and in
 * storage. Every screen is checked with axe-core (no serious or critical violation) and photographed into
 * docs/console/. One browser and one stack for the file, a small demo tenant.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../local/cli/console';
import { demoCustomerConfiguration, DEMO_SITE_IDS } from '../../local/demo/customer';
import { PROJECT_ROOT } from '../../local/host/load';
import { launchChromium, type LaunchedBrowser } from '../support/chromium';
import { startTestStack, type TestStack } from '../support/stack';

const CUSTOMER = 'fabrikam';
const USERS = 120;
const SHOTS = path.join(PROJECT_ROOT, 'docs', 'console');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let t: TestStack;
let chrome: LaunchedBrowser;
let page: Page;
let base: string;
const cspViolations: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
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
    const doc = demoCustomerConfiguration({ tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` }, { directRoutingNumbers: 400, callingPlanPool: 2 });
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
  });
});
