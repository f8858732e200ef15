/**
 * A local AMQP 1.0 broker that the real `@azure/service-bus` SDK talks to, standing in for the Service Bus
 * emulator (which needs Docker). It speaks the parts of the Service Bus protocol the SDK relies on:
 * SASL ANONYMOUS and the CBS put-token exchange, queue senders (single messages and batches), peek-lock and
 * receive-and-delete receivers with credit drain, link settlement, and the `$management` operations
 * (renew-lock, peek-message, schedule-message, cancel-scheduled-message, update-disposition). Every link
 * needs a valid SAS token for its entity first, as in Service Bus: the key name and the signature are checked.
 * What it does not support (sessions, topics, transactions, deferral) is refused with an AMQP error.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Receiver, type Sender } from 'rhea';
import type { Clock } from '../host/clock';
import { SystemClock } from '../host/clock';
import { Deque } from './deque';
import { parseIsoDuration } from './duration';
import { QueueEntity, type EntityStats, type LockEnd, type MessageState, type MessageLock, type Settlement, type StoredMessage } from './entity';
import type { BrokerQueueSpec } from './queues';
import { QueueJournal } from '../persistence/queues';

export interface BrokerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  queues: readonly BrokerQueueSpec[];
  clock?: Clock;
  /** Advertised on sender links; the SDK sizes message batches by it. Default 256 KiB (Standard tier). */
  maxMessageSizeBytes?: number;
  /** Protocol problems worth knowing about (refused links, unknown operations). */
  log?: (message: string) => void;
  /**
   * The namespace's shared access policy. As in Service Bus, a client must put a SAS token signed with this
   * key, naming this key, for an entity before it may attach a link to it. Default: a random key.
   */
  sharedAccessKey?: { keyName: string; key: string };
  /**
   * Keep the queues in this folder, as Service Bus keeps its entities: a message acknowledged to its sender
   * survives a kill of the broker's process; a start picks up what the folder holds.
   */
  persistDir?: string;
}

export interface QueueStats extends EntityStats {
  /** Messages waiting in the queue's dead-letter sub-queue. */
  deadLetterCount: number;
}

export interface LocalBroker {
  /** `Endpoint=sb://127.0.0.1:PORT;SharedAccessKeyName=…;SharedAccessKey=…;UseDevelopmentEmulator=true` */
  readonly connectionString: string;
  readonly port: number;
  /** Counters and depths of a queue, or of `<queue>/$DeadLetterQueue`. */
  stats(queue: string): QueueStats;
  /** Messages waiting, scheduled or locked across these queues: 0 when all of them are idle. */
  activeIn(queues: readonly { name: string }[]): number;
  /**
   * The same messages counted by the value of one application property (`customerId`): a benchmark's
   * view of whose work is still in the queues, at no cost to the app. `states` counts only messages in
   * those states (`available` and `scheduled`: waiting for a receiver, none of them taken yet).
   */
  activeByProperty(queues: readonly { name: string }[], property: string, states?: readonly MessageState[]): Map<string, number>;
  stop(): Promise<void>;
}

export const DEAD_LETTER_SUFFIX = '/$DeadLetterQueue';
const MANAGEMENT_SUFFIX = '/$management';
const CBS_ADDRESS = '$cbs';
/** Message format of a batch: each data section of the body is one encoded message. */
const BATCH_FORMAT = 0x80013700;
const SESSION_FILTER = 'com.microsoft:session-filter';

const Conditions = {
  notFound: 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  notImplemented: 'amqp:not-implemented',
  notAllowed: 'amqp:not-allowed',
  invalidField: 'amqp:invalid-field',
  internal: 'amqp:internal-error',
  lockLost: 'com.microsoft:message-lock-lost',
  deadLetter: 'com.microsoft:dead-letter',
} as const;

/** rhea internals the public typings leave out; names are rhea 3.x's. */
interface LinkInternals {
  local: { attach: { max_message_size?: number; snd_settle_mode?: number; rcv_settle_mode?: number } };
  credit: number;
  session: { outgoing: { next_pending_delivery: number; available(): number } };
  set_drained(drained: boolean): void;
}
interface DeliveryInternals {
  id: number;
  settled: boolean;
  remote_settled: boolean;
  remote_state?: { error?: { condition?: string; description?: string; info?: Record<string, unknown> }; undeliverable_here?: boolean; message_annotations?: Record<string, unknown> };
}
const internals = (link: Sender | Receiver): LinkInternals => link as unknown as LinkInternals;
const deliveryInternals = (delivery: Delivery): DeliveryInternals => delivery as unknown as DeliveryInternals;

