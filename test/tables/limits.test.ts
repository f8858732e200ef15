import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertEntityFits, decodeKey, encodeKey, entitySize, packJson, planBatches, TABLE_LIMITS, unpackJson, type BatchAction } from '../../shared/adapters/tables';
import { batchBytes, fittingBatchBytes } from '../../shared/adapters/tables/limits';
import { StorageValidationError } from '../../shared/ports/storage';

describe('table keys', () => {
  it('property: encoding is reversible and never yields a forbidden or separator character', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }), (id) => {
        const key = encodeKey(id);
        expect(key).toMatch(/^[A-Za-z0-9._@!-]+$/);
        expect(decodeKey(key)).toBe(id);
      }),
    );
  });

  it('property: distinct ids give distinct keys', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        fc.pre(a !== b);
        expect(encodeKey(a)).not.toBe(encodeKey(b));
      }),
    );
  });

  it('encodes the characters Table Storage forbids or URLs mangle', () => {
    expect(encodeKey("a/b\\c#d?e'f%g+h~i\u0001")).toBe('a!2Fb!5Cc!23d!3Fe!27f!25g!2Bh!7Ei!01');
    expect(encodeKey('user@contoso.com')).toBe('user@contoso.com');
  });

  it('refuses empty and over-long ids clearly', () => {
    expect(() => encodeKey('')).toThrow(StorageValidationError);
    expect(() => encodeKey('/'.repeat(200))).toThrow(/too long/);
  });
});

describe('batch planning', () => {
  const upsert = (pk: string, rk: string, extra: Record<string, string> = {}): BatchAction => ({ kind: 'upsert', entity: { partitionKey: pk, rowKey: rk, ...extra } });

  it('at most 100 operations per batch, one partition per batch', () => {
    const actions = [...Array.from({ length: 250 }, (_, i) => upsert('p1', `r${i}`)), ...Array.from({ length: 30 }, (_, i) => upsert('p2', `r${i}`))];
    const batches = planBatches(actions);
    expect(batches.map((b) => b.length).sort((a, b) => b - a)).toEqual([100, 100, 50, 30]);
    for (const b of batches) expect(new Set(b.map((a) => a.entity.partitionKey)).size).toBe(1);
    expect(batches.flat().length).toBe(280);
  });

  it('keeps each batch body under 4 MiB', () => {
    const big = 'x'.repeat(30_000);
    const actions = Array.from({ length: 100 }, (_, i) => upsert('p', `r${i}`, { A: big, B: big, C: big, D: big }));
    const batches = planBatches(actions);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) {
      const bytes = b.reduce((n, a) => n + Buffer.byteLength(JSON.stringify(a.entity)), 0);
      expect(bytes).toBeLessThan(TABLE_LIMITS.maxBatchBytes);
    }
  });

  it('the same entity twice goes to separate batches, in order', () => {
    const batches = planBatches([upsert('p', 'a', { V: '1' }), upsert('p', 'b'), upsert('p', 'a', { V: '2' })]);
    expect(batches.map((b) => b.map((a) => `${a.entity.rowKey}${a.entity.V ?? ''}`))).toEqual([['a1', 'b'], ['a2']]);
  });

  it('refuses an entity the service would refuse', () => {
    expect(() => planBatches([upsert('p', 'a', { Big: 'x'.repeat(TABLE_LIMITS.maxStringChars + 1) })])).toThrow(/more than 32768/);
    const many: Record<string, string> = {};
    for (let i = 0; i < 253; i++) many[`P${i}`] = 'v';
    expect(() => assertEntityFits({ partitionKey: 'p', rowKey: 'r', ...many }, 'e')).toThrow(/253 properties/);
  });

  it("a batch writer's one walk over an entity refuses what the checks refuse and sizes it as the batch plan does", () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 253; i++) many[`P${i}`] = 'v';
    const refused = [
      { partitionKey: 'p', rowKey: 'r1', ...many },
      { partitionKey: 'p', rowKey: 'r2', Big: 'x'.repeat(TABLE_LIMITS.maxStringChars + 1) },
      { partitionKey: 'p', rowKey: 'r3', ...packJson('Doc', { text: 'x'.repeat(600_000) }) },
    ];
    for (const entity of refused) {
      const expected = (() => {
        try {
          assertEntityFits(entity, `user ${entity.rowKey}`);
        } catch (e) {
          return (e as Error).message;
        }
      })();
      expect(expected).toBeDefined();
      expect(() => fittingBatchBytes(entity, () => `user ${entity.rowKey}`)).toThrow(expected);
    }
    const fitting = [
      { partitionKey: 'p', rowKey: 'a', N: 1, B: true, Z: null, U: undefined, S: 'é😀' },
      { partitionKey: 'p', rowKey: 'b', ...packJson('Doc', { text: 'é'.repeat(50_000) }) },
    ];
    for (const entity of fitting) expect(fittingBatchBytes(entity, 'e')).toBe(batchBytes(entity));
  });
});

describe('large JSON across properties', () => {
  it('splits into parts under the string limit and reads back', () => {
    const value = { text: 'é😀'.repeat(40_000), n: 1 };
    const packed = packJson('Doc', value);
    expect(packed.DocParts).toBeGreaterThan(2);
    for (const [k, v] of Object.entries(packed)) if (typeof v === 'string') expect(v.length, k).toBeLessThanOrEqual(TABLE_LIMITS.maxStringChars);
    expect(unpackJson('Doc', packed)).toEqual(value);
    assertEntityFits({ partitionKey: 'p', rowKey: 'r', ...packed }, 'doc');
  });

  it('a document beyond 1 MiB is refused clearly', () => {
    const packed = packJson('Doc', { text: 'x'.repeat(600_000) });
    const entity = { partitionKey: 'p', rowKey: 'r', ...packed };
    expect(entitySize(entity)).toBeGreaterThan(TABLE_LIMITS.maxEntityBytes);
    expect(() => assertEntityFits(entity, 'quick add group q1')).toThrow(/quick add group q1 is \d+ bytes, more than the 1 MiB/);
  });
});
