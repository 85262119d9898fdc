import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import { migrate } from "../src/task/migrations";
import { SCHEMA_VERSION } from "../src/task/schema";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { PREVIOUS_SECRET, SECRET } from "./support/keys";
import {
  adminGet,
  ingest,
  newTaskId,
  postWebhook,
  taskObjectCount,
  taskView,
} from "./support/requests";
import { allowTaskUpdates, refuseTaskUpdates } from "./support/storage-faults";
import { readView, views } from "./support/views";

/** Asserts `response` is the JSON error envelope with `status` and `code`. */
async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = await readView(response, views.error);
  expect(body.error.code).toBe(code);
  return body;
}

/** Runs `send` and asserts it stored nothing: no new task object, and the task is unknown. */
async function expectNothingStored(taskId: string, send: () => Promise<void>) {
  const before = await taskObjectCount();
  await send();
  expect(await taskObjectCount()).toBe(before);
  expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
}

function withTaskId(fixture: unknown, taskId: string): Record<string, unknown> {
  const body = clone(fixture) as Record<string, unknown> & { data?: { task_id: string } };
  if (body.data) body.data.task_id = taskId;
  else body.task_id = taskId;
  return body;
}

describe("POST /webhooks/goapi", () => {
  it.each(Object.entries(fixtures))(
    "accepts the %s fixture with 200 and an event id",
    async (_, fixture) => {
      const taskId = newTaskId();
      const response = await postWebhook(withTaskId(fixture, taskId));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        ok: true,
        task_id: taskId,
        duplicate: false,
        stale: false,
        event: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      });
      expect((await taskView(taskId)).events).toHaveLength(1);
    },
  );

  it("records a task's lifecycle and shows it in the admin view", async () => {
    const taskId = newTaskId();
    for (const fixture of [fixtures.v2Pending, fixtures.v2Progress40, fixtures.v2Finished]) {
      expect((await postWebhook(withTaskId(fixture, taskId))).status).toBe(200);
    }
    const view = await taskView(taskId);
    expect(view).toMatchObject({
      task_id: taskId,
      task_type: "imagine",
      status: "completed",
      progress: 100,
    });
    expect(view.events.map((e) => [e.type, e.progress, e.duplicates, e.stale])).toEqual([
      ["task.created", 0, 0, false],
      ["task.progress", 40, 0, false],
      ["task.completed", 100, 0, false],
    ]);
  });

  it("acknowledges a redelivery as a duplicate with the original event id", async () => {
    const body = withTaskId(fixtures.v2Finished, newTaskId());
    const first = await ingest(body);
    const again = await postWebhook(body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ duplicate: true, event: first.event });
    const view = await taskView(first.task_id);
    expect(view.events).toHaveLength(1);
    expect(view.events[0]?.duplicates).toBe(1);
  });

  it("records 50 concurrent identical deliveries as one event", async () => {
    const body = withTaskId(fixtures.v1Completed, newTaskId());
    const responses = await Promise.all(Array.from({ length: 50 }, () => postWebhook(body)));
    const results = await Promise.all(responses.map((r) => readView(r, views.ingest)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.event)).size).toBe(1);
    const view = await taskView(results[0]?.task_id ?? "");
    expect(view.events).toHaveLength(1);
    expect(view.events[0]?.duplicates).toBe(49);
  });

  it("marks progress 40 after 60 as stale and keeps the task at 60", async () => {
    const taskId = newTaskId();
    await postWebhook(v2Event(taskId, "processing", 60));
    const late = await postWebhook(v2Event(taskId, "processing", 40));
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ duplicate: false, stale: true });
    const view = await taskView(taskId);
    expect(view).toMatchObject({ status: "processing", progress: 60 });
    expect(view.events.map((e) => e.stale)).toEqual([false, true]);
  });

  it("keeps a completed task completed when a processing event arrives late", async () => {
    const taskId = newTaskId();
    await postWebhook(withTaskId(fixtures.v2Finished, taskId));
    const late = await postWebhook(v2Event(taskId, "processing", 90));
    expect(await late.json()).toMatchObject({ duplicate: false, stale: true });
    expect(await taskView(taskId)).toMatchObject({ status: "completed", progress: 100 });
    const replayedStale = await postWebhook(v2Event(taskId, "processing", 90));
    expect(await replayedStale.json()).toMatchObject({ duplicate: true, stale: true });
  });

  it("accepts the previous secret during a rotation", async () => {
    const taskId = newTaskId();
    const response = await postWebhook(withTaskId(fixtures.v2Pending, taskId), {
      secret: PREVIOUS_SECRET,
    });
    expect(response.status).toBe(200);
  });

  it("compares statuses case-insensitively", async () => {
    const taskId = newTaskId();
    const body = withTaskId(fixtures.v1Completed, taskId) as { data: { status: string } };
    body.data.status = "Completed";
    expect((await postWebhook(body)).status).toBe(200);
    expect((await taskView(taskId)).status).toBe("completed");
  });

  it("records a status it does not know as processing, and logs it", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const taskId = newTaskId();
    expect((await postWebhook(v2Event(taskId, "Queued-For-GPU", 5))).status).toBe(200);
    expect((await taskView(taskId)).events.map((e) => [e.type, e.status])).toEqual([
      ["task.progress", "processing"],
    ]);
    const unknown = warn.mock.calls.filter(([text]) => String(text).startsWith("unknown GoAPI"));
    expect(unknown).toEqual([
      [
        "unknown GoAPI status, recorded as processing",
        { task_id: taskId, status: "Queued-For-GPU" },
      ],
    ]);
  });

  it("removes the v1 body's webhook secret before storing it", async () => {
    const taskId = newTaskId();
    await postWebhook(withTaskId(fixtures.v1Progress40, taskId));
    const stored = await runInDurableObject(taskObject(env, taskId), (_, state) =>
      state.storage.sql.exec<{ payload: string }>("SELECT * FROM events").toArray(),
    );
    expect(stored).toHaveLength(1);
    const row = JSON.stringify(stored);
    expect(row).not.toContain("s3cr3t-from-request");
    expect(row).not.toContain(SECRET);
    expect(JSON.parse(stored[0]?.payload ?? "{}").data.config.webhook_config).toEqual({
      endpoint: "https://example.com/webhooks/goapi",
    });
  });

  it("keeps nothing of an event whose recording fails part way, so that GoAPI's retry records it", async () => {
    const taskId = newTaskId();
    // The task's row exists (its first event inserted it); from now on, updating it fails. The
    // next event is then inserted, and moving the task forward, the write after it, fails.
    // Without one transaction that event would stay: the retry below would be answered
    // `duplicate: true`, and the task left at 10.
    await ingest(v2Event(taskId, "processing", 10));
    await refuseTaskUpdates(taskId);
    vi.spyOn(console, "error").mockImplementation(() => {});
    await expectError(
      await postWebhook(v2Event(taskId, "processing", 50)),
      503,
      "storage_unavailable",
    );
    await allowTaskUpdates(taskId);
    const kept = await runInDurableObject(taskObject(env, taskId), (_, state) => {
      return state.storage.sql
        .exec<{ progress: number }>("SELECT progress FROM events ORDER BY seq")
        .toArray()
        .map((e) => e.progress);
    });
    expect(kept).toEqual([10]);
    const retried = await postWebhook(v2Event(taskId, "processing", 50));
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ duplicate: false, stale: false });
    const view = await taskView(taskId);
    expect(view).toMatchObject({ status: "processing", progress: 50 });
    expect(view.events.map((e) => [e.progress, e.duplicates])).toEqual([
      [10, 0],
      [50, 0],
    ]);
  });

  it("answers 503 so GoAPI redelivers when the Durable Object fails", async () => {
    const taskId = newTaskId();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const failing = vi.spyOn(env.TASKS, "getByName").mockImplementation(() => {
      throw new Error("simulated storage outage");
    });
    await expectError(
      await postWebhook(withTaskId(fixtures.v2Pending, taskId)),
      503,
      "storage_unavailable",
    );
    failing.mockRestore();
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
  });
});

