import {
  createScheduledController,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { deadLetterLog, taskObject } from "../src/bindings";
import type { TaskIndexEntry, TaskListPage } from "../src/contract";
import { parseGoapiPayload } from "../src/goapi/normalize";
import worker, { type TaskObject } from "../src/index";
import { sweepRetention } from "../src/retention-sweep";
import { TaskIndexSync } from "../src/task/index-sync";
import { migrate } from "../src/task/migrations";
import { upsertIndexEntry } from "../src/task-index/store";
import { runAlarmNow } from "./support/alarm";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { ADMIN_TOKEN } from "./support/keys";
import { latch } from "./support/latch";
import {
  eventually,
  goapiAnswer,
  goapiTask,
  pngBytes,
  serveImage,
  subscriberAnswers,
} from "./support/network";
import { alarmOf, quietTask } from "./support/quiet-task";
import { adminGet, deadLetterPage, ingest, newTaskId, taskView } from "./support/requests";
import { readView, views } from "./support/views";

/** The task's row in the index, or null. */
function indexRow(taskId: string) {
  return env.INDEX.prepare("SELECT * FROM tasks WHERE task_id = ?")
    .bind(taskId)
    .first<TaskIndexEntry & { version: number }>();
}

/** From now on, D1 notes every write of a row of the index (an insert or an applied update). */
function noteIndexWrites() {
  return env.INDEX.exec(
    "CREATE TABLE IF NOT EXISTS index_writes (task_id TEXT, progress INTEGER); CREATE TRIGGER IF NOT EXISTS note_inserts AFTER INSERT ON tasks BEGIN INSERT INTO index_writes VALUES (NEW.task_id, NEW.progress); END; CREATE TRIGGER IF NOT EXISTS note_updates AFTER UPDATE ON tasks BEGIN INSERT INTO index_writes VALUES (NEW.task_id, NEW.progress); END;",
  );
}

/** The progress each noted write of the task's index row carried, in order. */
async function indexWrites(taskId: string): Promise<number[]> {
  const { results } = await env.INDEX.prepare(
    "SELECT progress FROM index_writes WHERE task_id = ? ORDER BY rowid",
  )
    .bind(taskId)
    .all<{ progress: number }>();
  return results.map((row) => row.progress);
}

async function listPage(query = ""): Promise<TaskListPage> {
  const response = await adminGet(`/v1/tasks?${query}`);
  expect(response.status, await response.clone().text()).toBe(200);
  return readView(response, views.taskList);
}

function finishedWithImages(taskId: string) {
  const body = clone(fixtures.v2Finished);
  body.task_id = taskId;
  const png = () => new Response(pngBytes(4096), { headers: { "content-type": "image/png" } });
  body.task_result.image_url = serveImage(`/${taskId}/grid.png`, png);
  body.task_result.image_urls = [serveImage(`/${taskId}/1.png`, png)] as never[];
  return body;
}

function deleteTask(taskId: string, token = ADMIN_TOKEN): Promise<Response> {
  return exports.default.fetch(`https://midhook.test/v1/tasks/${taskId}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Every table of the task's object with the rows it holds, and its alarm. */
function objectContents(taskId: string) {
  return runInDurableObject(taskObject(env, taskId), async (_, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name != 'sqlite_sequence'",
      )
      .toArray()
      .map((row) => row.name);
    const rows = Object.fromEntries(
      tables
        .filter((name) => !["schema_version", "index_sync"].includes(name))
        .map((name) => [name, state.storage.sql.exec(`SELECT * FROM ${name}`).toArray().length]),
    );
    return { rows, alarm: await state.storage.getAlarm() };
  });
}

describe("the cross-task index", () => {
  it("writes the row within seconds of an event that comes while the alarm waits for a later poll", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    expect(await quietTask(taskId, { holdIndex: false })).toBeGreaterThan(Date.now() + 5 * 60_000);
    await ingest(v2Event(taskId, "processing", 60));
    await eventually(async () => ((await indexRow(taskId))?.progress === 60 ? true : undefined));
  });

  it("lists a task within 5 s of its event, and its thumbnail once the main image is stored", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 30));
    const listed = await eventually(async () => {
      const page = await listPage("limit=100");
      return page.items.find((item) => item.task_id === taskId);
    }, 5_000);
    expect(listed).toEqual({
      task_id: taskId,
      task_type: "imagine",
      status: "processing",
      progress: 30,
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
      thumbnail_url: null,
    });

    await ingest(finishedWithImages(taskId));
    const done = await eventually(async () => {
      const row = await indexRow(taskId);
      return row?.thumbnail ? row : undefined;
    });
    expect(done).toMatchObject({ status: "completed", progress: 100, thumbnail: "main.png" });
    const page = await listPage("status=completed&limit=100");
    expect(page.items.find((item) => item.task_id === taskId)?.thumbnail_url).toBe(
      `https://midhook.test/images/${taskId}/main.png`,
    );
    const image = await exports.default.fetch(`https://midhook.test/images/${taskId}/main.png`);
    expect(image.status).toBe(200);
  });

  it("lists a task as completed within 5 s while its images are still being copied", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 30));
    await eventually(async () => ((await indexRow(taskId))?.progress === 30 ? true : undefined));
    const [served, serve] = latch();
    onTestFinished(serve);
    const body = clone(fixtures.v2Finished);
    body.task_id = taskId;
    body.task_result.image_url = serveImage(`/${taskId}/grid.png`, async () => {
      await served;
      return new Response(pngBytes(4096), { headers: { "content-type": "image/png" } });
    });
    body.task_result.image_urls = [];
    // The copy is held, so the run that starts it cannot reach anything after it: the row is
    // written before the copies, and at once, though it was written less than 4 s ago.
    await ingest(body);
    const completed = await eventually(async () => {
      const row = await indexRow(taskId);
      return row?.status === "completed" ? row : undefined;
    }, 5_000);
    expect(completed.thumbnail).toBeNull();
    serve();
    const stored = await eventually(async () => {
      const row = await indexRow(taskId);
      return row?.thumbnail ? row : undefined;
    });
    expect(stored.thumbnail).toBe("main.png");
  });

  it("writes a burst of ten progress events to D1 once, not ten times", async () => {
    await noteIndexWrites();
    const taskId = newTaskId();
    // Recorded in one turn of the object: no alarm can run between them, however slow the
    // machine (over the network they would share a write only if they came within a second).
    await runInDurableObject(taskObject(env, taskId), (instance: TaskObject) => {
      for (let progress = 0; progress < 100; progress += 10) {
        const body = v2Event(taskId, "processing", progress);
        const parsed = parseGoapiPayload(body);
        if (!parsed.ok) throw new Error(parsed.error);
        instance.recordEvent(parsed.value, JSON.stringify(body), "https://midhook.test");
      }
    });
    await eventually(async () => ((await indexRow(taskId))?.progress === 90 ? true : undefined));
    // Nothing else is due: no later write follows.
    const sync = await runInDurableObject(taskObject(env, taskId), (_, state) =>
      state.storage.sql.exec("SELECT dirty_since FROM index_sync").one(),
    );
    expect(sync.dirty_since).toBeNull();
    expect(await indexWrites(taskId)).toEqual([90]);
  });

  it("coalesces ten progress events a quarter second apart into two writes, not ten", async () => {
    const taskId = newTaskId();
    await noteIndexWrites();
    // TaskIndexSync on a task object's own SQLite, on a clock of its own: the task's row is
    // changed by hand, so no alarm of the object runs meanwhile.
    const start = 1_000_000;
    const events = Array.from({ length: 10 }, (_, i) => start + i * 250);
    await runInDurableObject(taskObject(env, taskId), async (_, state) => {
      const sql = state.storage.sql;
      const at = (ms: number) => new Date(ms).toISOString();
      sql.exec(
        `INSERT INTO task (task_id, task_type, model, status, progress, created_at, updated_at, base_url)
         VALUES (?, 'imagine', 'midjourney', 'processing', 0, ?, ?, 'https://midhook.test')`,
        taskId,
        at(start),
        at(start),
      );
      const sync = new TaskIndexSync(sql, env.INDEX);
      for (let now = start; now <= start + 20_000; now += 50) {
        const event = events.indexOf(now);
        if (event >= 0) {
          sql.exec("UPDATE task SET progress = ?, updated_at = ?", event * 10, at(now));
          sync.touch(now);
        }
        await sync.writeDue(now);
      }
      expect(sync.nextWriteAt(null)).toBeNull();
    });
    // The first write a second after the first event, with what the events until then left;
    // the second once 4 s have passed since it, with the last event.
    expect(await indexWrites(taskId)).toEqual([40, 90]);
    expect(await indexRow(taskId)).toMatchObject({ status: "processing", progress: 90 });
  });

  it("writes an event that arrived while the alarm was busy, not the state the run began with", async () => {
    // Progress events make no delivery here, so nothing but the index wants an alarm for them.
    overrideEnv({
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "created",
          url: "https://subscriber.test/created",
          secret: "env:ALL_WEBHOOK_SECRET",
          events: ["task.created"],
        },
      ]),
    });
    const taskId = newTaskId();
    const [sending, entered] = latch();
    const [held, release] = latch();
    const sendBatch = env.DELIVERY_QUEUE.sendBatch.bind(env.DELIVERY_QUEUE);
    let holding = false;
    // Only this task's first send is held: another task's alarm may send meanwhile.
    vi.spyOn(env.DELIVERY_QUEUE, "sendBatch").mockImplementation(async (messages, options) => {
      const list = [...messages];
      const mine = list.some((m) => (m.body as { task_id?: string }).task_id === taskId);
      if (mine && !holding) {
        holding = true;
        entered();
        await held;
      }
      return sendBatch(list, options);
    });
    await ingest(v2Event(taskId, "pending", 0));
    await sending; // the alarm run is queueing the task.created delivery
    await ingest(v2Event(taskId, "processing", 40));
    await new Promise((done) => setTimeout(done, 1_200)); // the index write is due
    release();
    const row = await eventually(async () => {
      const entry = await indexRow(taskId);
      return entry?.progress === 40 ? entry : undefined;
    }, 10_000);
    expect(row).toMatchObject({ status: "processing" });
  });

  it("retries a failed index write until it lands", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    let away = true;
    const bringBack = async () => {
      if (!away) return;
      await env.INDEX.exec("ALTER TABLE tasks_away RENAME TO tasks");
      away = false;
    };
    await env.INDEX.exec("ALTER TABLE tasks RENAME TO tasks_away");
    // The index's table comes back however this test ends: every later test reads it.
    onTestFinished(bringBack);
    await ingest(v2Event(taskId, "pending", 0));
    await runAlarmNow(stub, (state) => {
      state.storage.sql.exec("UPDATE index_sync SET dirty_since = 0");
    });
    expect(errors.mock.calls.some((call) => String(call).includes("updating the task index"))).toBe(
      true,
    );
    const retry = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(retry).not.toBeNull();
    await bringBack();
    await runAlarmNow(stub);
    expect(await indexRow(taskId)).toMatchObject({ task_id: taskId, status: "pending" });
  });

  it("never lets a late write overwrite a newer one", async () => {
    const taskId = newTaskId();
    const entry: TaskIndexEntry = {
      task_id: taskId,
      task_type: "imagine",
      status: "completed",
      progress: 100,
      created_at: "2026-01-01T00:00:00.000Z",
      updated_at: "2026-01-01T00:01:00.000Z",
      base_url: "https://midhook.test",
      thumbnail: "main.png",
    };
    await upsertIndexEntry(env.INDEX, entry, 2);
    await upsertIndexEntry(env.INDEX, { ...entry, status: "processing", progress: 40 }, 1);
    expect(await indexRow(taskId)).toMatchObject({
      status: "completed",
      progress: 100,
      version: 2,
    });
  });
});

