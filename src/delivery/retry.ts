// When to try a failed delivery again: exponential backoff with jitter, honouring Retry-After.

/** About 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then 3, 6 and 12 hours (SPEC §5). */
const SCHEDULE_SECONDS = [5, 30, 120, 600, 1800, 3600, 10_800, 21_600, 43_200];
/** Cloudflare Queues' longest retry delay. */
export const MAX_DELAY_SECONDS = 43_200;

/**
 * Seconds to wait before attempt `attempt + 1`, given `attempt` attempts so far: the schedule
 * with ±20% jitter (so retries of many deliveries spread out), never less than `retryAfter`.
 */
export function retryDelaySeconds(
  attempt: number,
  retryAfter: number | null,
  random: () => number = Math.random,
): number {
  const base = SCHEDULE_SECONDS[Math.min(attempt, SCHEDULE_SECONDS.length) - 1] ?? 5;
  const jittered = Math.round(base * (0.8 + 0.4 * random()));
  return Math.min(MAX_DELAY_SECONDS, Math.max(jittered, retryAfter ?? 0, 1));
}

/** Retry-After as seconds from `now`: delta-seconds or an HTTP date; null when absent or bad. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null || value.trim() === "") return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}
