/**
 * Service Bus throughput through the local broker with the real SDK, against the floor measured in the same
 * run: the same payloads over a raw local TCP socket with length-prefixed frames (no AMQP, no broker state).
 * Prints messages per second and the ratio to the floor. Starts everything itself and exits.
 *
 *   npm run bench:servicebus [-- --messages 20000 --bytes 512] [--json FILE]
 */
import net, { type AddressInfo } from 'node:net';
import { ServiceBusClient } from '@azure/service-bus';
import { startBroker } from '../local/servicebus/broker';
import { cliArgs, writeFigures } from './support/measure';

const args = cliArgs();
const MESSAGES = Number(args.get('messages') ?? 20_000);
const BYTES = Number(args.get('bytes') ?? 512);
const RECEIVE_BATCH = 500;

function payload(i: number): { id: number; data: string } {
  return { id: i, data: 'x'.repeat(Math.max(0, BYTES - 24)) };
}

function rate(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en-US')} msg/s`;
}

/** Floor for sending: frames written to a socket, timed until the sink has read them all. */
async function floorSend(frames: Buffer[]): Promise<number> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = net.createServer((socket) => {
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        pending = pending.subarray(4 + pending.readUInt32BE(0));
        if (++received === frames.length) done();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const started = performance.now();
  for (const frame of frames) {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(frame.length);
    if (!socket.write(Buffer.concat([header, frame]))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await finished;
  const elapsed = performance.now() - started;
  socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  return elapsed;
}

/** Floor for receiving: a server pushes the frames, timed until the client has parsed and JSON-decoded them all. */
async function floorReceive(frames: Buffer[]): Promise<number> {
  const server = net.createServer(async (socket) => {
    for (const frame of frames) {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(frame.length);
      if (!socket.write(Buffer.concat([header, frame]))) await new Promise((resolve) => socket.once('drain', resolve));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const started = performance.now();
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        const length = pending.readUInt32BE(0);
        JSON.parse(pending.subarray(4, 4 + length).toString('utf8'));
        pending = pending.subarray(4 + length);
        if (++received === frames.length) resolve();
      }
    });
  });
  const elapsed = performance.now() - started;
  socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  return elapsed;
}

async function main(): Promise<void> {
  const frames = Array.from({ length: MESSAGES }, (_, i) => Buffer.from(JSON.stringify(payload(i))));
  const broker = await startBroker({
    queues: [
      { name: 'bench-peeklock', maxDeliveryCount: 10, lockDuration: 'PT5M' },
      { name: 'bench-delete', maxDeliveryCount: 10, lockDuration: 'PT5M' },
      { name: 'bench-dedup', maxDeliveryCount: 10, lockDuration: 'PT5M', duplicateDetectionWindow: 'PT10M' },
    ],
  });
  const client = new ServiceBusClient(broker.connectionString);
  try {
    // Warm up the connection, CBS and links so the figures are steady-state.
    const warm = client.createSender('bench-delete');
    await warm.sendMessages({ body: 'warm' });
    const warmReceiver = client.createReceiver('bench-delete', { receiveMode: 'receiveAndDelete' });
    await warmReceiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
    await warmReceiver.close();

    async function sendAll(queue: string): Promise<number> {
      const sender = client.createSender(queue);
      const started = performance.now();
      let next = 0;
      while (next < MESSAGES) {
        const batch = await sender.createMessageBatch();
        while (next < MESSAGES && batch.tryAddMessage({ body: payload(next), messageId: `m-${next}` })) next++;
        await sender.sendMessages(batch);
      }
      const elapsed = performance.now() - started;
      await sender.close();
      return elapsed;
    }

    async function receiveAll(queue: string, mode: 'peekLock' | 'receiveAndDelete'): Promise<number> {
      const receiver = client.createReceiver(queue, { receiveMode: mode, maxAutoLockRenewalDurationInMs: 0 });
      const started = performance.now();
      let got = 0;
      while (got < MESSAGES) {
        const batch = await receiver.receiveMessages(RECEIVE_BATCH, { maxWaitTimeInMs: 5_000 });
        if (batch.length === 0) throw new Error(`only ${got} of ${MESSAGES} messages arrived`);
        if (mode === 'peekLock') await Promise.all(batch.map((m) => receiver.completeMessage(m)));
        got += batch.length;
      }
      const elapsed = performance.now() - started;
      await receiver.close();
      return elapsed;
    }

    const floorSendMs = await floorSend(frames);
    const floorReceiveMs = await floorReceive(frames);
    const sendMs = await sendAll('bench-peeklock');
    const sendDedupMs = await sendAll('bench-dedup');
    await sendAll('bench-delete');
    const peekLockMs = await receiveAll('bench-peeklock', 'peekLock');
    const deleteMs = await receiveAll('bench-delete', 'receiveAndDelete');

    const rows: Array<[string, number, number]> = [
      ['send (batches)', sendMs, floorSendMs],
      ['send (batches, duplicate detection on)', sendDedupMs, floorSendMs],
      [`receive peek-lock + complete (${RECEIVE_BATCH} per call)`, peekLockMs, floorReceiveMs],
      [`receive-and-delete (${RECEIVE_BATCH} per call)`, deleteMs, floorReceiveMs],
    ];
    console.log(`Service Bus through the local broker, ${MESSAGES.toLocaleString('en-US')} messages of ${BYTES} bytes (JSON body)`);
    console.log(`floor: raw TCP, length-prefixed frames: send ${rate(MESSAGES, floorSendMs)}, receive ${rate(MESSAGES, floorReceiveMs)}`);
    for (const [name, ms, floor] of rows) {
      console.log(`${name.padEnd(48)} ${rate(MESSAGES, ms).padStart(16)}   ${(ms / floor).toFixed(1).padStart(6)}x the floor's time`);
    }
    writeFigures(args.get('json'), 'servicebus', {
      messages: MESSAGES,
      bytes: BYTES,
      rows: rows.map(([name, ms, floor]) => ({ name, ms, floorMs: floor, ratio: ms / floor, perSecond: (MESSAGES / ms) * 1000 })),
    });
  } finally {
    await client.close();
    await broker.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