describe("GET /v1/tasks", () => {
  it("pages newest first with a cursor and filters by status", async () => {
    const marker = `page-${crypto.randomUUID().slice(0, 8)}`;
    // Rows far in the future: no other test's task comes between them.
    for (let i = 0; i < 5; i++) {
      await upsertIndexEntry(
        env.INDEX,
        {
          task_id: `${marker}-${i}`,
          task_type: "imagine",
          status: i % 2 === 0 ? "failed" : "processing",
          progress: i,
          created_at: "2030-01-01T00:00:00.000Z",
          updated_at: `2099-01-01T00:00:0${i}.000Z`,
          base_url: "https://origin.test",
          thumbnail: null,
        },
        1,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null && seen.length < 5) {
      const page: TaskListPage = await listPage(`limit=2&cursor=${cursor}`);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.task_id).filter((id) => id.startsWith(marker)));
      cursor = page.next_cursor;
    }
    expect(seen).toEqual([4, 3, 2, 1, 0].map((i) => `${marker}-${i}`));

    const failed = await listPage("status=failed&limit=3");
    expect(failed.items.map((item) => item.task_id)).toEqual(
      [4, 2, 0].map((i) => `${marker}-${i}`),
    );
    expect(failed.items.every((item) => item.status === "failed")).toBe(true);
  });

  it("answers 400 for a status, cursor or limit it does not know, and 401 without the token", async () => {
    for (const query of [
      "status=done",
      "cursor=abc",
      "cursor=eyJ4IjoxfQ",
      "limit=0",
      "limit=101",
    ]) {
      const response = await adminGet(`/v1/tasks?${query}`);
      expect(response.status, query).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: "invalid_request" } });
    }
    expect((await adminGet("/v1/tasks?status=&cursor=&limit=")).status).toBe(200);
    expect((await adminGet("/v1/tasks", null)).status).toBe(401);
  });

  it("builds thumbnail URLs from PUBLIC_BASE_URL when it is set", async () => {
    overrideEnv({ PUBLIC_BASE_URL: "https://img.example.com/" });
    const taskId = `thumb-${crypto.randomUUID()}`;
    await upsertIndexEntry(
      env.INDEX,
      {
        task_id: taskId,
        task_type: "imagine",
        status: "completed",
        progress: 100,
        created_at: "2098-01-01T00:00:00.000Z",
        updated_at: "2098-01-01T00:00:00.000Z",
        base_url: "https://origin.test",
        thumbnail: "main.webp",
      },
      1,
    );
    const page = await listPage("status=completed&limit=100");
    expect(page.items.find((item) => item.task_id === taskId)?.thumbnail_url).toBe(
      `https://img.example.com/images/${taskId}/main.webp`,
    );
  });
});

