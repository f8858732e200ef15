/**
 * Service Bus queue triggers in the local host. Receives with the real SDK in peek-lock, as the Functions
 * host's Service Bus extension does: completes when the function succeeds, abandons when it throws, renews
 * locks while it runs (up to maxAutoLockRenewalDuration), runs at most maxConcurrentCalls at once, and leaves
 * poison messages to the broker's MaxDeliveryCount. The function gets the body (JSON-parsed when it is JSON)
 * and the trigger metadata the host builds, with deliveryCount counted from 1.
 */
import os from 'node:os';
import {
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import type { HostExtension, LocalHost } from '../host/host';
import type { RegisteredFunction } from '../host/registry';
import type { Clock } from '../host/clock';
import { DEFAULT_MAXIMUM_FUNCTION_CONCURRENCY, DynamicConcurrency, type ConcurrencyReport, type FunctionConcurrency, type HealthProbe } from '../host/concurrency';
import { SERVICE_BUS_CONNECTION } from '../../shared/config/queues';
import { startBroker, type LocalBroker } from './broker';
import { parseTimeSpan } from './duration';
import { brokerQueues, type BrokerQueueSpec } from './queues';

/** The host's default setting name when a trigger names no connection. */
const DEFAULT_CONNECTION = 'AzureWebJobsServiceBus';
const DEFAULT_MAX_AUTO_LOCK_RENEWAL = '00:05:00';
const DEFAULT_MAX_BATCH_SIZE = 1000;
/** How long a batch receive waits before asking again; only bounds how quickly stop() is noticed. */
const BATCH_WAIT_MS = 1_000;

export interface ServiceBusExtensionOptions {
  /** Serves endpoints() with this broker's connection string. */
  broker?: LocalBroker;
  /** With dynamic concurrency: the host's health probe (default: the event loop's delay). */
  healthProbe?: () => HealthProbe;
}

/** While a function may take no new message: how often its listener asks again. */
const NO_ROOM_POLL_MS = 50;

interface Listener {
  fn: RegisteredFunction;
  receiver: ServiceBusReceiver;
  close(): Promise<void>;
}

export class ServiceBusExtension implements HostExtension {
  readonly name = 'serviceBus';
  private host?: LocalHost;
  private readonly clients = new Map<string, ServiceBusClient>();
  private readonly listeners: Listener[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;
  private connectionString?: string;
  private concurrency?: DynamicConcurrency;

  constructor(private readonly options: ServiceBusExtensionOptions = {}) {}

  endpoints(): Record<string, string> {
    const value = this.options.broker?.connectionString ?? this.connectionString ?? process.env[SERVICE_BUS_CONNECTION];
    return value ? { serviceBusConnectionString: value } : {};
  }

  async start(host: LocalHost): Promise<void> {
    this.host = host;
    this.stopping = false;
    // Only the triggers of this instance's scale groups (all of them unless the host runs a subset).
    const functions = host.registry.byTrigger('serviceBusTrigger').filter((fn) => host.runs(fn));
    // Check every trigger before receiving anything, so a bad one fails the start instead of half of it.
    const plans = functions.map((fn) => this.plan(fn));
    const settings = host.hostJson.extensions?.serviceBus ?? {};
    const maxConcurrentCalls = settings.maxConcurrentCalls ?? 16 * os.cpus().length;
    const maxAutoLockRenewalMs = parseTimeSpan(settings.maxAutoLockRenewalDuration ?? DEFAULT_MAX_AUTO_LOCK_RENEWAL);
    const maxBatchSize = typeof settings.maxMessageBatchSize === 'number' ? settings.maxMessageBatchSize : DEFAULT_MAX_BATCH_SIZE;
    // With dynamic concurrency the host decides each function's concurrency and maxConcurrentCalls is ignored, as in Azure.
    const dynamic = host.hostJson.concurrency?.dynamicConcurrencyEnabled === true && plans.some((p) => !p.many);
    if (dynamic) {
      this.concurrency = new DynamicConcurrency(
        { maximumFunctionConcurrency: host.hostJson.concurrency?.maximumFunctionConcurrency ?? DEFAULT_MAXIMUM_FUNCTION_CONCURRENCY },
        this.options.healthProbe?.(),
      );
    }
    for (const plan of plans) {
      const client = this.clientFor(plan.connectionString);
      this.connectionString ??= plan.connectionString;
      if (plan.many) this.listeners.push(this.listenBatch(plan.fn, client, plan.queueName, maxBatchSize));
      else if (this.concurrency) this.listeners.push(this.listenDynamic(plan.fn, client, plan.queueName, this.concurrency.forFunction(plan.fn.name), maxAutoLockRenewalMs));
      else this.listeners.push(this.listenSingle(plan.fn, client, plan.queueName, maxConcurrentCalls, maxAutoLockRenewalMs));
      host.log('information', 'serviceBus', `Listening on queue '${plan.queueName}' for '${plan.fn.name}'`);
    }
  }

  /** Stops receiving, waits for running functions to finish and settle, then closes the clients. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.listeners.map((l) => l.close()));
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await Promise.allSettled(this.listeners.map((l) => l.receiver.close()));
    this.listeners.length = 0;
    await Promise.allSettled([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
    this.concurrency?.stop();
    this.concurrency = undefined;
  }

  /** Each function's dynamic concurrency (empty when host.json does not enable it). */
  concurrencyReport(): Record<string, ConcurrencyReport> {
    return this.concurrency?.report() ?? {};
  }

  private plan(fn: RegisteredFunction): { fn: RegisteredFunction; queueName: string; connectionString: string; many: boolean } {
    const trigger = fn.trigger;
    if (typeof trigger.topicName === 'string') {
      throw new Error(`Function '${fn.name}': Service Bus topic triggers are not supported by the local host (topic '${trigger.topicName}').`);
    }
    if (trigger.isSessionsEnabled === true) {
      throw new Error(`Function '${fn.name}': session-enabled Service Bus triggers are not supported by the local host.`);
    }
    if (trigger.sdkBinding === true) {
      throw new Error(`Function '${fn.name}': SDK-type Service Bus bindings need the Functions host's settlement service and are not supported locally.`);
    }
    const queueName = trigger.queueName;
    if (typeof queueName !== 'string' || queueName.length === 0) throw new Error(`Function '${fn.name}': the Service Bus trigger names no queue.`);
    const setting = typeof trigger.connection === 'string' && trigger.connection ? trigger.connection : DEFAULT_CONNECTION;
    const connectionString = process.env[setting];
    if (!connectionString) {
      const identity = process.env[`${setting}__fullyQualifiedNamespace`];
      throw new Error(
        identity
          ? `Function '${fn.name}': setting '${setting}' is identity-based (${setting}__fullyQualifiedNamespace); the local host needs a connection string in '${setting}'.`
          : `Function '${fn.name}': app setting '${setting}' (the trigger's connection) is not set.`,
      );
    }
    return { fn, queueName, connectionString, many: trigger.cardinality === 'many' };
  }

  private clientFor(connectionString: string): ServiceBusClient {
    let client = this.clients.get(connectionString);
    if (!client) {
      client = new ServiceBusClient(connectionString);
      this.clients.set(connectionString, client);
    }
    return client;
  }

  private listenSingle(fn: RegisteredFunction, client: ServiceBusClient, queueName: string, maxConcurrentCalls: number, maxAutoLockRenewalMs: number): Listener {
    const receiver = client.createReceiver(queueName, { receiveMode: 'peekLock', maxAutoLockRenewalDurationInMs: maxAutoLockRenewalMs });
    const subscription = receiver.subscribe(
      {
        processMessage: (message) => this.run(fn, receiver, [message], false),
        processError: async (args) => {
          if (!this.stopping) this.host?.log('warning', fn.name, `Service Bus receive error on '${queueName}' (${args.errorSource}): ${args.error.message}`);
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls },
    );
    return { fn, receiver, close: () => subscription.close() };
  }

  /**
   * Dynamic concurrency: before each receive the listener asks how many messages it may take, and takes no
   * more (a message received and left waiting would hold its lock for nothing).
   */
  private listenDynamic(fn: RegisteredFunction, client: ServiceBusClient, queueName: string, status: FunctionConcurrency, maxAutoLockRenewalMs: number): Listener {
    const receiver = client.createReceiver(queueName, { receiveMode: 'peekLock', maxAutoLockRenewalDurationInMs: maxAutoLockRenewalMs });
    // One controller per receive: the SDK adds a listener to the signal on each call.
    let abort = new AbortController();
    let wake: (() => void) | undefined;
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    const loop = (async () => {
      while (!this.stopping) {
        const room = status.available();
        if (room === 0) {
          await pause(NO_ROOM_POLL_MS);
          continue;
        }
        let messages: ServiceBusReceivedMessage[];
        try {
          abort = new AbortController();
          messages = await receiver.receiveMessages(room, { maxWaitTimeInMs: BATCH_WAIT_MS, abortSignal: abort.signal });
        } catch (err) {
          if (this.stopping) return;
          this.host?.log('warning', fn.name, `Service Bus receive error on '${queueName}': ${err instanceof Error ? err.message : String(err)}`);
          await pause(BATCH_WAIT_MS);
          continue;
        }
        for (const message of messages) {
          const started = performance.now();
          status.started();
          void this.run(fn, receiver, [message], false).finally(() => {
            status.completed(performance.now() - started);
            wake?.();
          });
        }
      }
    })();
    return {
      fn,
      receiver,
      close: async () => {
        abort.abort();
        wake?.();
        await loop;
      },
    };
  }

  private listenBatch(fn: RegisteredFunction, client: ServiceBusClient, queueName: string, maxBatchSize: number): Listener {
    // The host does not renew locks for batch functions.
    const receiver = client.createReceiver(queueName, { receiveMode: 'peekLock', maxAutoLockRenewalDurationInMs: 0 });
    let abort = new AbortController();
    const loop = (async () => {
      while (!this.stopping) {
        let messages: ServiceBusReceivedMessage[];
        try {
          abort = new AbortController();
          messages = await receiver.receiveMessages(maxBatchSize, { maxWaitTimeInMs: BATCH_WAIT_MS, abortSignal: abort.signal });
        } catch (err) {
          if (this.stopping) return;
          this.host?.log('warning', fn.name, `Service Bus receive error on '${queueName}': ${err instanceof Error ? err.message : String(err)}`);
          await new Promise((resolve) => setTimeout(resolve, BATCH_WAIT_MS));
          continue;
        }
        if (messages.length > 0) await this.run(fn, receiver, messages, true);
      }
    })();
    return {
      fn,
      receiver,
      close: async () => {
        abort.abort();
        await loop;
      },
    };
  }

  /** One invocation: the function, then complete on success or abandon on failure, as the host does. */
  private run(fn: RegisteredFunction, receiver: ServiceBusReceiver, messages: ServiceBusReceivedMessage[], many: boolean): Promise<void> {
    const host = this.host!;
    const work = (async () => {
      const input = many ? messages.map((m) => bodyOf(m)) : bodyOf(messages[0]);
      const triggerMetadata = many ? batchMetadata(messages) : messageMetadata(messages[0]);
      const started = Date.now();
      let failed = false;
      try {
        await host.invoke(fn, input, { triggerMetadata });
      } catch (err) {
        failed = true;
        host.log('error', fn.name, `Executed '${fn.name}' (Failed, Duration=${Date.now() - started}ms): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      const autoComplete = fn.trigger.autoCompleteMessages ?? host.hostJson.extensions?.serviceBus?.autoCompleteMessages ?? true;
      // Without auto-complete a Node function has no way to settle: the lock expires and the message comes back.
      if (!autoComplete && !failed) return;
      for (const message of messages) {
        try {
          if (failed) await receiver.abandonMessage(message);
          else await receiver.completeMessage(message);
        } catch (err) {
          host.log('warning', fn.name, `Could not ${failed ? 'abandon' : 'complete'} message '${String(message.messageId)}': ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
    return host.track(work);
  }
}

/** The body as the host hands it to a Node function: text and bytes are JSON-parsed when they are JSON. */
export function bodyOf(message: ServiceBusReceivedMessage): unknown {
  const body: unknown = message.body;
  const text = Buffer.isBuffer(body) || body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : typeof body === 'string' ? body : undefined;
  if (text === undefined) return body;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `context.triggerMetadata` for one message, named as the host names it (camel-cased by `@azure/functions`,
 * application property keys included). deliveryCount is the host's, from 1; the SDK reports the wire count from 0.
 */
export function messageMetadata(message: ServiceBusReceivedMessage): Record<string, unknown> {
  const properties = camelKeys(message.applicationProperties ?? {});
  const metadata: Record<string, unknown> = {
    messageId: message.messageId === undefined ? undefined : String(message.messageId),
    deliveryCount: (message.deliveryCount ?? 0) + 1,
    deadLetterSource: message.deadLetterSource,
    lockToken: message.lockToken,
    expiresAtUtc: message.expiresAtUtc?.toISOString(),
    expiresAt: message.expiresAtUtc?.toISOString(),
    enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
    enqueuedTime: message.enqueuedTimeUtc?.toISOString(),
    sequenceNumber: message.sequenceNumber?.toNumber(),
    contentType: message.contentType,
    correlationId: message.correlationId === undefined ? undefined : String(message.correlationId),
    sessionId: message.sessionId,
    replyTo: message.replyTo,
    replyToSessionId: message.replyToSessionId,
    to: message.to,
    subject: message.subject,
    label: message.subject,
    partitionKey: message.partitionKey,
    applicationProperties: properties,
    userProperties: properties,
  };
  for (const key of Object.keys(metadata)) if (metadata[key] === undefined) delete metadata[key];
  return metadata;
}

/** For `cardinality: 'many'`: every single-message field as an `…Array`, in message order. */
export function batchMetadata(messages: ServiceBusReceivedMessage[]): Record<string, unknown> {
  const each = messages.map(messageMetadata);
  const keys = new Set(each.flatMap((m) => Object.keys(m)));
  const metadata: Record<string, unknown> = {};
  for (const key of keys) metadata[`${key}Array`] = each.map((m) => m[key]);
  return metadata;
}

function camelKeys(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).map(([key, value]) => [key.charAt(0).toLowerCase() + key.slice(1), value]));
}

export interface LocalServiceBus {
  broker: LocalBroker;
  extension: ServiceBusExtension;
  /** App settings to give the host (the connection setting the triggers and senders name). */
  settings: Record<string, string>;
}

/** The broker with the project's queues plus a trigger extension bound to it, for the start script and tests. */
export async function startLocalServiceBus(options: { port?: number; clock?: Clock; queues?: readonly BrokerQueueSpec[] } = {}): Promise<LocalServiceBus> {
  const broker = await startBroker({ port: options.port, clock: options.clock, queues: options.queues ?? brokerQueues() });
  return {
    broker,
    extension: new ServiceBusExtension({ broker }),
    settings: { [SERVICE_BUS_CONNECTION]: broker.connectionString },
  };
}