interface Consumer {
  link: Sender;
  entity: QueueEntity;
  receiveAndDelete: boolean;
  /** Deliveries handed to rhea that it has not put on the wire yet (they do not count against credit until then). */
  unsent: Deque<DeliveryInternals>;
}

interface LockedDelivery {
  entity: QueueEntity;
  lock: MessageLock;
  consumer: Consumer;
  /** True while the broker itself settles this delivery, so the lock's end hook does not do it twice. */
  settling: boolean;
}

class AmqpFailure extends Error {
  constructor(
    readonly condition: string,
    description: string,
    readonly status = 500,
  ) {
    super(description);
  }
}

export async function startBroker(options: BrokerOptions): Promise<LocalBroker> {
  const broker = new Broker(options);
  await broker.listen();
  return broker;
}

class Broker implements LocalBroker {
  private readonly clock: Clock;
  private readonly entities = new Map<string, QueueEntity>();
  private readonly consumers = new Map<QueueEntity, Consumer[]>();
  private readonly roundRobin = new Map<QueueEntity, number>();
  private readonly lockedDeliveries = new WeakMap<Delivery, LockedDelivery>();
  private readonly container = rhea.create_container({
    id: 'sitesync-local-servicebus',
    // Abandon (modified) and defer (modified, undeliverable-here) must be told apart from release.
    treat_modified_as_released: false,
    autoaccept: false,
  });
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private readonly maxMessageSize: number;
  private readonly log: (message: string) => void;
  private readonly sas: { keyName: string; key: string };
  /** Per connection: the entity paths its SAS tokens cover ('' is the whole namespace), with their expiry in ms. */
  private readonly claims = new WeakMap<Connection, Map<string, number>>();
  private server?: Server;
  private persistence?: QueueJournal;
  private pumping = new Set<QueueEntity>();
  port = 0;

  constructor(private readonly options: BrokerOptions) {
    this.clock = options.clock ?? new SystemClock();
    this.maxMessageSize = options.maxMessageSizeBytes ?? 256 * 1024;
    this.log = options.log ?? (() => undefined);
    this.sas = options.sharedAccessKey ?? { keyName: 'RootManageSharedAccessKey', key: randomBytes(32).toString('base64') };
    for (const spec of options.queues) this.declare(spec);
  }

  get connectionString(): string {
    return `Endpoint=sb://127.0.0.1:${this.port};SharedAccessKeyName=${this.sas.keyName};SharedAccessKey=${this.sas.key};UseDevelopmentEmulator=true`;
  }

  stats(queue: string): QueueStats {
    const entity = this.entities.get(queue.toLowerCase());
    if (!entity) throw new Error(`No queue "${queue}" is declared on the local broker`);
    return { ...entity.stats(), deadLetterCount: entity.deadLetterQueue?.stats().active ?? 0 };
  }

  activeIn(queues: readonly { name: string }[]): number {
    return queues.reduce((sum, q) => sum + this.stats(q.name).active, 0);
  }