describe("DELETE /v1/tasks/{id}", () => {
  it("erases the object's storage, the task's R2 objects, its index row and its dead letters", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 50));
    await ingest(finishedWithImages(taskId));
    await eventually(async () => ((await indexRow(taskId))?.thumbnail ? true : undefined));
    await deadLetterLog(env).add({
      task_id: taskId,
      event: "evt_erased",
      subscription: "all",
      attempts: 1,
      last_status: 500,
      last_error: "HTTP 500",
      failed_at: new Date().toISOString(),
    });
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toHaveLength(2);

    const response = await deleteTask(taskId);
    expect(response.status).toBe(204);

    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
    expect(await indexRow(taskId)).toBeNull();
    expect((await deadLetterPage()).items.filter((item) => item.task_id === taskId)).toEqual([]);
    expect(await objectContents(taskId)).toEqual({
      rows: { task: 0, events: 0, images: 0, deliveries: 0, reconcile: 0, erasure: 0 },
      alarm: null,
    });
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
    expect((await deleteTask(taskId)).status).toBe(404);
  });

  it("keeps nothing a poll under way brings back once the task is deleted", async () => {
    overrideEnv({ RECONCILE_AFTER_SECONDS: "1" });
    const taskId = newTaskId();
    const [polled, asked] = latch();
    const [answered, answer] = latch();
    const data = clone(fixtures.v1Completed).data;
    data.task_id = taskId;
    const png = () => new Response(pngBytes(4096), { headers: { "content-type": "image/png" } });
    data.output.image_url = serveImage(`/${taskId}/polled.png`, png);
    data.output.temporary_image_urls = [];
    goapiTask(taskId, async () => {
      asked();
      await answered;
      return goapiAnswer(data);
    });
    await ingest(v2Event(taskId, "processing", 10));
    await polled;
    const deleting = deleteTask(taskId);
    // The rows go at once; the rest of the erasure waits for the alarm run polling GoAPI.
    await eventually(async () =>
      (await adminGet(`/v1/tasks/${taskId}`)).status === 404 ? true : undefined,
    );
    answer();
    expect((await deleting).status).toBe(204);

    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
    expect(await objectContents(taskId)).toEqual({
      rows: { task: 0, events: 0, images: 0, deliveries: 0, reconcile: 0, erasure: 0 },
      alarm: null,
    });
  });

  it("lets no image copy under way mark a later redelivery's image stored", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const taskId = newTaskId();
    const [copying, started] = latch();
    const [released, release] = latch();
    const body = clone(fixtures.v2Finished);
    body.task_id = taskId;
    body.task_result.image_url = serveImage(`/${taskId}/slow.png`, async () => {
      started();
      await released;
      return new Response(pngBytes(4096), { headers: { "content-type": "image/png" } });
    });
    body.task_result.image_urls = [];
    await ingest(body);
    await copying;
    const deleting = deleteTask(taskId);
    await eventually(async () =>
      (await adminGet(`/v1/tasks/${taskId}`)).status === 404 ? true : undefined,
    );
    // GoAPI redelivers the result meanwhile: answered 200, so the task starts afresh.
    await ingest(body);
    release();
    expect((await deleting).status).toBe(204);
    const stored = await eventually(async () => {
      const view = await taskView(taskId);
      return view.images[0]?.state === "stored" ? view : undefined;
    });
    expect(stored.images).toHaveLength(1);
    const objects = (await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects;
    expect(objects.map((object) => object.key)).toEqual([`tasks/${taskId}/main.png`]);
  });

  it("keeps an alarm set while it removes what the task has outside its object", async () => {
    const taskId = newTaskId();
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    await ingest(v2Event(taskId, "failed", 0));
    // Once its index row is written, a finished task has nothing left to do: no alarm.
    await eventually(async () => {
      await runDurableObjectAlarm(taskObject(env, taskId));
      return (await objectContents(taskId)).alarm === null ? true : undefined;
    });
    const [stalled, resume] = latch();
    const list = env.IMAGES.list.bind(env.IMAGES);
    const r2 = vi.spyOn(env.IMAGES, "list").mockImplementation(async (options) => {
      await stalled;
      return list(options);
    });
    const deleting = deleteTask(taskId);
    await eventually(() => (r2.mock.calls.length > 0 ? true : undefined));
    const during = await objectContents(taskId);
    expect(during.alarm).not.toBeNull();
    expect(during.rows.erasure).toBe(1);
    resume();
    expect((await deleting).status).toBe(204);
    expect(await objectContents(taskId)).toMatchObject({ alarm: null });
  });

  it("keeps the erasure and its alarm when deleting the object's own storage fails", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    await ingest(v2Event(taskId, "processing", 10));
    await runInDurableObject(stub, (_, state) => {
      vi.spyOn(state.storage, "deleteAll").mockRejectedValueOnce(new Error("storage is away"));
    });
    expect((await deleteTask(taskId)).status).toBe(503);
    const left = await objectContents(taskId);
    expect(left.rows.erasure).toBe(1);
    expect(left.alarm).not.toBeNull();
    await runAlarmNow(stub);
    expect(await objectContents(taskId)).toEqual({
      rows: { task: 0, events: 0, images: 0, deliveries: 0, reconcile: 0, erasure: 0 },
      alarm: null,
    });
  });

  it("drops pending deliveries, and records a later redelivery of the task afresh", async () => {
    const taskId = newTaskId();
    const first = await ingest(v2Event(taskId, "processing", 10));
    expect((await deleteTask(taskId)).status).toBe(204);
    const start = await taskObject(env, taskId).beginAttempt(first.event, "all", 1, 30_000, {
      id: "m-1",
      attempts: 1,
    });
    expect(start).toEqual({ kind: "skip" });

    const again = await ingest(v2Event(taskId, "processing", 10));
    expect(again).toMatchObject({ duplicate: false, stale: false });
    expect(again.event).not.toBe(first.event);
    const view = await taskView(taskId);
    expect(view.events).toHaveLength(1);
  });

  it("keeps an event that arrives while the task's images and index row are being erased", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    const late = parseGoapiPayload(v2Event(taskId, "failed", 0));
    if (!late.ok) throw new Error("fixture does not parse");
    const { recorded, view } = await runInDurableObject(
      taskObject(env, taskId),
      async (instance: TaskObject) => {
        const erasing = instance.erase();
        // Arrives while the erasure awaits R2 and D1, after the old rows are gone.
        const recorded = instance.recordEvent(late.value, "{}", "https://midhook.test");
        await erasing;
        return { recorded, view: instance.getTask() };
      },
    );
    expect(recorded).toMatchObject({ duplicate: false, stale: false });
    expect(view?.events.map((e) => e.id)).toEqual([recorded.event]);
    expect(view?.status).toBe("failed");
    const contents = await objectContents(taskId);
    expect(contents.rows).toMatchObject({ task: 1, events: 1, erasure: 0 });
    expect(contents.alarm).not.toBeNull();
    await eventually(async () =>
      (await indexRow(taskId))?.status === "failed" ? true : undefined,
    );
  });

  it("keeps a task recorded again while a failed erasure waits to be retried", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    await ingest(v2Event(taskId, "processing", 10));
    await env.INDEX.exec("ALTER TABLE tasks RENAME TO tasks_away");
    try {
      expect((await deleteTask(taskId)).status).toBe(503);
      expect(errors).toHaveBeenCalled();
      const again = await ingest(v2Event(taskId, "failed", 0));
      expect(again).toMatchObject({ duplicate: false, stale: false });
    } finally {
      await env.INDEX.exec("ALTER TABLE tasks_away RENAME TO tasks");
    }
    // The retry (an alarm that failed while the index was away may still be running).
    await eventually(async () => {
      await runAlarmNow(stub);
      return (await objectContents(taskId)).rows.erasure === 0 ? true : undefined;
    });
    const view = await taskView(taskId);
    expect(view.events.map((e) => e.status)).toEqual(["failed"]);
    expect((await objectContents(taskId)).rows).toMatchObject({ task: 1, events: 1 });
  });

  it("waits out a failed erasure's backoff even when a task recorded since has work due", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const attempts = () =>
      errors.mock.calls.filter((call) => String(call[0]).startsWith("erasing the task failed"))
        .length;
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    await env.INDEX.exec("ALTER TABLE tasks RENAME TO tasks_away");
    try {
      const asked = Date.now();
      expect((await deleteTask(taskId)).status).toBe(503);
      // Recorded again: its delivery and index row are due now, but the erasure goes first, and
      // its next attempt waits 5 s.
      await ingest(v2Event(taskId, "processing", 20));
      const failed = attempts();
      await new Promise((done) => setTimeout(done, 1_500));
      expect(attempts() - failed).toBeLessThanOrEqual(2);
      expect(await alarmOf(taskId)).toBeGreaterThanOrEqual(asked + 5_000);
      // The task's view says what its deliveries wait for.
      const waiting = (await taskView(taskId)).deliveries.filter((d) => d.state === "pending");
      expect(waiting.length).toBeGreaterThan(0);
      expect(waiting.map((d) => d.waiting_for)).toEqual(waiting.map(() => "erasure under way"));
    } finally {
      await env.INDEX.exec("ALTER TABLE tasks_away RENAME TO tasks");
    }
  });

  it("counts the erasure done once its storage is deleted, even if removing its alarm fails", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    // Nothing to deliver, so quietTask can put every other part of the task off: no alarm run
    // can make a second erasure attempt in between.
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    await ingest(v2Event(taskId, "processing", 10));
    await quietTask(taskId);
    const result = await runInDurableObject(stub, (instance, state) => {
      vi.spyOn(state.storage, "deleteAlarm").mockRejectedValueOnce(new Error("storage away"));
      return instance.erase();
    });
    // Nothing of the task is left, so DELETE says it is erased (204), not that data remains.
    expect(result).toBe("erased");
    expect(await alarmOf(taskId)).toBeNull();
    expect((await deleteTask(taskId)).status).toBe(404);
    // The task can be recorded afresh, and nothing waits for an erasure.
    expect(await ingest(v2Event(taskId, "processing", 20))).toMatchObject({ duplicate: false });
    const view = await taskView(taskId);
    expect(view.events.map((e) => e.progress)).toEqual([20]);
    expect(view.deliveries.map((d) => d.waiting_for)).not.toContain("erasure under way");
    expect((await objectContents(taskId)).rows.erasure).toBe(0);
  });

  it("answers 401 without the token and 400 for an id that could escape a key prefix", async () => {
    expect((await deleteTask("anything", "wrong")).status).toBe(401);
    expect((await deleteTask("..%2Fetc")).status).toBe(400);
  });
});

