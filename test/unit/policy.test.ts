import { describe, expect, it } from "vitest";
import {
  answerHealth,
  classifyAttempt,
  parseRetryAfter,
  probeFoundUp,
  retryDelaySeconds,
  unreachableRetrySeconds,
} from "../../src/delivery/policy";
import { isStale } from "../../src/goapi/events";
import { imageError, imageRetry } from "../../src/images/policy";
import { doublingDelayMs } from "../../src/lib/backoff";
import { afterAttempt, afterProbe, HEALTHY } from "../../src/subscribers/policy";
import { nextPollLookAt, POLLING_OFF_LOOK_MS, planPoll } from "../../src/upstream/poll-policy";

describe("retry schedule", () => {
  it("follows about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hours, capped at 12 h", () => {
    const middle = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 20].map((n) => retryDelaySeconds(n, null, middle))).toEqual([
      5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 43200,
    ]);
  });

  it("jitters by at most 20% and never goes below Retry-After", () => {
    expect(retryDelaySeconds(2, null, () => 0)).toBe(24);
    expect(retryDelaySeconds(2, null, () => 1)).toBe(36);
    expect(retryDelaySeconds(1, 900, () => 0.5)).toBe(900);
    expect(retryDelaySeconds(1, 10 ** 9, () => 0.5)).toBe(43200);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:10:00 GMT", now)).toBe(600);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("answerHealth", () => {
  it("hears a 2xx as up, a 410 as about one delivery only, anything else as maybe down", () => {
    for (const status of [200, 204, 299]) expect(answerHealth(status)).toBe("success");
    expect(answerHealth(410)).toBe("neutral");
    for (const status of [null, 199, 300, 400, 404, 429, 500, 503]) {
      expect(answerHealth(status)).toBe("failure");
    }
  });
});

describe("probeFoundUp", () => {
  it("finds the subscriber back when it answers, unless the answer says it is down", () => {
    for (const status of [200, 204, 301, 400, 404, 410, 422])
      expect(probeFoundUp(status)).toBe(true);
    for (const status of [null, 408, 429, 500, 502, 503]) expect(probeFoundUp(status)).toBe(false);
  });
});

describe("classifyAttempt", () => {
  const middle = () => 0.5;

  it("counts any 2xx as delivered, on any attempt", () => {
    for (const status of [200, 201, 204, 299]) {
      expect(classifyAttempt(1, 3, status, null, middle)).toEqual({ kind: "delivered" });
      expect(classifyAttempt(3, 3, status, null, middle)).toEqual({ kind: "delivered" });
    }
  });

  it("stops at 410 Gone at once, whatever attempts are left", () => {
    expect(classifyAttempt(1, 10, 410, null, middle)).toEqual({ kind: "gone" });
  });

  it("retries other answers and no answer on the schedule, until max_attempts", () => {
    for (const status of [null, 199, 300, 404, 429, 500, 503]) {
      expect(classifyAttempt(1, 3, status, null, middle)).toEqual({
        kind: "retry",
        delaySeconds: 5,
      });
      expect(classifyAttempt(2, 3, status, null, middle)).toEqual({
        kind: "retry",
        delaySeconds: 30,
      });
      expect(classifyAttempt(3, 3, status, null, middle)).toEqual({ kind: "exhausted" });
    }
    expect(classifyAttempt(1, 1, 500, null, middle)).toEqual({ kind: "exhausted" });
  });

  it("waits at least Retry-After before the next attempt", () => {
    expect(classifyAttempt(1, 3, 429, 600, middle)).toEqual({ kind: "retry", delaySeconds: 600 });
  });
});

