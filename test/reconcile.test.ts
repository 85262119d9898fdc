// Reconciliation: a task that goes silent is polled at GoAPI by its Durable Object, on a doubling
// schedule, until it is terminal or given up. RECONCILE_AFTER_SECONDS is set to 1 s here.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import { runAlarmNow } from "./support/alarm";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { GOAPI_API_KEY } from "./support/keys";
import { latch } from "./support/latch";
import {
  deliveries,
  eventually,
  goapiAnswer,
  goapiCreate,
  goapiRequests,
  goapiTask,
  pngBytes,
  serveImage,
} from "./support/network";
import { alarmOf, quietTask } from "./support/quiet-task";
import { adminPost, ingest, newTaskId, taskView } from "./support/requests";
import { refuseTaskUpdates } from "./support/storage-faults";

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function goapiData(taskId: string, status: string, output: Record<string, unknown> = {}) {
  const body = clone(fixtures.v1Completed);
  return {
    ...body.data,
    task_id: taskId,
    status,
    output: {
      ...body.data.output,
      image_url: "",
      temporary_image_urls: [],
      progress: 0,
      ...output,
    },
  };
}

const polls = (taskId: string) => goapiRequests(taskId).filter((r) => r.method === "GET");

describe("reconciliation", () => {
  it("recovers a submitted task whose webhooks never came: images archived, delivered once", async () => {
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1" });
    const taskId = newTaskId();
    goapiCreate(() => goapiAnswer(goapiData(taskId, "pending")));
    expect(
      (
        await adminPost("/v1/tasks", {
          model: "midjourney",
          task_type: "imagine",
          input: { prompt: "x" },
        })
      ).status,
    ).toBe(201);
    const image = serveImage(
      `/${taskId}/grid.png`,
      () => new Response(pngBytes(2048), { headers: { "content-type": "image/png" } }),
    );
    const done = goapiData(taskId, "completed", { image_url: image, progress: 100 });
    goapiTask(taskId, () => goapiAnswer(done));

    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.status === "completed" && v.images[0]?.state === "stored" ? v : undefined;
    });
    expect(view.events.map((e) => [e.type, e.source])).toEqual([
      ["task.created", "submit"],
      ["task.completed", "poll"],
    ]);
    expect(view.reconcile).toMatchObject({ state: "idle", polls: 1, last_error: null });
    const completed = await eventually(() => {
      const sent = deliveries(taskId).filter(
        (d) => d.path === "/all" && d.body.includes("task.completed"),
      );
      return sent.length > 0 ? sent : undefined;
    });
    expect(JSON.parse(completed[0]?.body ?? "{}").data.images[0].url).toMatch(
      /^https:\/\/midhook\.test\/images\//,
    );

    // GoAPI's webhook finally arrives: the same event, nothing forwarded twice.
    const late = clone(fixtures.v1Completed);
    late.data = { ...late.data, ...done };
    expect(await ingest(late)).toMatchObject({ duplicate: true });
    await sleep(1500);
    expect(
      deliveries(taskId).filter((d) => d.path === "/all" && d.body.includes("task.completed")),
    ).toHaveLength(1);
    expect(polls(taskId)).toHaveLength(1);
  });

  it("polls again at doubling intervals while GoAPI fails, then gives up", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1", RECONCILE_GIVE_UP_SECONDS: "6" });
    const taskId = newTaskId();
    goapiTask(taskId, () => new Response("upstream down", { status: 500 }));
    await ingest(v2Event(taskId, "processing", 10));
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.state === "gave_up" ? v : undefined;
    }, 15_000);
    expect(view.reconcile).toMatchObject({ polls: 2, next_poll_at: null });
    expect(view.reconcile.last_error).toMatch(/answered 500/);
    // After 1 s, then 2 s later; the next, 4 s later, would fall after the 6 s give-up.
    expect(polls(taskId)).toHaveLength(2);
    await sleep(1500);
    expect(polls(taskId)).toHaveLength(2);
    expect(view.status).toBe("processing");
  });

  it("counts a poll whose answer could not be recorded, so that polling still doubles and gives up", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1", RECONCILE_GIVE_UP_SECONDS: "6" });
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer(goapiData(taskId, "processing", { progress: 50 })));
    await ingest(v2Event(taskId, "processing", 10));
    // Recording the polled progress fails every time: the task's update is refused.
    await refuseTaskUpdates(taskId);
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.state === "gave_up" ? v : undefined;
    }, 15_000);
    expect(view.reconcile.polls).toBe(2);
    // The message only, not a stack.
    expect(view.reconcile.last_error).toMatch(
      /^recording GoAPI's answer failed: simulated failure: SQLITE_CONSTRAINT[^\n]*$/,
    );
    expect(polls(taskId)).toHaveLength(2);
    expect(view).toMatchObject({ status: "processing", progress: 10 });
  });

  it("schedules the next poll twice as far after each one, and shows when", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1" });
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer(goapiData(taskId, "processing", { progress: 10 })));
    await ingest(v2Event(taskId, "processing", 10));
    const first = Date.parse((await taskView(taskId)).reconcile.next_poll_at ?? "");
    const afterOne = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.polls === 1 ? v.reconcile : undefined;
    });
    const second = Date.parse(afterOne.next_poll_at ?? "");
    expect(second - first).toBeGreaterThanOrEqual(1900);
    expect(afterOne.state).toBe("scheduled");
  });

  it("brings the alarm forward to the poll a new event restarts", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    // Three polls in a row: the next waits 8 x 10 minutes; the index row waits an hour.
    expect(await quietTask(taskId, { polls: 3 })).toBeGreaterThan(Date.now() + 55 * 60_000);
    await ingest(v2Event(taskId, "processing", 50));
    // The event restarts the doubling: the next poll is RECONCILE_AFTER_SECONDS (600) after it.
    const at = (await alarmOf(taskId)) ?? 0;
    expect(at).toBeGreaterThan(Date.now() + 9 * 60_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 10 * 60_000);
  });

  it("polls nothing for a task that finished on time, and leaves no alarm for it", async () => {
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1", SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const done = clone(fixtures.v2Failed);
    done.task_id = taskId;
    await ingest(done);
    await sleep(2500);
    expect(polls(taskId)).toEqual([]);
    expect((await taskView(taskId)).reconcile).toEqual({
      state: "idle",
      next_poll_at: null,
      polls: 0,
      last_error: null,
    });
    const alarm = await runInDurableObject(taskObject(env, taskId), (_, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBeNull();
  });

  it.each([
    ["GOAPI_API_KEY is unset", { GOAPI_API_KEY: "" }],
    ["GOAPI_API_BASE is plain http to a remote host", { GOAPI_API_BASE: "http://api.goapi.test" }],
  ])(
    "polls nothing while %s, looks again hourly, and polls once it is fixed",
    async (_, settings) => {
      vi.spyOn(console, "warn").mockImplementation(() => {});
      const fixed = Object.fromEntries(Object.keys(settings).map((k) => [k, Reflect.get(env, k)]));
      overrideEnv({ ...settings, RECONCILE_AFTER_SECONDS: "1", SUBSCRIPTIONS: "[]" });
      const taskId = newTaskId();
      await ingest(v2Event(taskId, "processing", 30));
      await sleep(2500);
      expect(polls(taskId)).toEqual([]);
      expect((await taskView(taskId)).reconcile.state).toBe("idle");
      // The index row written, the alarm is left for the next look, not cleared.
      const alarm = (await alarmOf(taskId)) ?? 0;
      expect(alarm).toBeGreaterThan(Date.now() + 55 * 60_000);
      expect(alarm).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
      Object.assign(env, fixed);
      goapiTask(taskId, () => goapiAnswer(goapiData(taskId, "processing", { progress: 40 })));
      await runAlarmNow(taskObject(env, taskId));
      expect(polls(taskId)).toHaveLength(1);
      expect((await taskView(taskId)).reconcile).toMatchObject({ state: "scheduled", polls: 1 });
    },
  );

  it("stops looking at a task past its give-up time while polling is off", async () => {
    overrideEnv({
      GOAPI_API_KEY: "",
      RECONCILE_AFTER_SECONDS: "1",
      RECONCILE_GIVE_UP_SECONDS: "2",
      SUBSCRIPTIONS: "[]",
    });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 30));
    expect(await alarmOf(taskId)).not.toBeNull();
    await sleep(2500);
    await runAlarmNow(taskObject(env, taskId));
    expect(await alarmOf(taskId)).toBeNull();
    expect(polls(taskId)).toEqual([]);
  });

  it("keeps a secret GoAPI echoes in its error out of the poll's error and the log", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
    });
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1" });
    const taskId = newTaskId();
    goapiTask(taskId, () =>
      Response.json(
        { code: 401, data: null, message: `Invalid API key: ${GOAPI_API_KEY}` },
        { status: 401 },
      ),
    );
    await ingest(v2Event(taskId, "processing", 10));
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.polls >= 1 ? v : undefined;
    });
    expect(view.reconcile.last_error).toBe("rejected: [redacted]");
    expect(lines.filter((line) => line.includes(GOAPI_API_KEY))).toEqual([]);
    expect(lines.join("\n")).toContain("[redacted]");
  });

  it("records a polled status it does not know as processing, and logs it", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1", SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer(goapiData(taskId, "Queued-For-GPU", { progress: 20 })));
    await ingest(v2Event(taskId, "processing", 10));
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.polls >= 1 ? v : undefined;
    });
    expect(view.events.map((e) => [e.status, e.progress, e.source])).toEqual([
      ["processing", 10, "webhook"],
      ["processing", 20, "poll"],
    ]);
    expect(view.reconcile.last_error).toBeNull();
    const unknown = warn.mock.calls.filter(([text]) =>
      String(text).startsWith("unknown GoAPI status"),
    );
    // Each poll that hears it says it; the first one is in by now.
    expect(unknown[0]).toEqual([
      "unknown GoAPI status, recorded as processing",
      { task_id: taskId, status: "Queued-For-GPU" },
    ]);
  });

  it("waits RECONCILE_AFTER_SECONDS from an event heard while GoAPI answered a poll", async () => {
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1", SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    const [asked, ask] = latch();
    const [answered, answer] = latch();
    goapiTask(taskId, async () => {
      ask();
      await answered;
      return goapiAnswer(goapiData(taskId, "processing", { progress: 10 }));
    });
    await ingest(v2Event(taskId, "processing", 10));
    await asked;
    await ingest(v2Event(taskId, "processing", 50));
    await sleep(1500);
    answer();
    // The event restarted the doubling: the next poll is due 1 s after it, which has passed,
    // so it comes at once; not 2 s after this answer, as the second poll in a row would.
    await eventually(() => (polls(taskId).length === 2 ? true : undefined), 1_000);
  });

  it("records a hostile answer as the poll's error and keeps the task", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1" });
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer({ ...goapiData(newTaskId(), "completed") }));
    await ingest(v2Event(taskId, "processing", 10));
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.reconcile.polls >= 1 ? v : undefined;
    });
    expect(view.reconcile.last_error).toBe("malformed: GoAPI answered about another task");
    expect(view.status).toBe("processing");
  });
});
