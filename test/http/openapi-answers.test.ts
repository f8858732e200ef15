/**
 * The OpenAPI document describes every field the API returns: a customer is onboarded, synced and
 * provisioned, then every GET route the document lists (and the writes the scenario makes) is called for
 * real, and each answer is validated against the document's schema for its route and status, where objects
 * are closed (`additionalProperties: false`), so a field the schema does not name fails the test.
 */
import Ajv2020 from 'ajv/dist/2020';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDemoCustomer, DEMO_SITE_IDS } from '../../local/demo/customer';
import { waitFor } from '../../local/demo/scenario';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import { startTestStack, waitForRun, type RunView, type TestStack } from '../support/stack';

type Schema = Record<string, unknown>;
interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const CUSTOMER = 'answers';
let t: TestStack;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const checked: string[] = [];
const problems: string[] = [];

/** Calls the API and checks the answer against the document: the operation is found by method and template. */
async function call(method: string, template: string, path: string, body?: unknown): Promise<unknown> {
  const res = await t.api.request(method, path, body);
  const text = await res.text();
  const op = doc.paths[`/api/${template}`]?.[method.toLowerCase()];
  if (!op) {
    problems.push(`${method} /api/${template} is not in the document`);
    return undefined;
  }
  const response = op.responses[String(res.status)];
  if (!response) {
    problems.push(`${op.operationId}: status ${res.status} is not documented (${text.slice(0, 200)})`);
    return undefined;
  }
  const media = res.headers.get('content-type')?.split(';')[0] ?? '';
  const schema = response.content?.[media]?.schema;
  if (!text) return undefined;
  const value = JSON.parse(text) as unknown;
  if (!schema) {
    problems.push(`${op.operationId} ${res.status}: answers ${media} that the document does not describe`);
    return value;
  }
  const validate = ajv.compile({ ...schema, components: doc.components });
  if (!validate(value)) {
    const found = new Set((validate.errors ?? []).map((e) => `${e.instancePath.replace(/\/\d+(?=\/|$)/g, '/*')} ${e.message}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`));
    problems.push(`${op.operationId} ${res.status}: ${[...found].join('; ')}`);
  }
  checked.push(`${method} /api/${template}`);
  return value;
}

beforeAll(async () => {
  t = await startTestStack({ users: 50, seed: 'answers' });
  const demo = t.stack.demo!;
  await applyDemoCustomer(
    { apiUrl: t.stack.endpoints.apiUrl, functionKey: t.stack.endpoints.functionKey },
    { tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` },
    { customerId: CUSTOMER },
  );
  const first = await waitFor('the first run', async () => (await t.api.json<{ value: RunView[] }>('GET', `/customers/${CUSTOMER}/sync-runs?top=1`)).value[0]);
  await waitForRun(t, CUSTOMER, first.runId, 180_000);
  let settled = 0;
  await waitFor('provisioning to settle', async () => {
    settled = t.stack.broker.activeIn(PROVISIONING_QUEUES) === 0 ? settled + 1 : 0;
    return settled >= 3 ? true : undefined;
  }, 240_000, 250);
  doc = await t.api.json<Doc>('GET', '/openapi.json');
}, 300_000);

afterAll(async () => {
  await t?.stop();
});

describe('the OpenAPI document describes the real answers', () => {
  it('every GET route, called on a synced and provisioned customer, answers what its schema says', async () => {
    const c = CUSTOMER;
    const site = DEMO_SITE_IDS.SEA;
    // Writes whose answers are documented too, and which give the ids the reads below need.
    await call('POST', 'customers/{customerId}/subscriptions/repair', `/customers/${c}/subscriptions/repair`);
    const overbuild = (await call('POST', 'customers/{customerId}/overbuilds', `/customers/${c}/overbuilds`, { siteId: site })) as { id: string };
    const sync = (await call('POST', 'customers/{customerId}/syncs/{kind}/run', `/customers/${c}/syncs/delta/run`)) as { runId: string };
    await waitForRun(t, c, sync.runId, 120_000);
    const transactions = (await call('GET', 'customers/{customerId}/transactions', `/customers/${c}/transactions`)) as { items: Array<{ id: string }> };
    expect(transactions.items.length).toBeGreaterThan(0);

    const users = (await call('GET', 'customers/{customerId}/users', `/customers/${c}/users?top=1`)) as { items: Array<{ userId: string }> };
    const ids: Record<string, string> = {
      customerId: c,
      userId: users.items[0].userId,
      siteId: site,
      runId: sync.runId,
      transactionId: transactions.items[0].id,
    };
    const idFor: Record<string, string> = {
      sites: site,
      criteria: 'office-by-city',
      'quick-add-groups': 'collaboration',
      'user-profiles': 'engineer',
      overbuilds: overbuild.id,
    };
    const templates = Object.entries(doc.paths)
      .filter(([, ops]) => ops.get)
      .map(([p]) => p.replace(/^\/api\//, ''));
    for (const template of templates) {
      const path = template.replace(/\{(\w+)\}/g, (_m, name: string, offset: number) => {
        if (name !== 'id') return encodeURIComponent(ids[name]);
        const collection = template.slice(0, offset).split('/').filter(Boolean).pop()!;
        return encodeURIComponent(idFor[collection]);
      });
      expect(path, template).not.toMatch(/undefined/);
      await call('GET', template, `/${path}`);
    }
    // The catalog reads, with their filter, and a run, a user page and a problem answer.
    await call('GET', 'customers/{customerId}/policies', `/customers/${c}/policies?type=TeamsCallingPolicy`);
    await call('GET', 'customers/{customerId}/users', `/customers/${c}/users?state=provisioned&top=5`);
    await call('GET', 'customers/{customerId}/sync-runs/{runId}', `/customers/${c}/sync-runs/nosuchrun`);

    expect(problems).toEqual([]);
    expect(new Set(checked).size).toBeGreaterThanOrEqual(templates.length);
  }, 300_000);
});
