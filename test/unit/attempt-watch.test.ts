import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchAttempt } from '../../src/use-cases/attempt-watch.ts';

// The watch's clock is given (`now`), the timers are vitest's: moving only the clock stands for a
// busy event loop, whose timers fire late.
let clock = 0;
const events: string[] = [];

/** A watch that records its events with the clock's time; `alsoOnCheck` runs after a check is recorded. */
function watch(
  timeoutMs: number,
  cancelCheckEveryMs: number,
  renewEveryMs: number,
  alsoOnCheck: () => void = () => undefined,
) {
  return watchAttempt({
    timeoutMs,
    cancelCheckEveryMs,
    renewEveryMs,
    now: () => clock,
    onTimeout: () => events.push(`timeout@${clock}`),
    onCancelCheck: () => {
      events.push(`check@${clock}`);
      alsoOnCheck();
    },
    onRenewal: () => events.push(`renew@${clock}`),
  });
}

/** Moves the timers and the clock together, as an idle event loop does. */
async function idle(ms: number) {
  for (let i = 0; i < ms; i++) {
    clock += 1;
    await vi.advanceTimersByTimeAsync(1);
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  clock = 0;
  events.length = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe('watchAttempt', () => {
  it('checks and renews at each multiple of their periods, then times out once and stops', async () => {
    watch(1000, 100, 300);

    await idle(999);
    const before = [...events];
    await idle(1);
    await idle(1000);

    expect(before.filter((e) => e.startsWith('check'))).toEqual(
      [100, 200, 300, 400, 500, 600, 700, 800, 900].map((t) => `check@${t}`),
    );
    expect(before.filter((e) => e.startsWith('renew'))).toEqual(['renew@300', 'renew@600', 'renew@900']);
    expect(events.slice(before.length)).toEqual(['timeout@1000']);
  });

  it('times out at its deadline from the start even when its timer fires late', async () => {
    watch(1000, 100, 300);

    // The event loop is busy for 950 ms: the clock moves, the timers do not.
    clock += 950;
    await vi.advanceTimersByTimeAsync(100);
    await idle(60);

    // The late firing runs one check and one renewal (not a burst of the nine missed checks), and the
    // timeout comes at 1,000 ms from the start, not 1,000 ms of timer delays after it.
    expect(events).toEqual(['check@950', 'renew@950', 'timeout@1000']);
  });

  it('runs no callback after it is stopped, also when stopped from a callback', async () => {
    const stop: () => void = watch(1000, 100, 100, () => stop());

    await idle(2000);

    expect(events).toEqual(['check@100']);
  });

  it('takes a zero or invalid period as a millisecond: no spin, and no check or renewal lost', async () => {
    watch(50, 0, Number.NaN);

    await idle(60);

    const every = Array.from({ length: 49 }, (_, i) => [`check@${i + 1}`, `renew@${i + 1}`]).flat();
    expect(events).toEqual([...every, 'timeout@50']);
  });

  it('still renews the lease when a cancel check throws, and lets the error go on', async () => {
    watch(1000, 100, 100, () => {
      throw new Error('check failed');
    });
    const errors: unknown[] = [];

    for (let i = 0; i < 300; i++) {
      clock += 1;
      await vi.advanceTimersByTimeAsync(1).catch((error: unknown) => errors.push(error));
    }

    expect(events).toEqual(['check@100', 'renew@100', 'check@200', 'renew@200', 'check@300', 'renew@300']);
    expect(errors).toHaveLength(3);
  });
});