  activeByProperty(queues: readonly { name: string }[], property: string, states?: readonly MessageState[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const q of queues) {
      for (const stored of this.entities.get(q.name.toLowerCase())?.messages() ?? []) {
        if (states && !states.includes(stored.state)) continue;
        const value = (stored.message.application_properties as Record<string, unknown> | undefined)?.[property];
        const key = value === undefined ? '' : String(value);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    return counts;
  }

  async listen(): Promise<void> {
    if (this.options.persistDir) this.persistence = await QueueJournal.open(this.options.persistDir, this.entities, this.clock.now());
    this.container.sasl_server_mechanisms.enable_anonymous();
    this.wireEvents();
    const server = this.container.listen({ port: this.options.port ?? 0, host: this.options.host ?? '127.0.0.1' }) as Server;
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      if (server.listening) return resolve();
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const connection of this.connections) {
      try {
        connection.close();
      } catch {
        // Already gone.
      }
    }
    for (const entity of this.entities.values()) entity.dispose();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      // Give the close frames a moment, then cut whatever is left.
      setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, 50).unref();
    });
    await this.persistence?.close(this.clock.now());
  }

  /** Runs `acknowledge` once what the entities reported is on disk (at once when not persisting). */
  private whenDurable(acknowledge: () => void, refuse: (message: string) => void): void {
    if (!this.persistence) return acknowledge();
    this.persistence.durable().then(acknowledge, (err: unknown) => refuse(`the broker could not keep the message: ${err instanceof Error ? err.message : String(err)}`));
  }

  private declare(spec: BrokerQueueSpec): void {
    const lockDurationMs = parseIsoDuration(spec.lockDuration);
    const deadLetterQueue = new QueueEntity({
      path: spec.name + DEAD_LETTER_SUFFIX,
      lockDurationMs,
      maxDeliveryCount: Number.POSITIVE_INFINITY,
      clock: this.clock,
    });
    const queue = new QueueEntity({
      path: spec.name,
      lockDurationMs,
      maxDeliveryCount: spec.maxDeliveryCount,
      duplicateDetectionWindowMs: spec.duplicateDetectionWindow ? parseIsoDuration(spec.duplicateDetectionWindow) : undefined,
      deadLetterQueue,
      clock: this.clock,
    });
    for (const entity of [queue, deadLetterQueue]) {
      if (this.entities.has(entity.path.toLowerCase())) throw new Error(`Queue "${spec.name}" is declared twice`);
      this.entities.set(entity.path.toLowerCase(), entity);
      entity.onAvailable = () => this.pump(entity);
    }
  }

  private entity(address: string | undefined): QueueEntity {
    if (!address) throw new AmqpFailure(Conditions.invalidField, 'The link has no address.', 400);
    const path = address.replace(/^amqps?:\/\/[^/]+\//i, '').replace(/^sb:\/\/[^/]+\//i, '');
    if (/\/subscriptions\//i.test(path)) throw new AmqpFailure(Conditions.notImplemented, `Topics and subscriptions are not supported by the local broker ("${path}").`, 501);
    const entity = this.entities.get(path.toLowerCase());
    if (!entity) throw new AmqpFailure(Conditions.notFound, `The messaging entity '${path}' could not be found.`, 404);
    return entity;
  }

  // ---- links ----

  private wireEvents(): void {
    const c = this.container;
    c.on('connection_open', (context: EventContext) => {
      this.connections.add(context.connection);
    });
    const forget = (context: EventContext): void => {
      this.connections.delete(context.connection);
    };
    c.on('connection_close', forget);
    c.on('disconnected', forget);
    c.on('connection_error', () => undefined);
    c.on('error', (err: unknown) => this.log(`AMQP error: ${err instanceof Error ? err.message : String(err)}`));
    c.on('receiver_open', (context: EventContext) => this.guard(context.receiver!, () => this.onReceiverOpen(context.receiver!)));
    c.on('sender_open', (context: EventContext) => this.guard(context.sender!, () => this.onSenderOpen(context.sender!)));
    c.on('message', (context: EventContext) => this.onMessage(context));
    c.on('sendable', (context: EventContext) => this.onSendable(context.sender!));
    c.on('sender_draining', (context: EventContext) => this.onDraining(context.sender!));
    c.on('sender_close', (context: EventContext) => this.removeConsumer(context.sender!));
    c.on('sender_error', (context: EventContext) => this.removeConsumer(context.sender!));
    c.on('receiver_close', () => undefined);
    c.on('receiver_error', () => undefined);
    c.on('session_error', () => undefined);
    c.on('accepted', (context: EventContext) => this.onOutcome(context.delivery!, { kind: 'complete' }));
    c.on('released', (context: EventContext) => this.onOutcome(context.delivery!, { kind: 'abandon' }));
    c.on('modified', (context: EventContext) => {
      const state = deliveryInternals(context.delivery!).remote_state;
      if (state?.undeliverable_here) return this.refuseOutcome(context.delivery!, Conditions.notImplemented, 'Deferral is not supported by the local broker.');
      this.onOutcome(context.delivery!, { kind: 'abandon', propertiesToModify: state?.message_annotations });
    });
    c.on('rejected', (context: EventContext) => {
      const error = deliveryInternals(context.delivery!).remote_state?.error;
      const info = { ...(error?.info ?? {}) };
      const reason = info.DeadLetterReason as string | undefined;
      const description = info.DeadLetterErrorDescription as string | undefined;
      delete info.DeadLetterReason;
      delete info.DeadLetterErrorDescription;
      this.onOutcome(context.delivery!, {
        kind: 'deadLetter',
        reason: error?.condition === Conditions.deadLetter ? reason : (reason ?? error?.condition),
        description: error?.condition === Conditions.deadLetter ? description : (description ?? error?.description),
        propertiesToModify: Object.keys(info).length > 0 ? info : undefined,
      });
    });
  }

  /** A link the broker cannot serve is attached without a terminus and detached at once with the error, as Service Bus does. */
  private guard(link: Sender | Receiver, open: () => void): void {
    try {
      open();
    } catch (err) {
      const failure = err instanceof AmqpFailure ? err : new AmqpFailure(Conditions.internal, String(err));
      this.log(`refused link "${link.name}": ${failure.condition} ${failure.message}`);
      link.close({ condition: failure.condition, description: failure.message });
    }
  }

  /** The client sends on this link: to a queue, to `$cbs`, or to a `$management` node. */
  private onReceiverOpen(link: Receiver): void {
    const target = link.target as { address?: string } | undefined;
    const address = target?.address;
    if (address === undefined) throw new AmqpFailure(Conditions.notImplemented, 'Transactions and links without an address are not supported by the local broker.', 501);
    if (address !== CBS_ADDRESS) {
      const entityAddress = address.endsWith(MANAGEMENT_SUFFIX) ? address.slice(0, -MANAGEMENT_SUFFIX.length) : address;
      const entity = this.entity(entityAddress);
      this.authorize(link.connection, address.endsWith(MANAGEMENT_SUFFIX) ? entity.path + MANAGEMENT_SUFFIX : entity.path);
      if (!address.endsWith(MANAGEMENT_SUFFIX) && entity.path.endsWith(DEAD_LETTER_SUFFIX)) {
        throw new AmqpFailure(Conditions.notAllowed, `Messages cannot be sent to a dead-letter queue ('${entity.path}').`, 403);
      }
    }
    link.set_target({ address });
    if (link.source) link.set_source(link.source);
    const local = internals(link).local.attach;
    local.max_message_size = this.maxMessageSize;
    local.rcv_settle_mode = link.rcv_settle_mode;
  }

  /** The client receives on this link: from a queue, or the replies of `$cbs` / `$management`. */
  private onSenderOpen(link: Sender): void {
    const source = link.source as { address?: string; filter?: Record<string, unknown> } | undefined;
    const address = source?.address;
    const local = internals(link).local.attach;
    local.snd_settle_mode = link.snd_settle_mode;
    local.rcv_settle_mode = link.rcv_settle_mode;
    if (address === CBS_ADDRESS || address?.endsWith(MANAGEMENT_SUFFIX)) {
      if (address !== CBS_ADDRESS) this.authorize(link.connection, this.entity(address.slice(0, -MANAGEMENT_SUFFIX.length)).path + MANAGEMENT_SUFFIX);
      link.set_source({ address });
      if (link.target) link.set_target(link.target);
      return;
    }
    if (source?.filter && SESSION_FILTER in source.filter) {
      throw new AmqpFailure(Conditions.notImplemented, 'Session receivers are not supported by the local broker.', 501);
    }
    const entity = this.entity(address);
    this.authorize(link.connection, entity.path);
    link.set_source({ address: address! });
    if (link.target) link.set_target(link.target);
    const consumer: Consumer = { link, entity, receiveAndDelete: link.snd_settle_mode === 1, unsent: new Deque<DeliveryInternals>(64) };
    const list = this.consumers.get(entity) ?? [];
    list.push(consumer);
    this.consumers.set(entity, list);
  }

  private consumerOf(link: Sender): Consumer | undefined {
    for (const list of this.consumers.values()) {
      const found = list.find((c) => c.link === link);
      if (found) return found;
    }
    return undefined;
  }

  private removeConsumer(link: Sender): void {
    for (const [entity, list] of this.consumers) {
      const index = list.findIndex((c) => c.link === link);
      if (index >= 0) {
        list.splice(index, 1);
        if (list.length === 0) this.consumers.delete(entity);
        return;
      }
    }
  }

  // ---- incoming messages ----

  private onMessage(context: EventContext): void {
    const link = context.receiver!;
    const delivery = context.delivery!;
    const address = (link.target as { address?: string } | undefined)?.address ?? '';
    try {
      if (address === CBS_ADDRESS) {
        this.onPutToken(context.connection, context.message!);
        delivery.accept();
        return;
      }
      if (address.endsWith(MANAGEMENT_SUFFIX)) {
        this.onManagementRequest(context.connection, this.entity(address.slice(0, -MANAGEMENT_SUFFIX.length)), context.message!);
        delivery.accept();
        return;
      }
      const entity = this.entity(address);
      const format = (context as EventContext & { format?: number }).format;
      const messages = format === BATCH_FORMAT ? decodeBatch(context.message as unknown as Buffer) : [context.message!];
      if (format !== undefined && format !== 0 && format !== BATCH_FORMAT) {
        throw new AmqpFailure(Conditions.notImplemented, `Message format ${format} is not supported.`);
      }
      for (const message of messages) entity.accept(message);
      // A send is acknowledged only once the broker has kept it.
      this.whenDurable(
        () => delivery.accept(),
        (description) => delivery.reject({ condition: Conditions.internal, description }),
      );
    } catch (err) {
      const failure = err instanceof AmqpFailure ? err : new AmqpFailure(Conditions.internal, err instanceof Error ? err.message : String(err));
      delivery.reject({ condition: failure.condition, description: failure.message });
    }
  }

  // ---- claims-based security ----

  /** `$cbs` put-token: a SAS token naming our key, signed with it, not expired, for an audience in this namespace. */
  private onPutToken(connection: Connection, request: Message): void {
    const properties = request.application_properties ?? {};
    const refuse = (description: string) => {
      this.log(`refused a SAS token: ${description}`);
      this.reply(connection, request, 401, {}, new AmqpFailure(Conditions.unauthorized, description, 401));
    };
    if (properties.operation !== 'put-token') return refuse(`the $cbs operation '${String(properties.operation)}' is not supported`);
    if (properties.type !== 'servicebus.windows.net:sastoken') {
      return refuse(`token type '${String(properties.type)}' is not accepted here: the local broker takes shared access signatures only`);
    }
    const token = typeof request.body === 'string' ? request.body : '';
    const checked = checkSasToken(token, this.sas, this.clock.now());
    if (typeof checked === 'string') return refuse(checked);
    const audience = entityPathOf(String(properties.name ?? ''));
    if (audience !== checked.resource && !audience.startsWith(`${checked.resource}/`) && checked.resource !== '') {
      return refuse(`the token's resource does not cover '${audience}'`);
    }
    let claims = this.claims.get(connection);
    if (!claims) this.claims.set(connection, (claims = new Map()));
    claims.set(checked.resource, checked.expiresAt);
    this.reply(connection, request, 202, {});
  }

  /** Refuses a link to an entity (or its `$management` node) unless the connection put a live token covering it. */
  private authorize(connection: Connection, entityPath: string): void {
    const path = entityPath.toLowerCase();
    const now = this.clock.now();
    for (const [resource, expiresAt] of this.claims.get(connection) ?? []) {
      if (expiresAt > now && (resource === '' || path === resource || path.startsWith(`${resource}/`))) return;
    }
    throw new AmqpFailure(Conditions.unauthorized, `Unauthorized access. A valid shared access signature for '${entityPath}' is required.`, 401);
  }

  // ---- $management ----

  private onManagementRequest(connection: Connection, entity: QueueEntity, request: Message): void {
    const operation = String(request.application_properties?.operation ?? '');
    const body = (request.body ?? {}) as Record<string, unknown>;
    try {
      switch (operation) {
        case 'com.microsoft:renew-lock': {
          const expirations = tokensOf(body['lock-tokens']).map((token) => {
            const until = entity.renew(token);
            if (until === undefined) throw new AmqpFailure(Conditions.lockLost, `The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue. Reference: ${token}`, 410);
            return new Date(until);
          });
          return this.reply(connection, request, 200, { expirations });
        }
        case 'com.microsoft:update-disposition': {
          const settlement = dispositionOf(body);
          for (const token of tokensOf(body['lock-tokens'])) {
            if (!entity.settle(token, settlement)) {
              throw new AmqpFailure(Conditions.lockLost, `The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue. Reference: ${token}`, 410);
            }
          }
          return this.whenDurable(
            () => this.reply(connection, request, 200, {}),
            (description) => this.reply(connection, request, 500, {}, new AmqpFailure(Conditions.internal, description)),
          );
        }
        case 'com.microsoft:peek-message': {
          const from = longOf(body['from-sequence-number']) ?? 1;
          const count = Number(body['message-count'] ?? 1);
          const peeked = entity.peek(from, count);
          if (peeked.length === 0) return this.reply(connection, request, 204, {});
          return this.reply(connection, request, 200, {
            messages: peeked.map((stored) => ({ message: rhea.message.encode(toWire(stored, undefined)) })),
          });
        }
        case 'com.microsoft:schedule-message': {
          const entries = (body.messages ?? []) as Array<{ message: Buffer }>;
          if (entity.path.endsWith(DEAD_LETTER_SUFFIX)) throw new AmqpFailure(Conditions.notAllowed, 'Messages cannot be scheduled on a dead-letter queue.', 403);
          const sequenceNumbers = entries.map((entry) => {
            const message = decodeMessage(entry.message);
            // A duplicate is dropped; Service Bus still answers with a sequence number, which cancels nothing.
            return entity.accept(message) ?? 0;
          });
          return this.whenDurable(
            () => this.reply(connection, request, 200, { 'sequence-numbers': sequenceNumbers.map((n) => rhea.types.wrap_long(n)) }),
            (description) => this.reply(connection, request, 500, {}, new AmqpFailure(Conditions.internal, description)),
          );
        }
        case 'com.microsoft:cancel-scheduled-message': {
          const numbers = ((body['sequence-numbers'] ?? []) as unknown[]).map((n) => longOf(n) ?? -1);
          entity.cancelScheduled(numbers);
          return this.reply(connection, request, 200, {});
        }
        default:
          throw new AmqpFailure(Conditions.notImplemented, `The management operation '${operation}' is not supported by the local broker.`, 501);
      }
    } catch (err) {
      const failure = err instanceof AmqpFailure ? err : new AmqpFailure(Conditions.internal, err instanceof Error ? err.message : String(err));
      if (failure.condition === Conditions.notImplemented) this.log(failure.message);
      this.reply(connection, request, failure.status, {}, failure);
    }
  }

  /** Answers a request on the link the client named in reply_to, as Service Bus's request/response pattern does. */
  private reply(connection: Connection, request: Message, status: number, body: Record<string, unknown>, failure?: AmqpFailure): void {
    const replyTo = request.reply_to;
    const link = connection.find_sender((s: Sender) => s.name === replyTo || (s.target as { address?: string } | undefined)?.address === replyTo);
    if (!link) {
      this.log(`no reply link "${String(replyTo)}" for a request`);
      return;
    }
    const properties: Record<string, unknown> = {
      'status-code': status,
      // The SDK's peek reads the camel-cased key to recognise "no messages" (204).
      statusCode: status,
      'status-description': failure?.message ?? 'OK',
    };
    if (failure) properties['error-condition'] = failure.condition;
    link.send({ correlation_id: request.message_id, application_properties: properties, body });
  }

  // ---- outgoing messages ----

  private onSendable(link: Sender): void {
    const consumer = this.consumerOf(link);
    if (consumer) this.pump(consumer.entity);
  }

  private onDraining(link: Sender): void {
    const consumer = this.consumerOf(link);
    if (!consumer) return;
    this.pump(consumer.entity);
    // Nothing more to give: hand the remaining credit back so the SDK's drain completes.
    if (budget(consumer) > 0) internals(link).set_drained(true);
  }

  /** Feeds available messages to the entity's receivers with credit, in turn. */
  private pump(entity: QueueEntity): void {
    if (this.pumping.has(entity)) return;
    const list = this.consumers.get(entity);
    if (!list || list.length === 0) return;
    this.pumping.add(entity);
    try {
      let index = this.roundRobin.get(entity) ?? 0;
      while (entity.availableCount > 0) {
        let chosen: Consumer | undefined;
        for (let i = 0; i < list.length; i++) {
          const candidate = list[(index + i) % list.length];
          if (budget(candidate) > 0) {
            chosen = candidate;
            index = (index + i + 1) % list.length;
            break;
          }
        }
        if (!chosen) break;
        const stored = entity.take();
        if (!stored) break;
        this.deliver(chosen, stored);
      }
      this.roundRobin.set(entity, index);
    } finally {
      this.pumping.delete(entity);
    }
  }

  private deliver(consumer: Consumer, stored: StoredMessage): void {
    const { entity, link } = consumer;
    if (consumer.receiveAndDelete) {
      entity.deliverAndDelete(stored);
      const delivery = link.send(toWire(stored, undefined, stored.deliveries - 1));
      consumer.unsent.pushBack(deliveryInternals(delivery));
      return;
    }
    const lock = entity.lock(stored);
    // The SDK reads the 16-byte delivery tag as a .NET-ordered GUID; storing it in that order makes the
    // token the SDK reports equal to ours, whether it settles on the link or through $management.
    const tag = dotNetGuidBytes(lock.token);
    const delivery = link.send(toWire(stored, lock, stored.deliveries - 1), tag);
    consumer.unsent.pushBack(deliveryInternals(delivery));
    const binding: LockedDelivery = { entity, lock, consumer, settling: false };
    this.lockedDeliveries.set(delivery, binding);
    lock.onEnd = (how: LockEnd) => {
      if (binding.settling) return;
      // Settled through $management, or expired: an expired lock stays unsettled on a live link so that a late
      // settlement gets "lock lost"; otherwise the delivery is retired.
      if (how === 'expired' && link.is_open()) return;
      retire(delivery);
    };
  }

  private onOutcome(delivery: Delivery, settlement: Settlement): void {
    const binding = this.lockedDeliveries.get(delivery);
    if (!binding) return;
    binding.settling = true;
    const ok = binding.entity.settle(binding.lock.token, settlement);
    this.lockedDeliveries.delete(delivery);
    if (ok) {
      // Settle back without an error: the SDK resolves complete/abandon/deadLetter only on an error-free echo.
      // Like a send, a settlement is confirmed once kept: a completed message never comes back.
      this.whenDurable(
        () => settleBack(delivery, outcomeOf(settlement)),
        (description) => settleBack(delivery, rejected(Conditions.internal, description)),
      );
    } else {
      settleBack(delivery, rejected(Conditions.lockLost, 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.'));
    }
  }

  private refuseOutcome(delivery: Delivery, condition: string, description: string): void {
    this.log(description);
    settleBack(delivery, rejected(condition, description));
  }
}

/** The entity path of a resource URI (`sb://host/queue` → `queue`), lower-cased; '' for the namespace itself. */
function entityPathOf(resource: string): string {
  return resource.replace(/^[a-z]+:\/\/[^/]+/i, '').replace(/^\/+|\/+$/g, '').toLowerCase();
}

/**
 * Checks `SharedAccessSignature sr=<encoded resource>&sig=<signature>&se=<expiry>&skn=<key name>` as Service Bus
 * does: the key name is ours, the signature is HMAC-SHA256 with our key over `<sr as sent>\n<se>`, and it has
 * not expired. Returns the resource and expiry, or why the token is refused (never echoing the signature).
 */
export function checkSasToken(token: string, policy: { keyName: string; key: string }, now: number): { resource: string; expiresAt: number } | string {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return 'the token is not a shared access signature';
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn) return 'the token lacks one of sr, sig, se, skn';
  let keyName: string;
  let signature: Buffer;
  let resource: string;
  try {
    keyName = decodeURIComponent(skn);
    signature = Buffer.from(decodeURIComponent(sig), 'base64');
    resource = entityPathOf(decodeURIComponent(sr));
  } catch {
    return 'the token is not valid percent-encoding';
  }
  if (keyName !== policy.keyName) return `the shared access key name '${keyName.slice(0, 64)}' is not a policy of this namespace`;
  const expected = createHmac('sha256', policy.key).update(`${sr}\n${se}`).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return 'the signature does not match the shared access key';
  const expiresAt = Number(se) * 1000;
  if (!Number.isFinite(expiresAt) || expiresAt <= now) return 'the token has expired';
  return { resource, expiresAt };
}

/** Credit the receiver granted that rhea has not used up yet. */
function budget(consumer: Consumer): number {
  const link = internals(consumer.link);
  if (!consumer.link.is_open()) return 0;
  const next = link.session.outgoing.next_pending_delivery;
  while (consumer.unsent.length > 0 && consumer.unsent.peekFront()!.id < next) consumer.unsent.shift();
  if (link.session.outgoing.available() <= 0) return 0;
  return link.credit - consumer.unsent.length;
}

/** Marks a delivery done so rhea can drop it from the session buffer, telling the peer if its link is still open. */
function retire(delivery: Delivery): void {
  const d = deliveryInternals(delivery);
  if (d.settled) return;
  if (delivery.link.is_open()) {
    settleBack(delivery, outcome('accepted'));
  } else {
    d.settled = true;
    d.remote_settled = true;
  }
}

/**
 * Settles a delivery towards the client. Once the sender has settled, the delivery is over for it (the SDK
 * never sends a final settled disposition in "second" mode); rhea keeps a delivery in the session's bounded
 * buffer until both sides settled, so it is marked so here, or the buffer fills after 2,048 messages.
 */
function settleBack(delivery: Delivery, state: unknown): void {
  delivery.update(true, state);
  deliveryInternals(delivery).remote_settled = true;
}

/** The message as a receiver gets it: broker annotations added, delivery count as the wire counts it (prior attempts). */
function toWire(stored: StoredMessage, lock: MessageLock | undefined, deliveryCount = stored.deliveries): Message {
  const annotations: Record<string, unknown> = {
    ...(stored.message.message_annotations ?? {}),
    'x-opt-sequence-number': rhea.types.wrap_long(stored.sequenceNumber),
    'x-opt-enqueued-time': new Date(stored.enqueuedAt),
  };
  if (lock) annotations['x-opt-locked-until'] = new Date(lock.lockedUntil);
  if (stored.deadLetterSource) annotations['x-opt-deadletter-source'] = stored.deadLetterSource;
  if (stored.state === 'scheduled') annotations['x-opt-message-state'] = 2;
  return { ...stored.message, message_annotations: annotations, delivery_count: Math.max(0, deliveryCount) };
}

function decodeBatch(payload: Buffer): Message[] {
  const batch = decodeMessage(payload);
  const body = batch.body as { multiple?: boolean; content: Buffer | Buffer[] };
  const sections = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return sections.map(decodeMessage);
}

/** Lock tokens arrive as 16-byte UUIDs (or, from some clients, as strings). */
function tokensOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((token) => (Buffer.isBuffer(token) ? rhea.uuid_to_string(token) : String(token)));
}

function longOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  return undefined;
}