describe("POST /webhooks/goapi rejections store nothing and never echo a secret", () => {
  const taskId = newTaskId();
  const body = () => withTaskId(fixtures.v2Finished, taskId);

  it("answers 401 when the secret is missing", async () => {
    await expectNothingStored(taskId, async () => {
      await expectError(await postWebhook(body(), { secret: null }), 401, "unauthorized");
    });
  });

  it("answers 401 when the secret is wrong, a prefix, or longer", async () => {
    await expectNothingStored(taskId, async () => {
      for (const wrong of ["nope", SECRET.slice(0, -1), `${SECRET}x`, `${SECRET},${SECRET}`]) {
        const response = await postWebhook(body(), { secret: wrong });
        const text = await response.text();
        expect(response.status).toBe(401);
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(wrong);
      }
    });
  });

  it("answers 413 for a body over 1 MiB, declared or not", async () => {
    const huge = JSON.stringify({ ...body(), padding: "x".repeat(1024 * 1024) });
    await expectNothingStored(taskId, async () => {
      await expectError(await postWebhook(huge), 413, "payload_too_large");
      const bytes = new TextEncoder().encode(huge);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 65536)
            controller.enqueue(bytes.slice(i, i + 65536));
          controller.close();
        },
      });
      await expectError(await postWebhook(stream), 413, "payload_too_large");
    });
  });

  it("answers 422 for a body under 1 MiB that would take more than a row once stored", async () => {
    // 1e20 is 4 bytes in the body and 21 once re-serialised: half a MiB grows to 2 MB.
    const numbers = `[${Array(100_000).fill("1e20").join(",")}]`;
    const grows = `${JSON.stringify(body()).slice(0, -1)},"numbers":${numbers}}`;
    expect(grows.length).toBeLessThan(1024 * 1024);
    await expectNothingStored(taskId, async () => {
      const error = await expectError(await postWebhook(grows), 422, "invalid_payload");
      expect(error.error.message).toMatch(/once stored/);
    });
  });

  it("answers 400 for a body that is not JSON", async () => {
    await expectNothingStored(taskId, async () => {
      await expectError(await postWebhook("{not json"), 400, "invalid_json");
      await expectError(await postWebhook(""), 400, "invalid_json");
    });
  });

  it("answers 422 for JSON that is neither GoAPI shape, naming the field", async () => {
    await expectNothingStored(taskId, async () => {
      const missingStatus = await expectError(
        await postWebhook({ task_id: taskId }),
        422,
        "invalid_payload",
      );
      expect(missingStatus.error.message).toContain("status");
      await expectError(await postWebhook([body()]), 422, "invalid_payload");
      await expectError(await postWebhook({ data: { task_id: taskId } }), 422, "invalid_payload");
      await expectError(
        await postWebhook({ ...body(), task_id: "tasks/../x" }),
        422,
        "invalid_payload",
      );
    });
  });

  it("answers 415 for a form post", async () => {
    await expectNothingStored(taskId, async () => {
      await expectError(
        await postWebhook(body(), {
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
        415,
        "unsupported_media_type",
      );
    });
  });

  it.each(["", " , "])(
    "answers 503 not_configured, never 'accept all', when GOAPI_WEBHOOK_SECRET is %j",
    async (value) => {
      overrideEnv({ GOAPI_WEBHOOK_SECRET: value });
      await expectNothingStored(taskId, async () => {
        await expectError(await postWebhook(body(), { secret: "" }), 503, "not_configured");
        await expectError(await postWebhook(body(), { secret: value }), 503, "not_configured");
      });
    },
  );

  it("answers 405 to other methods", async () => {
    const response = await postWebhook(undefined, { method: "GET" });
    await expectError(response, 405, "method_not_allowed");
    expect(response.headers.get("allow")).toBe("POST");
  });
});

