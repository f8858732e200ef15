/**
 * Graph's side of bench:webhook in a process of its own: posts on a fixed schedule (open loop: a slow
 * answer does not delay the next request) and times each answer. Kept off the benchmark's own process,
 * whose event loop also carries the Service Bus broker: a late loop there would add its lateness to every
 * measured answer, as no Graph delivery service sees.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { Subscription } from '../../local/graph-emulator';
import { userChangeNotification } from '../../local/graph-emulator/subscriptions';

/** What to post: handshakes (the floor) or change notifications for the users, `batch` to a request. */
export type PostingSpec = { url: string; requests: number; perSecond: number } & ({ kind: 'handshake'; label: string } | { kind: 'notifications'; subscription: Subscription; userIds: string[]; batch: number });

export interface Answer {
  ms: number;
  /** The HTTP status; 0 when the request failed. */
  status: number;
}

type ToPoster = { kind: 'post'; spec: PostingSpec } | { kind: 'stop' };
type FromPoster = { kind: 'ready' } | { kind: 'progress'; answered: number } | { kind: 'done'; answers: Answer[] };

export interface Poster {
  readonly pid: number;
  post(spec: PostingSpec, onProgress?: (answered: number) => void): Promise<Answer[]>;
  stop(): Promise<void>;
}

export function startPoster(): Promise<Poster> {
  const child: ChildProcess = fork(__filename, ['--serve-poster'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the poster exited with ${code}`)));
    child.once('message', () => {
      resolve({
        pid: child.pid ?? 0,
        post: (spec, onProgress) =>
          new Promise((done) => {
            const listen = (m: unknown) => {
              const message = m as FromPoster;
              if (message.kind === 'progress') onProgress?.(message.answered);
              if (message.kind !== 'done') return;
              child.off('message', listen);
              done(message.answers);
            };
            child.on('message', listen);
            child.send({ kind: 'post', spec } satisfies ToPoster);
          }),
        async stop() {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.send({ kind: 'stop' } satisfies ToPoster);
          await exited;
        },
      });
    });
  });
}

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
/** Kept-alive connections, as Graph's delivery service keeps them; node:http costs a third of fetch's CPU per request. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1_000 });

function send(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Sequence numbers run on across posts: a later post never repeats an earlier one's notifications. */
let sequence = 0;

async function post(spec: PostingSpec): Promise<Answer[]> {
  const request = (i: number): { query: string; body: string } =>
    spec.kind === 'handshake'
      ? { query: `?validationToken=${spec.label}-${i}`, body: '' }
      : { query: '', body: JSON.stringify({ value: Array.from({ length: spec.batch }, (_, k) => userChangeNotification(spec.subscription, spec.userIds[(i * spec.batch + k) % spec.userIds.length], 'updated', sequence++)) }) };
  const answers: Answer[] = [];
  const inFlight: Promise<void>[] = [];
  const progress = setInterval(() => process.send?.({ kind: 'progress', answered: answers.length } satisfies FromPoster), 250);
  const t0 = performance.now();
  for (let i = 0; i < spec.requests; i++) {
    const due = t0 + (i * 1000) / spec.perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const { query, body } = request(i);
    const started = performance.now();
    inFlight.push(
      send(`${spec.url}${query}`, body).then(
        (status) => void answers.push({ ms: performance.now() - started, status }),
        () => void answers.push({ ms: performance.now() - started, status: 0 }),
      ),
    );
  }
  await Promise.all(inFlight);
  clearInterval(progress);
  return answers;
}

if (process.argv.includes('--serve-poster')) {
  process.on('message', (m) => {
    const message = m as ToPoster;
    if (message.kind === 'stop') process.exit(0);
    void post(message.spec).then((answers) => process.send?.({ kind: 'done', answers } satisfies FromPoster));
  });
  process.send?.({ kind: 'ready' } satisfies FromPoster);
}
