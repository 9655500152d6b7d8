/** Longest delay Node's timers take; a longer one would fire after 1 ms. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

export interface AttemptWatchOptions {
  /** When the attempt runs out of time, from the start of the watch. */
  timeoutMs: number;
  /** How often to check for a cancel request. */
  cancelCheckEveryMs: number;
  /** How often to renew the attempt's lease. */
  renewEveryMs: number;
  onTimeout(): void;
  onCancelCheck(): void;
  onRenewal(): void;
  /** A monotonic clock in milliseconds; performance.now by default. */
  now?: () => number;
}

/** A period of at least a millisecond, as setInterval clamps its own (NaN and negatives too). */
function period(ms: number): number {
  return ms >= 1 ? ms : 1;
}

/**
 * Watches a running attempt with one timer: its deadline, its cancel checks and its lease renewals,
 * each due at a fixed time from the start (the deadline at timeoutMs, checks and renewals at
 * multiples of their periods). The timer is set for the earliest of them and again after each, so an
 * attempt that ends at once costs one timer instead of three. Times are measured from the start, not
 * summed from the timer's delays, so a late timer (a busy event loop) does not push the deadline
 * back; checks and renewals missed while the loop was busy run once, not in a burst. Returns a
 * function that stops the watch; after it, no callback runs.
 */
export function watchAttempt(options: AttemptWatchOptions): () => void {
  const now = options.now ?? (() => performance.now());
  const start = now();
  const timeoutMs = Number.isNaN(options.timeoutMs) ? 0 : options.timeoutMs;
  const checkEvery = period(options.cancelCheckEveryMs);
  const renewEvery = period(options.renewEveryMs);
  let nextCheck = checkEvery;
  let nextRenewal = renewEvery;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const schedule = (elapsed: number) => {
    const due = Math.min(timeoutMs, nextCheck, nextRenewal);
    timer = setTimeout(fire, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, due - elapsed)));
  };
  const fire = () => {
    timer = undefined;
    const elapsed = now() - start;
    if (elapsed >= timeoutMs) {
      stopped = true;
      options.onTimeout();
      return;
    }
    const check = elapsed >= nextCheck;
    const renew = elapsed >= nextRenewal;
    // The next of each is the first multiple of its period after now.
    if (check) nextCheck = (Math.floor(elapsed / checkEvery) + 1) * checkEvery;
    if (renew) nextRenewal = (Math.floor(elapsed / renewEvery) + 1) * renewEvery;
    // Set before the callbacks run, so that one which stops the watch clears the new timer. Each
    // callback runs even when the other throws (as two intervals would); the error then goes on.
    schedule(elapsed);
    let failure: { error: unknown } | undefined;
    const run = (callback: () => void) => {
      try {
        callback();
      } catch (error) {
        failure ??= { error };
      }
    };
    if (check) run(options.onCancelCheck);
    if (renew && !stopped) run(options.onRenewal);
    if (failure) throw failure.error;
  };

  schedule(0);
  return () => {
    stopped = true;
    clearTimeout(timer);
    timer = undefined;
  };
}