/** Records a failed task and waits until it has nothing left to do: its row listed, no alarm. */
async function settledTask(taskId: string): Promise<void> {
  await ingest(v2Event(taskId, "failed", 0));
  await eventually(async () => ((await indexRow(taskId)) ? true : undefined));
  await eventually(async () => ((await alarmOf(taskId)) === null ? true : undefined));
}

/** Makes the task's last change `at` (ISO) in the index, and, unless told not to, in its object. */
async function lastChanged(taskId: string, at: string, { inObject = true } = {}): Promise<void> {
  if (inObject) {
    await runInDurableObject(taskObject(env, taskId), (_, state) => {
      state.storage.sql.exec("UPDATE task SET updated_at = ?", at);
    });
  }
  await env.INDEX.prepare("UPDATE tasks SET updated_at = ? WHERE task_id = ?")
    .bind(at, taskId)
    .run();
}

describe("RETENTION_DAYS", () => {
  it("erases a task that many days after its last event", async () => {
    overrideEnv({ RETENTION_DAYS: "30" });
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    await ingest(finishedWithImages(taskId));
    await eventually(async () => ((await indexRow(taskId))?.thumbnail ? true : undefined));
    // Once the run that wrote the row has ended (it sets the alarm last), only the erasure's
    // time is left.
    await eventually(async () =>
      ((await alarmOf(taskId)) ?? 0) - Date.now() > 29 * 24 * 3600_000 ? true : undefined,
    );

    // 31 days later, as far as the task knows (its delivery has finished by then).
    await eventually(async () =>
      (await taskView(taskId)).deliveries.every((d) => d.state !== "pending") ? true : undefined,
    );
    await runInDurableObject(stub, (_, state) => {
      const old = new Date(Date.now() - 31 * 24 * 3600_000).toISOString();
      state.storage.sql.exec("UPDATE task SET updated_at = ?", old);
      state.storage.sql.exec("UPDATE deliveries SET finished_at = ?", old);
    });
    await runAlarmNow(stub);

    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
    expect(await indexRow(taskId)).toBeNull();
  });

  it("reaches, at the first sweep of a pass, a task kept before RETENTION_DAYS was set", async () => {
    overrideEnv({ RETENTION_DAYS: "", SUBSCRIPTIONS: "[]" });
    await env.INDEX.exec("DELETE FROM retention_sweep");
    const [kept, recent] = [newTaskId(), newTaskId()];
    for (const taskId of [kept, recent]) {
      await settledTask(taskId);
    }
    // `kept` last changed 40 days ago, as far as the task and the index know.
    await lastChanged(kept, new Date(Date.now() - 40 * 24 * 3600_000).toISOString());

    env.RETENTION_DAYS = "30";
    await worker.scheduled(createScheduledController(), env);

    await eventually(async () => ((await indexRow(kept)) === null ? true : undefined));
    expect((await adminGet(`/v1/tasks/${kept}`)).status).toBe(404);
    expect((await adminGet(`/v1/tasks/${recent}`)).status).toBe(200);
    expect(await alarmOf(recent)).toBeNull();
  });

  it("still sweeps, from the oldest task, where its place was never set up (migration 0003)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    overrideEnv({ RETENTION_DAYS: "", SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await settledTask(taskId);
    await lastChanged(taskId, new Date(Date.UTC(2000, 0, 1)).toISOString());
    await env.INDEX.exec("ALTER TABLE retention_sweep RENAME TO retention_sweep_away");
    onTestFinished(async () => {
      await env.INDEX.exec("ALTER TABLE retention_sweep_away RENAME TO retention_sweep");
    });

    env.RETENTION_DAYS = "30";
    await sweepRetention(env, Date.now(), 1);
    await eventually(async () => ((await indexRow(taskId)) === null ? true : undefined));
  });

  it("sweeps past a task that is not due yet to the ones behind it, a batch at a time", async () => {
    overrideEnv({ RETENTION_DAYS: "", SUBSCRIPTIONS: "[]" });
    await env.INDEX.exec("DELETE FROM retention_sweep");
    const ids: [string, string, string] = [newTaskId(), newTaskId(), newTaskId()];
    for (const [i, taskId] of ids.entries()) {
      await settledTask(taskId);
      // Older in the index than any other test's row, the first the oldest. The first changed
      // since, as far as its object knows (the index lags it): it is not due.
      const old = new Date(Date.UTC(2001, 0, 1 + i)).toISOString();
      await lastChanged(taskId, old, { inObject: i > 0 });
    }

    env.RETENTION_DAYS = "30";
    for (let sweep = 0; sweep < 3; sweep++) await sweepRetention(env, Date.now(), 1);

    for (const taskId of ids.slice(1)) {
      await eventually(async () => ((await indexRow(taskId)) === null ? true : undefined));
    }
    // The first is kept, its erasure set 30 days from its last change.
    expect((await adminGet(`/v1/tasks/${ids[0]}`)).status).toBe(200);
    expect(((await alarmOf(ids[0])) ?? 0) - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    // A short batch (past the other tests' old rows) ends the pass; the next starts from the
    // oldest again.
    const position = () => env.INDEX.prepare("SELECT task_id FROM retention_sweep").first();
    expect(await position()).toEqual({ task_id: ids[2] });
    for (let sweep = 0; sweep < 20 && (await position()) !== null; sweep++) {
      await sweepRetention(env, Date.now(), 1);
    }
    expect(await position()).toBeNull();
    await sweepRetention(env, Date.now(), 1);
    expect(await position()).toEqual({ task_id: ids[0] });
  });

  it("never erases a task while a delivery is on its way, and keeps it that long after the last one finished", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    overrideEnv({ RETENTION_DAYS: "1" });
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    subscriberAnswers(taskId, () => new Response(null, { status: 503 }));
    await ingest(v2Event(taskId, "failed", 0));
    await eventually(async () =>
      (await taskView(taskId)).deliveries.some((d) => d.attempts > 0) ? true : undefined,
    );
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 3600_000).toISOString();
    const alarmNow = async (sql: string, ...values: string[]) => {
      await runAlarmNow(stub, (state) => state.storage.sql.exec(sql, ...values));
    };

    await alarmNow("UPDATE task SET updated_at = ?", daysAgo(2));
    expect((await taskView(taskId)).deliveries[0]).toMatchObject({ state: "pending" });

    await alarmNow("UPDATE deliveries SET state = 'failed', finished_at = ?", daysAgo(0.5));
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(200);

    await alarmNow("UPDATE deliveries SET finished_at = ?", daysAgo(1.5));
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
  });

  it("keeps tasks forever when it is empty or not a whole number of days", async () => {
    overrideEnv({ RETENTION_DAYS: "" });
    for (const value of ["", "soon", "-1", "0", "1.5"]) {
      env.RETENTION_DAYS = value;
      const taskId = newTaskId();
      await ingest(v2Event(taskId, "failed", 0));
      await eventually(async () => ((await indexRow(taskId)) ? true : undefined));
      // The index row is written first in the alarm's run: the run ends, and clears it, after.
      await eventually(async () => ((await alarmOf(taskId)) === null ? true : undefined));
    }
  });
});

describe("a task recorded before the index", () => {
  it("is written to the index at its next alarm after the upgrade", async () => {
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    await ingest(v2Event(taskId, "processing", 20));
    await eventually(async () => ((await indexRow(taskId)) ? true : undefined));
    await env.INDEX.prepare("DELETE FROM tasks WHERE task_id = ?").bind(taskId).run();
    await runInDurableObject(stub, (_, state) => {
      // What a version-2 database holds: no index_sync, no erasure, no lease holder.
      const sql = state.storage.sql;
      sql.exec("DROP TABLE index_sync; DROP TABLE erasure; UPDATE schema_version SET version = 2");
      sql.exec("ALTER TABLE deliveries DROP COLUMN lease_holder");
      sql.exec("ALTER TABLE deliveries DROP COLUMN lease_attempts");
      sql.exec("ALTER TABLE deliveries DROP COLUMN resends");
      migrate(sql);
      return state.storage.setAlarm(Date.now());
    });
    const row = await eventually(async () => (await indexRow(taskId)) ?? undefined);
    expect(row).toMatchObject({ status: "processing", progress: 20 });
  });
});