function dispositionOf(body: Record<string, unknown>): Settlement {
  const status = String(body['disposition-status'] ?? '');
  const propertiesToModify = body['properties-to-modify'] as Record<string, unknown> | undefined;
  switch (status) {
    case 'completed':
      return { kind: 'complete' };
    case 'abandoned':
      return { kind: 'abandon', propertiesToModify };
    case 'suspended':
      return {
        kind: 'deadLetter',
        reason: body['deadletter-reason'] as string | undefined,
        description: body['deadletter-description'] as string | undefined,
        propertiesToModify,
      };
    case 'defered':
      throw new AmqpFailure(Conditions.notImplemented, 'Deferral is not supported by the local broker.', 501);
    default:
      throw new AmqpFailure(Conditions.invalidField, `Unknown disposition status '${status}'.`, 400);
  }
}

/** The UUID's bytes in .NET GUID order (first three groups little-endian), the order Service Bus puts in delivery tags. */
function dotNetGuidBytes(token: string): Buffer {
  const b = rhea.string_to_uuid(token) as Buffer;
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)]);
}

/** rhea's message codec returns its own Message type; it is the same shape as the connection's. */
function decodeMessage(bytes: Buffer): Message {
  return rhea.message.decode(bytes) as unknown as Message;
}

/** A rejected outcome carrying an error (rhea's typings omit the outcome constructors). */
function rejected(condition: string, description: string): unknown {
  return outcome('rejected', { error: { condition, description } });
}

/** The outcome echoed when the broker settles a delivery the client disposed of: the same kind, never an error. */
function outcomeOf(settlement: Settlement): unknown {
  switch (settlement.kind) {
    case 'complete':
      return outcome('accepted');
    case 'abandon':
      return outcome('modified', { undeliverable_here: false });
    case 'deadLetter':
      return outcome('rejected', {});
  }
}

function outcome(kind: 'accepted' | 'modified' | 'rejected', fields?: Record<string, unknown>): unknown {
  const codec = rhea.message as unknown as Record<string, (fields?: Record<string, unknown>) => { described(): unknown }>;
  return codec[kind](fields).described();
}
