import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Deque } from '../../local/servicebus/deque';
import { parseIsoDuration, parseTimeSpan } from '../../local/servicebus/duration';

describe('Deque', () => {
  it('behaves as an array used from both ends, across growth', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('back', 'front', 'shift'), fc.integer())), (ops) => {
        const deque = new Deque<number>(2);
        const model: number[] = [];
        for (const [op, value] of ops) {
          if (op === 'back') {
            deque.pushBack(value);
            model.push(value);
          } else if (op === 'front') {
            deque.pushFront(value);
            model.unshift(value);
          } else {
            expect(deque.shift()).toBe(model.shift());
          }
          expect(deque.length).toBe(model.length);
          expect(deque.peekFront()).toBe(model[0]);
        }
      }),
    );
  });
});

describe('durations', () => {
  it('reads ISO 8601 entity durations', () => {
    expect(parseIsoDuration('PT1M')).toBe(60_000);
    expect(parseIsoDuration('PT10M')).toBe(600_000);
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('P1DT2H')).toBe(26 * 3_600_000);
    expect(() => parseIsoDuration('PT')).toThrow();
    expect(() => parseIsoDuration('1M')).toThrow();
  });

  it('reads host.json TimeSpans', () => {
    expect(parseTimeSpan('00:05:00')).toBe(300_000);
    expect(parseTimeSpan('1.02:00:00')).toBe(26 * 3_600_000);
    expect(parseTimeSpan('00:00:01.5')).toBe(1_500);
    expect(() => parseTimeSpan('5 minutes')).toThrow();
  });
});
