// When a subscription is paused, probed and resumed (pure: no I/O, no clock).
import type { AttemptHealth } from "../contract";
import { doublingDelayMs } from "../lib/backoff";

/** The first probe of a paused subscription, then doubling up to an hour. */
const FIRST_PROBE_MS = 60_000;
const LONGEST_PROBE_MS = 60 * 60_000;

export type Health = {
  state: "active" | "paused";
  /** Failed attempts in a row, across all tasks, with no success between them. */
  consecutive_failures: number;
  /** Epoch ms; null while active. */
  paused_at: number | null;
  next_probe_at: number | null;
  /** Probes that failed since the subscription was paused. */
  failed_probes: number;
};

export const HEALTHY: Health = {
  state: "active",
  consecutive_failures: 0,
  paused_at: null,
  next_probe_at: null,
  failed_probes: 0,
};

/**
 * The subscription after an attempt: a success clears the failures; the `pauseAfter`th failure in
 * a row pauses it (0 never does), with its first probe a minute later.
 */
export function afterAttempt(
  health: Health,
  outcome: AttemptHealth,
  pauseAfter: number,
  now: number,
): Health {
  if (outcome === "neutral") return health;
  if (outcome === "success")
    return health.state === "active" ? { ...health, consecutive_failures: 0 } : health;
  const failures = health.consecutive_failures + 1;
  if (health.state === "active" && pauseAfter > 0 && failures >= pauseAfter) {
    return {
      state: "paused",
      consecutive_failures: failures,
      paused_at: now,
      next_probe_at: now + FIRST_PROBE_MS,
      failed_probes: 0,
    };
  }
  return { ...health, consecutive_failures: failures };
}

/**
 * The subscription after a probe: one that found the subscriber up (`ok`, see probeFoundUp)
 * resumes it; otherwise the wait for the next probe doubles.
 */
export function afterProbe(health: Health, ok: boolean, now: number): Health {
  if (health.state === "active") return health;
  if (ok) return HEALTHY;
  const failed = health.failed_probes + 1;
  return {
    ...health,
    consecutive_failures: health.consecutive_failures + 1,
    failed_probes: failed,
    next_probe_at: now + doublingDelayMs(failed + 1, FIRST_PROBE_MS, LONGEST_PROBE_MS),
  };
}