describe("imageRetry", () => {
  const now = 1_000_000;

  it("tries a failing source 5 times over about 3 minutes, then records it as failed", () => {
    const waits = [1, 2, 3, 4].map((n) => {
      const next = imageRetry(n, true, now);
      return next.state === "pending" ? next.nextTryAt - now : null;
    });
    expect(waits).toEqual([2_000, 10_000, 30_000, 120_000]);
    expect(waits.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBeLessThan(200_000);
    expect(imageRetry(5, true, now)).toEqual({ state: "failed" });
  });

  it("gives up at once on a failure that cannot pass", () => {
    expect(imageRetry(1, false, now)).toEqual({ state: "failed" });
  });
});

describe("imageError", () => {
  it("says the reason and where the tries stand", () => {
    const pending = { state: "pending", nextTryAt: 0 } as const;
    expect(imageError("a.test answered 503", 2, pending, true)).toBe(
      "a.test answered 503 (attempt 2 of 5)",
    );
    expect(imageError("not an image", 1, { state: "failed" }, false)).toBe(
      "not an image (not retried)",
    );
  });

  it("keeps at most 300 characters of a reason, which may name a host the payload chose", () => {
    // A host a megabyte long, beside a source URL as long, could make the image's row too
    // large to record the failure in.
    const host = `${"a".repeat(1024 * 1024)}.test`;
    const error = imageError(`${host} is not in IMAGE_HOSTS`, 1, { state: "failed" }, false);
    expect(error).toBe(`${"a".repeat(300)}… (not retried)`);
    const exactly = "b".repeat(300);
    expect(imageError(exactly, 1, { state: "failed" }, false)).toBe(`${exactly} (not retried)`);
  });
});

describe("isStale", () => {
  it("never lets progress or status go backwards, and keeps terminal states", () => {
    const at = (status: "pending" | "processing" | "completed" | "failed", progress: number) => ({
      status,
      progress,
    });
    expect(isStale(at("processing", 60), at("processing", 40))).toBe(true);
    expect(isStale(at("processing", 40), at("processing", 60))).toBe(false);
    expect(isStale(at("processing", 10), at("pending", 0))).toBe(true);
    expect(isStale(at("pending", 0), at("completed", 100))).toBe(false);
    expect(isStale(at("completed", 100), at("processing", 90))).toBe(true);
    expect(isStale(at("failed", 0), at("completed", 100))).toBe(true);
  });
});

describe("unreachableRetrySeconds", () => {
  it("waits 5 s after the first failure, doubling to an hour", () => {
    expect([1, 2, 3, 4, 10, 11, 12, 100].map(unreachableRetrySeconds)).toEqual([
      5, 10, 20, 40, 2560, 3600, 3600, 3600,
    ]);
  });
});

describe("doublingDelayMs", () => {
  it("doubles from the first delay and stops at the cap", () => {
    expect([0, 1, 2, 3, 8, 1000].map((n) => doublingDelayMs(n, 60_000, 3_600_000))).toEqual([
      60_000, 60_000, 120_000, 240_000, 3_600_000, 3_600_000,
    ]);
  });
});

describe("planPoll", () => {
  const settings = { afterMs: 600_000, giveUpAfterMs: 86_400_000 };
  const start = 1_000_000_000;
  const quiet = {
    terminal: false,
    firstEventAt: start,
    lastEventAt: start,
    lastPollAt: null,
    streak: 0,
  };

  it("polls a task that has been silent for RECONCILE_AFTER_SECONDS", () => {
    expect(planPoll(quiet, settings)).toEqual({ state: "scheduled", at: start + 600_000 });
  });

  it("polls again at doubling intervals after each poll, capped at an hour", () => {
    const gaps = [1, 2, 3, 4, 5].map((streak) => {
      const lastPollAt = start + 10_000_000;
      const plan = planPoll({ ...quiet, lastPollAt, streak }, settings);
      return plan.state === "scheduled" ? plan.at - lastPollAt : null;
    });
    expect(gaps).toEqual([1_200_000, 2_400_000, 3_600_000, 3_600_000, 3_600_000]);
  });

  it("counts from the latest event when one arrived after the last poll", () => {
    const plan = planPoll(
      { ...quiet, lastEventAt: start + 5_000_000, lastPollAt: start + 4_000_000, streak: 0 },
      settings,
    );
    expect(plan).toEqual({ state: "scheduled", at: start + 5_600_000 });
  });

  it("gives up once the next poll would fall after RECONCILE_GIVE_UP_SECONDS", () => {
    const late = { ...quiet, lastPollAt: start + 84_000_000, streak: 7 };
    expect(planPoll(late, settings)).toEqual({ state: "gave_up" });
  });

  it("never polls a terminal task", () => {
    expect(planPoll({ ...quiet, terminal: true }, settings)).toEqual({ state: "idle" });
  });
});

describe("nextPollLookAt", () => {
  const now = 5_000_000_000;
  const giveUpAt = now + 86_400_000;
  const due = { state: "scheduled", at: now - 1_000 } as const;

  it("looks at the plan's time while polling is on", () => {
    expect(nextPollLookAt(due, true, now, giveUpAt)).toBe(now - 1_000);
  });

  it("looks again an hour on while polling is off, never at a time already past", () => {
    expect(nextPollLookAt(due, false, now, giveUpAt)).toBe(now + POLLING_OFF_LOOK_MS);
    expect(POLLING_OFF_LOOK_MS).toBe(3_600_000);
    const later = { state: "scheduled", at: now + 7_200_000 } as const;
    expect(nextPollLookAt(later, false, now, giveUpAt)).toBe(now + 7_200_000);
  });

  it("stops looking at the give-up time while polling is off, though the plan never moves", () => {
    expect(nextPollLookAt(due, false, giveUpAt - 1_800_000, giveUpAt)).toBe(giveUpAt);
    expect(nextPollLookAt(due, false, giveUpAt, giveUpAt)).toBeNull();
    // With polling on, the plan itself gives up (planPoll).
    expect(nextPollLookAt(due, true, giveUpAt, giveUpAt)).toBe(now - 1_000);
  });

  it("never looks at a terminal or given-up task", () => {
    for (const pollingOn of [true, false]) {
      expect(nextPollLookAt({ state: "idle" }, pollingOn, now, giveUpAt)).toBeNull();
      expect(nextPollLookAt({ state: "gave_up" }, pollingOn, now, giveUpAt)).toBeNull();
    }
  });
});

describe("subscriber health", () => {
  const now = 5_000_000;
  const failing = (times: number, pauseAfter: number) => {
    let health = HEALTHY;
    for (let i = 0; i < times; i++) health = afterAttempt(health, "failure", pauseAfter, now);
    return health;
  };

  it("pauses after pause_after_failures failures in a row, and probes a minute later", () => {
    expect(failing(9, 10)).toMatchObject({ state: "active", consecutive_failures: 9 });
    expect(failing(10, 10)).toEqual({
      state: "paused",
      consecutive_failures: 10,
      paused_at: now,
      next_probe_at: now + 60_000,
      failed_probes: 0,
    });
    expect(failing(500, 0)).toMatchObject({ state: "active", consecutive_failures: 500 });
  });

  it("starts counting again after a success, and ignores a 410", () => {
    const healed = afterAttempt(failing(9, 10), "success", 10, now);
    expect(healed.consecutive_failures).toBe(0);
    expect(afterAttempt(failing(9, 10), "neutral", 10, now)).toEqual(failing(9, 10));
  });

  it("doubles the wait after each failed probe up to an hour, and resumes on a good one", () => {
    let health = failing(3, 3);
    const waits: number[] = [];
    for (let probe = 0; probe < 8; probe++) {
      health = afterProbe(health, false, now);
      waits.push((health.next_probe_at ?? 0) - now);
    }
    expect(waits).toEqual([
      120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000,
    ]);
    expect(health.state).toBe("paused");
    expect(afterProbe(health, true, now)).toEqual(HEALTHY);
  });
});
