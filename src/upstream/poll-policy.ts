// When a silent task is polled at GoAPI, and when polling stops (pure: no I/O, no clock).
import { doublingDelayMs } from "../lib/backoff";

/** Polls of a silent task double from RECONCILE_AFTER_SECONDS up to this interval. */
const LONGEST_INTERVAL_MS = 60 * 60_000;

/**
 * While polling is off (GOAPI_API_KEY unset, or a GOAPI_API_BASE refused), a task that would be
 * polled is looked at again this long after its alarm's latest run, until its give-up time, so
 * that polling turned on, or back on, reaches it.
 */
export const POLLING_OFF_LOOK_MS = 60 * 60_000;

export interface PollHistory {
  terminal: boolean;
  /** The task's first event, and its latest new one (webhook, poll or submission), epoch ms. */
  firstEventAt: number;
  lastEventAt: number;
  /**
   * The latest poll (when GoAPI answered it, or when it was asked if an event was recorded while
   * GoAPI answered), and how many polls ran since the latest event that was not a poll.
   */
  lastPollAt: number | null;
  streak: number;
}

export type PollPlan =
  | { state: "idle" }
  | { state: "scheduled"; at: number }
  | { state: "gave_up" };

/**
 * The next poll of a task that is not terminal: `afterMs` after its last event, then at doubling
 * intervals (capped at an hour) after each poll, and none once that would fall later than
 * `giveUpAfterMs` after its first event.
 */
export function planPoll(
  history: PollHistory,
  settings: { afterMs: number; giveUpAfterMs: number },
): PollPlan {
  if (history.terminal) return { state: "idle" };
  const polled = history.lastPollAt !== null && history.streak > 0;
  const from = polled ? (history.lastPollAt ?? history.lastEventAt) : history.lastEventAt;
  const interval = doublingDelayMs(
    history.streak + 1,
    settings.afterMs,
    Math.max(settings.afterMs, LONGEST_INTERVAL_MS),
  );
  const at = from + interval;
  if (at > history.firstEventAt + settings.giveUpAfterMs) return { state: "gave_up" };
  return { state: "scheduled", at };
}

/**
 * When a task's alarm must next look at its poll, or null for never: at the plan's time while
 * polling is on. While it is off, nothing is polled, so the plan's time never moves on and never
 * reaches its give-up: the look is then POLLING_OFF_LOOK_MS after `now` (the alarm's latest run,
 * so other work pushes it back), never a time already past (that would wake the alarm again at
 * once), and no later than `giveUpAt` (the task's first event plus RECONCILE_GIVE_UP_SECONDS),
 * after which the task is not looked at again.
 */
export function nextPollLookAt(
  plan: PollPlan,
  pollingOn: boolean,
  now: number,
  giveUpAt: number,
): number | null {
  if (plan.state !== "scheduled") return null;
  if (pollingOn) return plan.at;
  if (now >= giveUpAt) return null;
  return Math.min(Math.max(plan.at, now + POLLING_OFF_LOOK_MS), giveUpAt);
}
