import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGraphEmulator, type GraphEmulator, type TenantSummary } from '../../local/graph-emulator/index';
import { EmulatorClient } from './client';

interface Received { path: string; query: URLSearchParams; body: string }

/** A subscriber: echoes validation tokens unless told to fail, records every notification. */
function subscriber(): Promise<{ url: string; received: Received[]; failValidation: { on: boolean }; close(): Promise<void> }> {
  const received: Received[] = [];
  const failValidation = { on: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const token = url.searchParams.get('validationToken');
      if (token !== null) {
        if (failValidation.on) {
          res.writeHead(500).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
        return;
      }
      received.push({ path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://localhost:${port}`, received, failValidation,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

let emu: GraphEmulator;
let tenant: TenantSummary;
let http: EmulatorClient;
let g: EmulatorClient;
let hook: Awaited<ReturnType<typeof subscriber>>;

beforeAll(async () => {
  emu = await startGraphEmulator({ tenants: [{ seed: 'subs', users: 40 }] });
  tenant = emu.tenants[0];
  http = new EmulatorClient(emu.caPem).withHeaders({ 'x-emulator-key': emu.controlKey });
  const app = tenant.apps[0];
  const cred = new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret, {
    authorityHost: emu.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: emu.caPem },
  });
  g = http.withToken((await cred.getToken('https://graph.microsoft.com/.default')).token);
  hook = await subscriber();
});

afterAll(async () => {
  http?.close();
  await emu?.stop();
  await hook?.close();
});

const inMinutes = (m: number): string => new Date(Date.now() + m * 60_000).toISOString();

describe('subscriptions and change notifications', () => {
  it('validates the notification URL, then delivers user changes and lifecycle events', async () => {
    const create = await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, {
      changeType: 'updated,deleted', notificationUrl: `${hook.url}/notify?customer=c1`, lifecycleNotificationUrl: `${hook.url}/lifecycle`,
      resource: 'users', expirationDateTime: inMinutes(60), clientState: 'secret-state',
    });
    expect(create.status).toBe(201);
    const sub = create.body;
    expect(sub).toMatchObject({ resource: 'users', changeType: 'updated,deleted', clientState: 'secret-state' });

    const t = tenant.tenantId;
    const target = emu.control.state(t).slots[3]!.u.id;
    emu.control.updateUser(t, target, { department: 'Legal' });
    await emu.control.notificationsIdle();
    expect(hook.received).toHaveLength(1);
    const note = JSON.parse(hook.received[0].body).value[0];
    expect(hook.received[0].query.get('customer')).toBe('c1');
    expect(note).toMatchObject({
      subscriptionId: sub.id, clientState: 'secret-state', changeType: 'updated', tenantId: t,
      resourceData: { id: target, '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${target}` },
      subscriptionExpirationDateTime: sub.expirationDateTime,
    });

    emu.control.hardDeleteUser(t, target);
    const added = emu.control.addUser(t, { displayName: 'Fresh' });
    await emu.control.notificationsIdle();
    const all = hook.received.slice(1).flatMap((r) => JSON.parse(r.body).value as Array<{ changeType: string; resourceData: { id: string } }>);
    expect(all.map((n) => [n.changeType, n.resourceData.id])).toEqual([['deleted', target], ['updated', added.id]]);

    await emu.control.triggerLifecycle(sub.id, 'reauthorizationRequired');
    const life = hook.received.find((r) => r.path === '/lifecycle')!;
    expect(JSON.parse(life.body).value[0]).toMatchObject({ subscriptionId: sub.id, lifecycleEvent: 'reauthorizationRequired', tenantId: t });
    expect(emu.control.subscriptions(t)[0].reauthorizationRequired).toBe(true);
    expect((await g.send('POST', `${emu.graphBaseUrl}/subscriptions/${sub.id}/reauthorize`)).status).toBe(204);
    expect(emu.control.subscriptions(t)[0].reauthorizationRequired).toBe(false);

    const renewed = await g.send('PATCH', `${emu.graphBaseUrl}/subscriptions/${sub.id}`, { expirationDateTime: inMinutes(41_000) });
    expect(renewed.status).toBe(200);
    const tooLong = await g.send('PATCH', `${emu.graphBaseUrl}/subscriptions/${sub.id}`, { expirationDateTime: inMinutes(41_800) });
    expect(tooLong.status).toBe(400);

    const listed = await http.get(`${emu.url}/_control/subscriptions?tenantId=${t}`);
    expect(listed.body.value.map((s: { id: string }) => s.id)).toEqual([sub.id]);
    expect((await g.send('DELETE', `${emu.graphBaseUrl}/subscriptions/${sub.id}`)).status).toBe(204);
    expect((await g.get(`${emu.graphBaseUrl}/subscriptions`)).body.value).toEqual([]);
    expect(emu.counters.snapshot().notifications.delivered).toBe(2);
  });

  it('refuses failed handshakes, unsupported change types and lifetimes over the maximum', async () => {
    const base = { changeType: 'updated', notificationUrl: `${hook.url}/notify`, resource: 'users', expirationDateTime: inMinutes(30) };
    hook.failValidation.on = true;
    const failed = await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, base);
    hook.failValidation.on = false;
    expect(failed.status).toBe(400);
    expect((await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, { ...base, changeType: 'created' })).body.error.message).toBe("Invalid 'changeType' attribute: 'created'.");
    expect((await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, { ...base, expirationDateTime: inMinutes(41_761) })).status).toBe(400);
    expect((await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, { ...base, notificationUrl: 'http://example.com/hook' })).status).toBe(400);
  });

  it('sends subscriptionRemoved and drops the subscription', async () => {
    const create = await g.send('POST', `${emu.graphBaseUrl}/subscriptions`, {
      changeType: 'updated', notificationUrl: `${hook.url}/n2`, lifecycleNotificationUrl: `${hook.url}/l2`, resource: 'users', expirationDateTime: inMinutes(60),
    });
    expect(create.status).toBe(201);
    const res = await http.send('POST', `${emu.url}/_control/subscriptions/${create.body.id}/lifecycle`, { event: 'subscriptionRemoved' });
    expect(res.status).toBe(204);
    expect(hook.received.some((r) => r.path === '/l2' && JSON.parse(r.body).value[0].lifecycleEvent === 'subscriptionRemoved')).toBe(true);
    expect(emu.control.subscriptions(tenant.tenantId)).toEqual([]);
  });
});
