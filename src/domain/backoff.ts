/**
 * The delay before retry number `attempt` (1-based: the attempt that just failed): exponential with
 * full jitter, capped. Full jitter spreads a burst of failing tasks so they do not retry in lockstep.
 *
 * @example
 * backoffSeconds(3, { baseSeconds: 2, maxSeconds: 900 }, Math.random) // somewhere in [1, 8]
 */
export function backoffSeconds(
  attempt: number,
  policy: { baseSeconds: number; maxSeconds: number },
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1));
  // Never zero: a retry at once would hit the same transient fault.
  const floor = Math.min(ceiling, Math.max(policy.baseSeconds / 2, 0.05));
  return floor + random() * (ceiling - floor);
}
