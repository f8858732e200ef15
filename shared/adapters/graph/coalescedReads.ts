/**
 * Single-item reads that arrive together go out together. While a read is on its way, the reads asked for
 * meanwhile wait for it to come back and then leave as one request of up to `maxPerRequest` ids: an idle
 * caller is never delayed, and a burst (change notifications, provisioning's own writes echoed back) costs
 * a request per `maxPerRequest` users. A read always starts after it was asked for (never answered by a
 * request already on its way), so a caller that must see the state after some moment — a change
 * notification being applied — does.
 */
export class CoalescedReads<V> {
  private readonly queued = new Map<string, Array<{ resolve: (value: V | undefined) => void; reject: (error: unknown) => void }>>();
  private inFlight = 0;

  constructor(
    private readonly readMany: (ids: string[]) => Promise<Map<string, V>>,
    private readonly maxPerRequest: number,
    private readonly maxInFlight = 1,
  ) {}

  get(id: string): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.queued.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.queued.set(id, [{ resolve, reject }]);
      this.send();
    });
  }

  private send(): void {
    while (this.inFlight < this.maxInFlight && this.queued.size > 0) {
      const ids = [...this.queued.keys()].slice(0, this.maxPerRequest);
      const waiters = ids.map((id) => {
        const w = this.queued.get(id)!;
        this.queued.delete(id);
        return w;
      });
      this.inFlight++;
      this.readMany(ids)
        .then(
          (found) => ids.forEach((id, i) => waiters[i].forEach((w) => w.resolve(found.get(id)))),
          (error: unknown) => waiters.flat().forEach((w) => w.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          this.send();
        });
    }
  }
}
