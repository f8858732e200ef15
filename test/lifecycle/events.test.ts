/**
 * User state change events on the local stack: every change a provisioning pass makes is published once on
 * the "user-events" queue as a CloudEvent whose id is the message id; a repeat of the same cause (a
 * redelivered message, a replayed one) publishes nothing new, and a repeated publication is dropped by the
 * queue's duplicate detection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceBusUserEvents } from '../../shared/adapters/servicebus/userEvents';
import type { UserEvent } from '../../shared/ports/events';
import { seedCustomer, startWorld, syncAdd, type World } from '../provisioning/world';
import { EventReader } from './events';

const CUSTOMER = 'events';
let world: World;
let reader: EventReader;

beforeAll(async () => {
  world = await startWorld({ users: 40, seed: 'events' });
  await seedCustomer(world, { customerId: CUSTOMER, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', addSyncCriteriaId: 'ft' } });
  reader = new EventReader(world.stack.settings);
}, 120_000);

afterAll(async () => {
  await reader?.close();
  await world?.stop();
});

describe('user state change events', () => {
  it('one event per state change, as a CloudEvent whose id is the message id; a repeat of the cause publishes nothing', async () => {
    const at = new Date().toISOString();
    const ids = world.users.map((u) => u.id);
    await world.queue.send(syncAdd(CUSTOMER, ids, at));
    await world.idle(120_000);
    const events = await reader.drain();

    const changed: string[] = [];
    for await (const { value } of world.storage.users.list(CUSTOMER)) if (value.state.kind !== 'at-customer') changed.push(value.userId);
    expect(changed.length).toBeGreaterThan(5);
    // Exactly the users whose state changed, once each, with the state they reached.
    expect(events.map((e) => e.body.data.userId).sort()).toEqual(changed.sort());
    for (const e of events) {
      const record = (await world.storage.users.get(CUSTOMER, e.body.data.userId))!.value;
      expect(e.messageId).toBe(e.body.id);
      expect(e.contentType).toMatch(/^application\/cloudevents\+json/);
      expect(e.body.specversion).toBe('1.0');
      expect(e.body.type).toBe(`sitesync.user.${record.state.kind === 'at-site' ? 'placed' : record.state.kind}`);
      expect(e.subject).toBe(e.body.type);
      expect(e.body.source).toBe(`/customers/${CUSTOMER}`);
      expect(e.body.data.from.state).toBe('at-customer');
      expect(e.body.data.to).toMatchObject({ state: record.state.kind, ...('siteId' in record.state ? { siteId: record.state.siteId } : {}) });
      expect(e.body.data.transactionId).toBe(record.lastTransactionId);
      if (record.number) expect(e.body.data.number).toBe(record.number);
    }

    // The same messages again (Service Bus redelivery, an operator's replay under a new id): nothing new.
    await world.queue.send(syncAdd(CUSTOMER, ids, at).map((m) => ({ ...m, attempt: 1 })));
    await world.idle(120_000);
    expect(await reader.drain()).toEqual([]);
  }, 240_000);

  it('a publication repeated (a crash between publishing and finishing) reaches the queue once', async () => {
    const publisher = new ServiceBusUserEvents(world.stack.settings);
    const event: UserEvent = {
      id: 'user-repeat-test', type: 'offboarded', customerId: CUSTOMER, userId: 'u1', at: new Date().toISOString(),
      from: { state: 'provisioned', siteId: 's' }, to: { state: 'at-customer' }, cause: 'offboard',
    };
    await publisher.publish([event]);
    await publisher.publish([event]);
    await publisher.publish([{ ...event, id: 'user-repeat-test-2' }]);
    const got = await reader.drain();
    expect(got.map((e) => e.messageId)).toEqual(['user-repeat-test', 'user-repeat-test-2']);
  });
});
