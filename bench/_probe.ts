import { changeNotification, CUSTOMER, startNotificationWorld } from '../test/notifications/support';
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
async function main() {
  const w = await startNotificationWorld(30);
  const sub = w.graphSubscription();
  const ids = (await w.api.json<{ items: Array<{ userId: string }> }>('GET', `/customers/${CUSTOMER}/users?top=30`)).items.map((u) => u.userId);
  const url = `${w.stack.endpoints.apiUrl}/graph/notifications`;
  for (const mode of ['dropped', 'valid', 'dropped']) {
    const lat: number[] = [];
    const ps: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const due = t0 + i * 5; const wait = due - performance.now(); if (wait > 1) await sleep(wait);
      const n = changeNotification(mode === 'valid' ? sub : { ...sub, id: 'nope' }, ids[i % ids.length], 'updated', { resourceData: { id: ids[i % ids.length], sequenceNumber: Math.random() } });
      const s = performance.now();
      ps.push(fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: [n] }) }).then(async (r) => { await r.arrayBuffer(); lat.push(performance.now() - s); }));
    }
    await Promise.all(ps);
    lat.sort((a, b) => a - b);
    console.log(mode, 'p50', lat[500].toFixed(1), 'p99', lat[990].toFixed(1), 'max', lat[999].toFixed(1));
    await w.idle('graph-notifications', 60000);
  }
  await w.stop();
}
main().then(() => process.exit(0));
