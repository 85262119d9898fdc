import { describe, expect, it } from "vitest";
import { configProblems, retentionDays } from "../../src/config";
import { retentionCutoff, retentionEraseAt } from "../../src/task/retention-policy";
import { decodeCursor, encodeCursor } from "../../src/task-index/cursor";
import {
  INDEX_MIN_INTERVAL_MS,
  INDEX_SETTLE_MS,
  indexWriteAt,
  nextIndexVersion,
} from "../../src/task-index/policy";

describe("when a task writes its index row", () => {
  it("waits a second after a running task's first unwritten change, and never writes more than every 4 s", () => {
    expect(indexWriteAt(null, 0, false)).toBeNull();
    expect(indexWriteAt(10_000, 0, false)).toBe(10_000 + INDEX_SETTLE_MS);
    // A change just after a write waits for the interval, not for the settle time alone.
    expect(indexWriteAt(10_100, 10_000, false)).toBe(10_000 + INDEX_MIN_INTERVAL_MS);
    expect(indexWriteAt(30_000, 10_000, false)).toBe(30_000 + INDEX_SETTLE_MS);
  });

  it("writes a finished task's change at once: no burst follows it", () => {
    expect(indexWriteAt(10_100, 10_000, true)).toBe(10_100);
    expect(indexWriteAt(null, 10_000, true)).toBeNull();
  });

  it("is never more than 5 s behind a running task's change, however the changes come", () => {
    for (let writtenAt = 0; writtenAt < 20_000; writtenAt += 700) {
      for (let change = writtenAt; change < writtenAt + 10_000; change += 300) {
        const at = indexWriteAt(change, writtenAt, false) ?? Number.POSITIVE_INFINITY;
        expect(at - change).toBeLessThanOrEqual(5_000);
        expect(at).toBeGreaterThanOrEqual(change);
      }
    }
  });

  it("versions every write above the last one and above the clock", () => {
    expect(nextIndexVersion(0, 1_000)).toBe(1_000);
    expect(nextIndexVersion(5_000, 1_000)).toBe(5_001);
  });
});

describe("the task list's cursor", () => {
  it("reads back what it wrote", () => {
    const position = { updated_at: "2026-11-27T15:18:21.243Z", task_id: "c0d39b5a-345c-44" };
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it("refuses anything it did not write", () => {
    const forged = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "");
    for (const cursor of [
      "",
      "abc",
      "!!!",
      forged(["2026-01-01T00:00:00.000Z"]),
      forged(["yesterday", "task"]),
      forged(["2026-01-01T00:00:00.000Z", "../etc"]),
      forged({ updated_at: "2026-01-01T00:00:00.000Z", task_id: "t" }),
      "A".repeat(500),
    ]) {
      expect(decodeCursor(cursor), cursor).toBeNull();
    }
  });
});

describe("RETENTION_DAYS", () => {
  it("is a whole number of days from 1; anything else keeps tasks forever", () => {
    expect(retentionDays({ RETENTION_DAYS: "30" })).toBe(30);
    expect(retentionDays({ RETENTION_DAYS: " 7 " })).toBe(7);
    for (const value of [undefined, "", "0", "-1", "1.5", "30d", "1e3", "9999999"]) {
      expect(retentionDays({ RETENTION_DAYS: value }), value).toBeNull();
    }
  });

  it("erases a task that many days after its last event or finished delivery, whichever is later", () => {
    const quiet = { updatedAt: "2026-01-01T00:00:00.000Z", lastFinishedAt: null, inFlight: false };
    expect(retentionEraseAt(quiet, 30)).toBe(Date.parse("2026-01-31T00:00:00.000Z"));
    const failedLater = { ...quiet, lastFinishedAt: "2026-01-10T00:00:00.000Z" };
    expect(retentionEraseAt(failedLater, 30)).toBe(Date.parse("2026-02-09T00:00:00.000Z"));
    const failedEarlier = { ...quiet, lastFinishedAt: "2025-12-31T00:00:00.000Z" };
    expect(retentionEraseAt(failedEarlier, 30)).toBe(Date.parse("2026-01-31T00:00:00.000Z"));
  });

  it("sweeps only tasks last updated more than that many days ago: no other can be due", () => {
    const now = Date.parse("2026-03-01T00:00:00.000Z");
    const cutoff = retentionCutoff(now, 30);
    expect(cutoff).toBe("2026-01-30T00:00:00.000Z");
    // A task updated at the cutoff is erased 30 days on, at `now`, at the earliest.
    const atCutoff = { updatedAt: cutoff, lastFinishedAt: null, inFlight: false };
    expect(retentionEraseAt(atCutoff, 30)).toBe(now);
  });

  it("never erases a task while an event or a delivery is still on its way", () => {
    const busy = { updatedAt: "2020-01-01T00:00:00.000Z", lastFinishedAt: null, inFlight: true };
    expect(retentionEraseAt(busy, 1)).toBeNull();
  });

  it("is reported by check-config when it is not a number of days", () => {
    const base = { GOAPI_WEBHOOK_SECRET: "webhook-secret", SUBSCRIPTIONS: "[]" };
    expect(configProblems({ ...base, RETENTION_DAYS: "30" })).toEqual([]);
    expect(configProblems({ ...base, RETENTION_DAYS: "" })).toEqual([]);
    expect(configProblems({ ...base, RETENTION_DAYS: "a month" })).toEqual([
      expect.stringMatching(/^RETENTION_DAYS: "a month" is not a whole number of days/),
    ]);
  });
});
