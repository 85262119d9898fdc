// What a delivery attempt's answer means and when to try again (pure: no I/O, no clock).
import type { AttemptHealth } from "../contract";
import { doublingDelayMs } from "../lib/backoff";

/** About 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then 3, 6 and 12 hours. */
const SCHEDULE_SECONDS = [5, 30, 120, 600, 1800, 3600, 10_800, 21_600, 43_200];
/** Cloudflare Queues' longest retry delay. */
const MAX_DELAY_SECONDS = 43_200;
/** How long deliveries wait before an invalid SUBSCRIPTIONS is read again. */
export const CONFIG_RETRY_SECONDS = 60;

/**
 * Seconds before the queue offers again a message whose task could not be reached (its
 * `attempts`th delivery): 5 s doubling to an hour, so a short outage does not burn the queue's
 * retries and a long one still ends in the dead-letter queue after days, not seconds.
 */
export function unreachableRetrySeconds(attempts: number): number {
  return doublingDelayMs(attempts, 5_000, 3_600_000) / 1000;
}

/** The one success rule: any 2xx answer. */
export function isSuccessStatus(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

/** What one attempt's answer means for its delivery. */
export type AttemptVerdict =
  | { kind: "delivered" }
  /** `410 Gone`: the subscriber asked never to receive this again. */
  | { kind: "gone" }
  /** The last attempt `max_attempts` allows failed. */
  | { kind: "exhausted" }
  | { kind: "retry"; delaySeconds: number };

/**
 * Classifies attempt number `attempt` (1-based) of a delivery allowed `maxAttempts`, from the
 * HTTP status it got (null: no answer) and the subscriber's Retry-After.
 */
export function classifyAttempt(
  attempt: number,
  maxAttempts: number,
  status: number | null,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): AttemptVerdict {
  if (isSuccessStatus(status)) return { kind: "delivered" };
  if (status === 410) return { kind: "gone" };
  if (attempt >= maxAttempts) return { kind: "exhausted" };
  return { kind: "retry", delaySeconds: retryDelaySeconds(attempt, retryAfterSeconds, random) };
}

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

/** What an attempt's HTTP status (null: no answer) says about the subscriber. */
export function answerHealth(status: number | null): AttemptHealth {
  if (isSuccessStatus(status)) return "success";
  return status === 410 ? "neutral" : "failure";
}

/**
 * Whether a paused subscription's probe found the subscriber back: it answered, and not with a
 * sign of being down (a 5xx, 408 or 429). A 4xx is about the probed delivery, which then
 * spends the attempt like any other; the rest go out again.
 */
export function probeFoundUp(status: number | null): boolean {
  if (status === null) return false;
  return status < 500 && status !== 408 && status !== 429;
}
