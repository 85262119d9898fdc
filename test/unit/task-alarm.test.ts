import { describe, expect, it, vi } from "vitest";
import { type AlarmPart, type AlarmStorage, TaskAlarm } from "../../src/task/alarm";

/** A stand-in for the object's storage that records every alarm write. */
function fakeStorage() {
  const writes: Array<number | null> = [];
  const storage: AlarmStorage = {
    setAlarm: async (time: number) => {
      writes.push(time);
    },
    deleteAlarm: async () => {
      writes.push(null);
    },
  };
  return { writes, storage };
}

const NONE: Record<AlarmPart, number | null> = {
  reconcile: null,
  images: null,
  outbox: null,
  holds: null,
  "dead-letters": null,
  index: null,
  erasure: null,
};

describe("the task's alarm", () => {
  it("sets the earliest due time once, and again only when it changes or has fired", () => {
    const { writes, storage } = fakeStorage();
    const alarm = new TaskAlarm(storage);
    alarm.schedule({ ...NONE, outbox: 5_000, index: 9_000 });
    alarm.schedule({ ...NONE, outbox: 5_000, index: 9_000 });
    alarm.schedule({ ...NONE, index: 9_000 });
    expect(writes).toEqual([5_000, 9_000]);
    alarm.forget();
    alarm.schedule({ ...NONE, index: 9_000 });
    alarm.schedule(NONE);
    alarm.schedule(NONE);
    expect(writes).toEqual([5_000, 9_000, 9_000, null]);
  });

  it("holds back only the part whose step failed", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { writes, storage } = fakeStorage();
    const alarm = new TaskAlarm(storage);
    await alarm.run("t", [
      ["index", "updating the task index", () => Promise.reject(new Error("D1 is away"))],
      ["outbox", "queueing deliveries", () => {}],
    ]);
    const now = Date.now();
    alarm.schedule({ ...NONE, index: now });
    const indexRetry = writes.at(-1) ?? 0;
    expect(indexRetry - now).toBeGreaterThanOrEqual(4_900);
    expect(indexRetry - now).toBeLessThanOrEqual(5_100);

    alarm.schedule({ ...NONE, index: now, outbox: now + 10 });
    expect(writes.at(-1)).toBe(now + 10);

    await alarm.run("t", [["index", "updating the task index", () => {}]]);
    alarm.schedule({ ...NONE, index: now + 20 });
    expect(writes.at(-1)).toBe(now + 20);
  });

  it("doubles a part's wait while its step keeps failing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { writes, storage } = fakeStorage();
    const alarm = new TaskAlarm(storage);
    for (let i = 0; i < 3; i++) alarm.settle("erasure", false);
    const now = Date.now();
    alarm.schedule({ ...NONE, erasure: now });
    expect((writes.at(-1) ?? 0) - now).toBeGreaterThanOrEqual(19_900);
  });

  it("counts a part with two steps once per run", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { writes, storage } = fakeStorage();
    const alarm = new TaskAlarm(storage);
    await alarm.run("t", [
      ["outbox", "releasing events", () => {}],
      ["outbox", "queueing deliveries", () => Promise.reject(new Error("the queue is away"))],
    ]);
    const now = Date.now();
    alarm.schedule({ ...NONE, outbox: now });
    expect((writes.at(-1) ?? 0) - now).toBeLessThanOrEqual(5_100);
  });

  it("keeps a failing part's retry where it was when later calls schedule again", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      vi.spyOn(console, "error").mockImplementation(() => {});
      const { writes, storage } = fakeStorage();
      const alarm = new TaskAlarm(storage);
      await alarm.run("t", [
        ["outbox", "queueing deliveries", () => Promise.reject(new Error("away"))],
      ]);
      alarm.schedule({ ...NONE, outbox: Date.now() });
      const retry = writes.at(-1);
      expect(retry).toBe(1_005_000);
      // A webhook arrives 3 s later: the outbox is still due "now", the retry stays put.
      vi.setSystemTime(1_003_000);
      alarm.schedule({ ...NONE, outbox: Date.now() });
      expect(writes.at(-1)).toBe(retry);
    } finally {
      vi.useRealTimers();
    }
  });

  it("brings a set alarm forward, never later, and leaves an unknown one to a full schedule", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { writes, storage } = fakeStorage();
    const alarm = new TaskAlarm(storage);
    expect(alarm.isSet()).toBe(false);
    alarm.bringForward({ outbox: 1_000 });
    expect(writes).toEqual([]);

    alarm.schedule({ ...NONE, reconcile: 600_000 });
    expect(alarm.isSet()).toBe(true);
    alarm.bringForward({ index: 700_000, images: null });
    expect(writes).toEqual([600_000]);
    alarm.bringForward({ index: 9_000, outbox: 12_000 });
    expect(writes).toEqual([600_000, 9_000]);

    // A failing part is brought forward no sooner than its backoff allows.
    await alarm.run("t", [["outbox", "queueing deliveries", () => Promise.reject(new Error("x"))]]);
    const now = Date.now();
    alarm.schedule({ ...NONE, index: now + 60_000 });
    alarm.bringForward({ outbox: now });
    expect((writes.at(-1) ?? 0) - now).toBeGreaterThanOrEqual(4_900);

    alarm.forget();
    expect(alarm.isSet()).toBe(false);
    alarm.schedule(NONE);
    expect(alarm.isSet()).toBe(false);
  });
});
