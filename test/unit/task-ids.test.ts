import { describe, expect, it } from 'vitest';
import { isTaskId } from '../../src/domain/task-id.ts';
import { nextIdClock, taskIdGenerator } from '../../src/use-cases/task-ids.ts';

/** The 48-bit millisecond timestamp at the front of a UUID v7. */
const millisOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('taskIdGenerator (UUID v7 task ids)', () => {
  it('makes version 7, RFC 9562 variant ids that are task ids, all different', () => {
    const next = taskIdGenerator();
    const ids = Array.from({ length: 5000 }, next);

    for (const id of ids) {
      expect(isTaskId(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carries the time of the clock, and keeps increasing within one millisecond and across pool refills', () => {
    const next = taskIdGenerator(() => 1_800_000_000_123);
    // 1,000 ids is several refills of the random pool, all in one millisecond.
    const ids = Array.from({ length: 1000 }, next);

    expect(ids.every((id) => millisOf(id) === 1_800_000_000_123)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });

  it('keeps increasing when the clock goes back', () => {
    const times = [2_000_000, 1_000_000, 1_000_000, 2_000_001];
    const next = taskIdGenerator(() => times.shift()!);
    const ids = Array.from({ length: 4 }, next);

    expect([...ids].sort()).toEqual(ids);
    expect(ids.map(millisOf)).toEqual([2_000_000, 2_000_000, 2_000_000, 2_000_001]);
  });

  it('counts up by one within a millisecond, from a start below 2^31', () => {
    const next = taskIdGenerator(() => 7_000);
    const [first, second] = [next(), next()];

    expect(counterOf(first)).toBeLessThan(2 ** 31);
    expect(counterOf(second)).toBe(counterOf(first) + 1);
  });
});

describe('nextIdClock', () => {
  it('restarts the counter below 2^31 in a later millisecond', () => {
    expect(nextIdClock({ msecs: 1, seq: 9 }, 2, 0xffff_fff0)).toEqual({ msecs: 2, seq: 0x7fff_fff0 });
  });

  it('counts up in the same or an earlier millisecond', () => {
    expect(nextIdClock({ msecs: 5, seq: 9 }, 5, 123)).toEqual({ msecs: 5, seq: 10 });
    expect(nextIdClock({ msecs: 5, seq: 9 }, 3, 123)).toEqual({ msecs: 5, seq: 10 });
  });

  it('moves on a millisecond when the counter runs out', () => {
    expect(nextIdClock({ msecs: 5, seq: 0xffff_ffff }, 5, 123)).toEqual({ msecs: 6, seq: 0 });
  });
});

/** The 32-bit counter of a UUID v7 in `uuid`'s layout: 4 bits, 8, (variant) 6, 8, 6. */
function counterOf(id: string): number {
  const hex = id.replace(/-/g, '');
  const byte = (i: number) => parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return (
    (((byte(6) & 0x0f) << 28) |
      (byte(7) << 20) |
      ((byte(8) & 0x3f) << 14) |
      (byte(9) << 6) |
      (byte(10) >>> 2)) >>>
    0
  );
}
