/**
 * The webhook's work on the request path: answer Graph's validation handshake, check each notification
 * against its subscription (clientState in constant time, tenant against the customer's), queue what
 * passes, count what does not. No Graph call and, once warm, no storage read: Graph wants a 2xx within
 * 3 seconds and flags endpoints that are slow.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain';
import { clientStateMatches } from './clientState';
import { ActivityCounters, UNKNOWN_SUBSCRIPTION } from './activity';
import type { SubscriptionDirectory } from './directory';
import { LIFECYCLE_EVENTS, MAX_VALIDATION_TOKEN_CHARS, type LifecycleEvent, type NotificationMessage, type QueuedNotification, type SubscriptionRecord } from './model';
import type { NotificationQueue } from './ports';

/** At most this many notifications in one POST (Graph sends far fewer). */
export const MAX_NOTIFICATIONS_PER_POST = 1_000;

export class NotificationBodyError extends Error {
  override name = 'NotificationBodyError';
}

export type ValidationAnswer = { ok: true; token: string } | { ok: false; reason: string };

/**
 * The handshake: the token as Graph sent it, decoded once (URLSearchParams already decoded it). It is
 * answered as text/plain, never HTML, exactly as received: Graph compares it byte for byte.
 */
export function validationAnswer(token: string | null): ValidationAnswer | undefined {
  if (token === null) return undefined;
  if (token.length === 0) return { ok: false, reason: 'The validationToken is empty.' };
  if (token.length > MAX_VALIDATION_TOKEN_CHARS) return { ok: false, reason: `The validationToken is longer than ${MAX_VALIDATION_TOKEN_CHARS} characters.` };
  return { ok: true, token };
}

export interface IntakeDeps {
  subscriptions: SubscriptionDirectory;
  counters: ActivityCounters;
  queue: NotificationQueue;
}

export interface IntakeResult {
  accepted: number;
  dropped: number;
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, max = 400): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined);

/** `{"value": [...]}` or a 400. Items are checked one by one: a bad item is dropped, not the POST. */
export function notificationItems(body: unknown): unknown[] {
  if (!isRecord(body) || !Array.isArray(body.value)) throw new NotificationBodyError('The body must be a change notification collection: {"value": [ ... ]}.');
  if (body.value.length > MAX_NOTIFICATIONS_PER_POST) throw new NotificationBodyError(`At most ${MAX_NOTIFICATIONS_PER_POST} notifications per request.`);
  return body.value;
}

/** The tenant a notification names: `tenantId`, or `organizationId` as some payloads carry. */
function tenantOf(item: Json): string | undefined {
  const data = isRecord(item.resourceData) ? item.resourceData : {};
  return str(item.tenantId, 100) ?? str(item.organizationId, 100) ?? str(data.organizationId, 100);
}

/** The user a change is about: `resourceData.id`, else the id at the end of `resource` (`Users/{id}`). */
function userOf(item: Json): string | undefined {
  const data = isRecord(item.resourceData) ? item.resourceData : {};
  const fromData = str(data.id, 200);
  if (fromData) return fromData;
  const match = /^\/?users\/([^/?#]{1,200})$/i.exec(str(item.resource) ?? '');
  return match?.[1];
}

/** The clientState is a secret, not content: left out of the fingerprint. */
const NOT_CONTENT: ReadonlySet<string> = new Set(['clientState']);

/** Same subscription, resource, change and content: same id, so Graph's repeats are dropped by the queue. */
export function notificationMessageId(subscriptionId: string, resource: string, kind: string, item: unknown): string {
  const content = createHash('sha256').update(canonicalJson(item, NOT_CONTENT)).digest('base64url');
  const digest = createHash('sha256').update(`${subscriptionId}\n${resource}\n${kind}\n${content}`).digest('base64url');
  return `gn:${digest}`;
}

/** Checks one notification; undefined when it must be dropped. */
export function checkNotification(item: unknown, record: SubscriptionRecord | undefined, receivedAt: string): QueuedNotification | undefined {
  if (!isRecord(item) || !record) return undefined;
  if (!clientStateMatches(item.clientState, record.clientStateHash)) return undefined;
  const tenant = tenantOf(item);
  if (!tenant || tenant.toLowerCase() !== record.tenantId.toLowerCase()) return undefined;
  const base = { customerId: record.customerId, subscriptionId: record.subscriptionId, receivedAt };
  let body: NotificationMessage;
  if (item.lifecycleEvent !== undefined) {
    if (!(LIFECYCLE_EVENTS as readonly unknown[]).includes(item.lifecycleEvent)) return undefined;
    body = { kind: 'lifecycle', ...base, event: item.lifecycleEvent as LifecycleEvent };
    return { messageId: notificationMessageId(record.subscriptionId, record.resource, `lifecycle:${body.event}`, item), body };
  }
  const changeType = item.changeType;
  if (changeType !== 'updated' && changeType !== 'deleted' && changeType !== 'created') return undefined;
  const userId = userOf(item);
  if (!userId) return undefined;
  body = { kind: 'change', ...base, userId, changeType };
  return { messageId: notificationMessageId(record.subscriptionId, str(item.resource) ?? userId, changeType, item), body };
}

/**
 * Checks and queues one POST's notifications. Throws NotificationBodyError for a malformed body; a
 * failure to queue propagates, so the caller answers 5xx and Graph delivers again.
 */
export async function acceptNotifications(deps: IntakeDeps, body: unknown, receivedAt: Date): Promise<IntakeResult> {
  const items = notificationItems(body);
  const at = receivedAt.toISOString();
  const accepted: QueuedNotification[] = [];
  const counts = new Map<string, { accepted: number; dropped: number }>();
  const count = (id: string, field: 'accepted' | 'dropped') => {
    const c = counts.get(id) ?? { accepted: 0, dropped: 0 };
    c[field]++;
    counts.set(id, c);
  };
  for (const item of items) {
    const subscriptionId = isRecord(item) ? str(item.subscriptionId, 200) : undefined;
    const record = subscriptionId ? await deps.subscriptions.lookup(subscriptionId) : undefined;
    const message = checkNotification(item, record, at);
    if (message) {
      accepted.push(message);
      count(record!.subscriptionId, 'accepted');
    } else count(record?.subscriptionId ?? UNKNOWN_SUBSCRIPTION, 'dropped');
  }
  if (accepted.length > 0) await deps.queue.send(accepted);
  let total = 0;
  for (const [id, c] of counts) {
    deps.counters.add(id, c, c.accepted > 0 ? { notificationAt: at } : {});
    total += c.accepted;
  }
  return { accepted: total, dropped: items.length - total };
}
