// Reconnect pacing for the hub session: exponential delays from 1 s doubling to a 30 s cap,
// with jitter so many agents cut off together do not return together.

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30_000;

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): the exponential step
 * `base * 2^attempt`, capped, then drawn uniformly from its upper half ("equal jitter").
 *
 * @param attempt retries already made since the last successful registration
 * @param random a number in [0, 1)
 */
export function backoffDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = BACKOFF_BASE_MS,
  capMs = BACKOFF_CAP_MS,
): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