describe("GET /healthz", () => {
  it("answers 200 without touching storage", async () => {
    const before = await taskObjectCount();
    const response = await exports.default.fetch("https://midhook.test/healthz");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(await taskObjectCount()).toBe(before);
  });
});

describe("a task's tables", () => {
  const tablesOf = (sql: SqlStorage) =>
    sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .toArray()
      .map((row) => row.name);

  /** Each of the task's tables' column names, in order (not the runtime's own `_cf_` tables). */
  const columnsOf = (sql: SqlStorage) =>
    Object.fromEntries(
      tablesOf(sql)
        .filter((table) => !table.startsWith("_cf_"))
        .map((table) => [
          table,
          sql
            .exec<{ name: string }>("SELECT name FROM pragma_table_info(?)", table)
            .toArray()
            .map((c) => c.name),
        ]),
    );

  it("creates a new task's tables at the current schema version", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const { tables, version } = await runInDurableObject(taskObject(env, taskId), (_, state) => ({
      tables: tablesOf(state.storage.sql),
      version: state.storage.sql.exec("SELECT version FROM schema_version").one().version,
    }));
    expect(tables).toEqual(
      expect.arrayContaining(["deliveries", "events", "images", "schema_version", "task"]),
    );
    expect(tables).not.toContain("attempts");
    expect(version).toBe(SCHEMA_VERSION);
  });

  it("writes one row, not two, for the task and for each image: they are keyed without a rowid", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    // rowsWritten is what Cloudflare bills; 2 would mean the key's index was written as well.
    const written = await runInDurableObject(taskObject(env, taskId), (_, state) => {
      const sql = state.storage.sql;
      const image = sql.exec(
        `INSERT INTO images (slot, position, name, source_url, state, next_try_at)
         VALUES ('probe', 99, 'probe', 'https://images.test/probe.png', 'failed', 0)`,
      ).rowsWritten;
      const task = sql.exec(
        `INSERT INTO task (task_id, task_type, model, status, progress, created_at, updated_at, base_url)
         SELECT 'probe', task_type, model, status, progress, created_at, updated_at, base_url FROM task`,
      ).rowsWritten;
      sql.exec("DELETE FROM images WHERE slot = 'probe'");
      sql.exec("DELETE FROM task WHERE task_id = 'probe'");
      return { image, task };
    });
    expect(written).toEqual({ image: 1, task: 1 });
  });

  it("survives a rollback: older code records its own version, and the upgrades run again", async () => {
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "processing", 10));
    const version = await runInDurableObject(taskObject(env, taskId), (_, state) => {
      const sql = state.storage.sql;
      // What an older release does with a newer database: it runs none of the upgrades it does
      // not know, and writes its own version over the newer one. Each upgrade then runs again.
      for (let older = 2; older < SCHEMA_VERSION; older++) {
        sql.exec("UPDATE schema_version SET version = ?", older);
        migrate(sql);
      }
      // Code older than the database leaves its version alone.
      sql.exec("UPDATE schema_version SET version = ?", SCHEMA_VERSION + 1);
      migrate(sql);
      return sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;
    });
    expect(version).toBe(SCHEMA_VERSION + 1);
    expect((await taskView(taskId)).events.map((e) => e.id)).toEqual([event]);
  });

  it("upgrades a database made before schema versions, keeping what it recorded", async () => {
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "processing", 10));
    const tables = await runInDurableObject(taskObject(env, taskId), (_, state) => {
      const sql = state.storage.sql;
      // What the first release left: no version table, an attempts log, and each event's
      // normalized copy beside its payload.
      sql.exec("DROP TABLE schema_version");
      sql.exec("DROP TABLE index_sync");
      sql.exec("DROP TABLE erasure");
      sql.exec("ALTER TABLE events ADD COLUMN event TEXT NOT NULL DEFAULT '{}'");
      sql.exec("ALTER TABLE deliveries DROP COLUMN listing");
      sql.exec("ALTER TABLE deliveries DROP COLUMN held");
      sql.exec("ALTER TABLE deliveries DROP COLUMN held_at");
      sql.exec("ALTER TABLE deliveries DROP COLUMN probe");
      sql.exec("ALTER TABLE deliveries DROP COLUMN lease_holder");
      sql.exec("ALTER TABLE deliveries DROP COLUMN lease_attempts");
      sql.exec("ALTER TABLE deliveries DROP COLUMN resends");
      sql.exec("ALTER TABLE events DROP COLUMN source");
      sql.exec("DROP TABLE reconcile");
      sql.exec(
        `CREATE TABLE attempts (event_id TEXT NOT NULL, subscription TEXT NOT NULL,
           series INTEGER NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, status INTEGER,
           error TEXT, duration_ms INTEGER NOT NULL)`,
      );
      migrate(sql);
      migrate(sql);
      return {
        columns: columnsOf(sql),
        names: tablesOf(sql),
        eventColumns: sql
          .exec<{ name: string }>("SELECT name FROM pragma_table_info('events')")
          .toArray()
          .map((c) => c.name),
        version: sql.exec("SELECT version FROM schema_version").toArray(),
      };
    });
    expect(tables.names).not.toContain("attempts");
    expect(tables.eventColumns).not.toContain("event");
    expect(tables.eventColumns).toContain("source");
    expect(tables.names).toContain("reconcile");
    expect(tables.version).toEqual([{ version: SCHEMA_VERSION }]);
    expect((await taskView(taskId)).events.map((e) => e.id)).toEqual([event]);
    // The upgrades end where a new task's tables start.
    const fresh = newTaskId();
    await ingest(v2Event(fresh, "pending", 0));
    const freshColumns = await runInDurableObject(taskObject(env, fresh), (_, state) =>
      columnsOf(state.storage.sql),
    );
    expect(tables.columns).toEqual(freshColumns);
  });
});
