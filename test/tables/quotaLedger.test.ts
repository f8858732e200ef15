/**
 * The pacer's shared budgets in real Azurite: leases from several instances (each its own client) race on
 * one row and never grant the same tokens twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableProvider } from '../../shared/adapters/tables/client';
import { TableQuotaLedger } from '../../shared/adapters/tables/quotaLedger';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite.stop();
});

const instance = () => new TableQuotaLedger(new TableProvider({ connectionString: azurite.connectionString }));

describe('quota ledger in Table Storage', () => {
  it('grants a full bucket once however many instances race for it', async () => {
    const budgets = { teamsAdmin: { ratePerMs: 0, capacity: 30 } }; // no refill: only the bucket's 30
    const ledgers = Array.from({ length: 4 }, instance);
    const grants = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ledgers[i % ledgers.length].lease({ scope: 'graph|app|race', budgets, want: { teamsAdmin: 2 }, now: 1_000 })),
    );
    const granted = grants.reduce((sum, g) => sum + g.granted.teamsAdmin, 0);
    expect(granted).toBe(30);
    expect(grants.filter((g) => g.granted.teamsAdmin === 2)).toHaveLength(15);
  });

  it('refills with time, takes back what is returned, and keeps a hold for every instance', async () => {
    const budgets = { writes: { ratePerMs: 0.01, capacity: 5 } };
    const [a, b] = [instance(), instance()];
    const scope = 'graph|app|refill';
    expect((await a.lease({ scope, budgets, want: { writes: 5 }, now: 0 })).granted.writes).toBe(5);
    expect((await b.lease({ scope, budgets, want: { writes: 5 }, now: 100 })).granted.writes).toBeCloseTo(1, 9);
    await a.lease({ scope, budgets, giveBack: { writes: 3 }, holdUntil: 5_000, now: 100 });
    const later = await b.lease({ scope, budgets, want: { writes: 1 }, now: 200 });
    expect(later.granted.writes).toBe(1);
    expect(later.left.writes).toBeCloseTo(3, 9); // 3 returned + 1 refilled − 1 taken
    expect(later.holdUntil).toBe(5_000);
  });

  it('counts the leasers of the last minute: what each divides the budget by without the ledger', async () => {
    const budgets = { writes: { ratePerMs: 0.01, capacity: 5 } };
    const [a, b] = [instance(), instance()];
    const scope = 'graph|app|sharers';
    expect((await a.lease({ scope, budgets, now: 1_000, leaser: 'one' })).sharers).toBe(1);
    expect((await b.lease({ scope, budgets, now: 2_000, leaser: 'two' })).sharers).toBe(2);
    expect((await a.lease({ scope, budgets, now: 3_000, leaser: 'one' })).sharers).toBe(2);
    // 'two' has not leased for a minute: no longer sharing.
    expect((await a.lease({ scope, budgets, now: 62_500, leaser: 'one' })).sharers).toBe(1);
  });
});
