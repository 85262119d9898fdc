// Creating and syncing tasks through midhook: POST /v1/tasks and POST /v1/tasks/{id}/sync, against
// the fake GoAPI task API of test/support/network.ts.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import { overrideEnv } from "./support/env";
import { clone, fixtures } from "./support/fixtures";
import { GOAPI_API_KEY, SECRET } from "./support/keys";
import {
  deliveries,
  eventually,
  goapiAnswer,
  goapiCreate,
  goapiRequests,
  goapiTask,
} from "./support/network";
import { adminGet, adminPost, ingest, newTaskId, taskView } from "./support/requests";
import { readView, views } from "./support/views";

const createBody = {
  model: "midjourney",
  task_type: "imagine",
  input: { prompt: "a red fox in snow", aspect_ratio: "1:1" },
  config: {
    service_mode: "public",
    webhook_config: { endpoint: "https://elsewhere.example", secret: "theirs" },
  },
};

/** A unified-API task object as GoAPI returns it, for `taskId` in `status`. */
function goapiTaskData(taskId: string, status: string, output: Record<string, unknown> = {}) {
  const body = clone(fixtures.v1Completed);
  return {
    ...body.data,
    task_id: taskId,
    status,
    output: { ...body.data.output, image_url: "", temporary_image_urls: [], ...output },
  };
}

async function errorOf(response: Response) {
  return { status: response.status, ...(await readView(response, views.error)).error };
}

describe("POST /v1/tasks", () => {
  it("creates the task at GoAPI with midhook as its webhook, records it, and answers 201", async () => {
    const taskId = newTaskId();
    goapiCreate(() => goapiAnswer(goapiTaskData(taskId, "pending", { progress: 0 })));
    const response = await adminPost("/v1/tasks", createBody);
    expect(response.status).toBe(201);
    const created = await readView(response, views.submission);
    expect(created).toEqual({
      ok: true,
      task_id: taskId,
      status: "pending",
      event: expect.stringMatching(/^evt_/),
    });

    const [sent] = goapiRequests()
      .filter((r) => r.method === "POST")
      .slice(-1);
    expect(sent?.headers["x-api-key"]).toBe(GOAPI_API_KEY);
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({
      ...createBody,
      config: {
        service_mode: "public",
        webhook_config: { endpoint: "https://midhook.test/webhooks/goapi", secret: SECRET },
      },
    });

    // The pending webhook GoAPI sends next is the same event.
    const webhook = clone(fixtures.v1Progress40);
    webhook.data.task_id = taskId;
    webhook.data.status = "pending";
    webhook.data.output.progress = 0;
    expect(await ingest(webhook)).toMatchObject({ duplicate: true, event: created.event });
    const view = await taskView(taskId);
    expect(view.events.map((e) => [e.type, e.source, e.duplicates])).toEqual([
      ["task.created", "submit", 1],
    ]);
  });

  it("gives GoAPI a webhook endpoint built from PUBLIC_BASE_URL when it is set", async () => {
    overrideEnv({ PUBLIC_BASE_URL: "https://hooks.example.com/" });
    const taskId = newTaskId();
    goapiCreate(() => goapiAnswer(goapiTaskData(taskId, "pending", { progress: 0 })));
    expect((await adminPost("/v1/tasks", createBody)).status).toBe(201);
    const sent = goapiRequests().filter((r) => r.method === "POST" && r.path === "/api/v1/task");
    expect(JSON.parse(sent.at(-1)?.body ?? "{}").config).toEqual({
      service_mode: "public",
      webhook_config: { endpoint: "https://hooks.example.com/webhooks/goapi", secret: SECRET },
    });
  });

  it("answers 422 for a body that is not GoAPI's create-task body, and asks GoAPI nothing", async () => {
    const before = goapiRequests().length;
    for (const body of [
      {},
      { model: "midjourney", task_type: "imagine" },
      { ...createBody, input: "x" },
    ]) {
      expect((await errorOf(await adminPost("/v1/tasks", body))).code).toBe("invalid_payload");
    }
    expect(goapiRequests()).toHaveLength(before);
  });

  it("passes GoAPI's refusals on as 502 with its message, and its silence as 504", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const answers: Array<[() => Response | Promise<Response>, number, string, RegExp]> = [
      [
        () =>
          Response.json(
            { code: 400, data: null, message: "prompt failed moderation" },
            { status: 400 },
          ),
        502,
        "upstream_error",
        /^prompt failed moderation$/,
      ],
      // On create, GoAPI's "not found" is about the request (a model, a task type), not a task.
      [
        () => Response.json({ code: 404, data: null, message: "model not found" }, { status: 404 }),
        502,
        "upstream_error",
        /^model not found$/,
      ],
      [
        () => Response.json({ code: 400, data: null, message: "task_type does not exist" }),
        502,
        "upstream_error",
        /^task_type does not exist$/,
      ],
      [
        () => new Response("404 page not found", { status: 404 }),
        502,
        "upstream_error",
        /answered 404 with text\/plain/,
      ],
      [
        () =>
          new Response("<html>502 Bad Gateway</html>", {
            status: 502,
            headers: { "content-type": "text/html" },
          }),
        502,
        "upstream_error",
        /answered 502 with text\/html/,
      ],
      [() => Response.json({ code: 200, message: "ok" }), 502, "upstream_error", /code 200/],
      [
        () => new Response(null, { status: 302, headers: { location: "https://evil.example/" } }),
        502,
        "upstream_error",
        /redirect/,
      ],
      [
        () =>
          new Response(
            JSON.stringify({ code: 200, data: { task_id: "x", pad: "x".repeat(1_100_000) } }),
          ),
        502,
        "upstream_error",
        /more than 1 MiB/,
      ],
      [
        () => {
          throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
        },
        504,
        "upstream_timeout",
        /no answer from api\.goapi\.test within 30 s/,
      ],
      [
        () => {
          throw new Error("internal error; reference = abc");
        },
        502,
        "upstream_error",
        /could not reach api\.goapi\.test/,
      ],
    ];
    for (const [answer, status, code, message] of answers) {
      goapiCreate(answer);
      const error = await errorOf(await adminPost("/v1/tasks", createBody));
      expect(error.status, String(message)).toBe(status);
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
    }
  });

  it("answers 202 with GoAPI's task id when the task cannot be recorded yet, so nobody submits it twice", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    goapiCreate(() => goapiAnswer(goapiTaskData(taskId, "pending", { progress: 0 })));
    const creates = () => goapiRequests().filter((r) => r.method === "POST").length;
    const before = creates();
    const failing = vi.spyOn(env.TASKS, "getByName").mockImplementation(() => {
      throw new Error("simulated storage outage");
    });
    const response = await adminPost("/v1/tasks", createBody);
    failing.mockRestore();
    expect(response.status).toBe(202);
    const answer = await response.json<Record<string, unknown>>();
    expect(answer).toMatchObject({ ok: true, task_id: taskId, recorded: false });
    expect(answer.message).toMatch(/GoAPI created the task/);
    expect(answer.message).toContain(`/v1/tasks/${taskId}/sync`);
    expect(creates()).toBe(before + 1);

    // GoAPI's webhook records it once storage is back.
    const webhook = clone(fixtures.v1Progress40);
    webhook.data.task_id = taskId;
    expect(await ingest(webhook)).toMatchObject({ task_id: taskId, duplicate: false });
    expect((await taskView(taskId)).status).toBe("processing");
  });

  it("records a task it could not record at first at its first retry, a second later", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    goapiCreate(() => goapiAnswer(goapiTaskData(taskId, "pending", { progress: 0 })));
    // The task's object cannot be reached for the submission's own attempt only. Only this
    // task's first call fails: an earlier test's retries may call getByName meanwhile.
    const getByName = env.TASKS.getByName.bind(env.TASKS);
    let refused = false;
    const failing = vi.spyOn(env.TASKS, "getByName").mockImplementation((name, options) => {
      if (name !== taskId || refused) return getByName(name, options);
      refused = true;
      throw new Error("simulated storage outage");
    });
    const response = await adminPost("/v1/tasks", createBody);
    expect(response.status).toBe(202);
    expect(failing).toHaveBeenCalled();
    // No webhook comes: the submission's own retry records it.
    const view = await eventually(async () => {
      const found = await adminGet(`/v1/tasks/${taskId}`);
      return found.status === 200 ? readView(found, views.task) : undefined;
    }, 5_000);
    expect(view.events.map((e) => [e.type, e.source])).toEqual([["task.created", "submit"]]);
  });

  it("answers 202 with the id GoAPI gave when midhook cannot track such an id", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    goapiCreate(() => goapiAnswer(goapiTaskData("tasks/odd id", "pending")));
    const response = await adminPost("/v1/tasks", createBody);
    expect(response.status).toBe(202);
    const answer = await response.json<Record<string, unknown>>();
    expect(answer).toMatchObject({ ok: true, task_id: "tasks/odd id", recorded: false });
    expect(answer.message).toMatch(/GoAPI created the task.*midhook cannot track it/);
  });

  it("names an id GoAPI gave that is far too long by its first 128 characters only", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const long = "x".repeat(100_000);
    goapiCreate(() => goapiAnswer(goapiTaskData(long, "pending")));
    const response = await adminPost("/v1/tasks", createBody);
    expect(response.status).toBe(202);
    const answer = await response.json<{ task_id: string; message: string }>();
    expect(answer.task_id).toBe(long.slice(0, 128));
    expect(answer.message.length).toBeLessThan(1000);
    expect(JSON.stringify(warn.mock.calls).length).toBeLessThan(1000);
  });

  it("answers 503 not_configured, and calls nobody, while GOAPI_API_KEY is unset", async () => {
    overrideEnv({ GOAPI_API_KEY: "" });
    const before = goapiRequests().length;
    expect(await errorOf(await adminPost("/v1/tasks", createBody))).toMatchObject({
      status: 503,
      code: "not_configured",
    });
    expect(await errorOf(await adminPost(`/v1/tasks/${newTaskId()}/sync`))).toMatchObject({
      status: 503,
      code: "not_configured",
    });
    expect(goapiRequests()).toHaveLength(before);
  });

  it("answers 503 not_configured, and sends the key nowhere, while GOAPI_API_BASE is plain http to a remote host", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    overrideEnv({ GOAPI_API_BASE: "http://api.goapi.test" });
    goapiCreate(() => goapiAnswer(goapiTaskData(newTaskId(), "pending")));
    const before = goapiRequests().length;
    for (let i = 0; i < 2; i++) {
      expect(await errorOf(await adminPost("/v1/tasks", createBody))).toMatchObject({
        status: 503,
        code: "not_configured",
        message: expect.stringMatching(/^GOAPI_API_BASE: must be an https origin/),
      });
      expect(await errorOf(await adminPost(`/v1/tasks/${newTaskId()}/sync`))).toMatchObject({
        status: 503,
        code: "not_configured",
      });
    }
    expect(goapiRequests()).toHaveLength(before);
    expect(lines.filter((line) => line.includes("GOAPI_API_BASE"))).toHaveLength(1);
    expect(lines.filter((line) => line.includes(GOAPI_API_KEY))).toEqual([]);
  });
});

describe("POST /v1/tasks/{id}/sync", () => {
  it("records what GoAPI says now: a new state, the same one again, an older one", async () => {
    const taskId = newTaskId();
    const progress = clone(fixtures.v1Progress40);
    progress.data.task_id = taskId;
    await ingest(progress);
    let data = goapiTaskData(taskId, "processing", { progress: 60 });
    goapiTask(taskId, () => goapiAnswer(data));
    const sync = async () => readView(await adminPost(`/v1/tasks/${taskId}/sync`), views.ingest);
    expect(await sync()).toMatchObject({
      ok: true,
      task_id: taskId,
      duplicate: false,
      stale: false,
    });
    expect(await sync()).toMatchObject({ duplicate: true });
    data = goapiTaskData(taskId, "processing", { progress: 20 });
    expect(await sync()).toMatchObject({ duplicate: false, stale: true });
    const view = await taskView(taskId);
    expect(view.events.map((e) => [e.progress, e.source, e.stale])).toEqual([
      [40, "webhook", false],
      [60, "poll", false],
      [20, "poll", true],
    ]);
    expect(view.progress).toBe(60);
  });

  it("recovers a task midhook never heard of, and says 404 for one GoAPI does not know", async () => {
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer(goapiTaskData(taskId, "completed")));
    expect((await adminPost(`/v1/tasks/${taskId}/sync`)).status).toBe(200);
    expect((await taskView(taskId)).status).toBe("completed");
    await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
    expect(await errorOf(await adminPost(`/v1/tasks/${newTaskId()}/sync`))).toMatchObject({
      status: 404,
      code: "not_found",
    });
  });

  it("answers 502 and records nothing when GoAPI answers about another task", async () => {
    const taskId = newTaskId();
    goapiTask(taskId, () => goapiAnswer(goapiTaskData(newTaskId(), "completed")));
    expect(await errorOf(await adminPost(`/v1/tasks/${taskId}/sync`))).toEqual({
      status: 502,
      code: "upstream_error",
      message: "GoAPI answered about another task",
    });
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
  });
});

describe("the GoAPI API key", () => {
  it("never appears in an answer, a log line, a stored row or a forwarded body", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      });
    }
    const taskId = newTaskId();
    // A careless upstream that echoes the key back, in the task and in an error.
    const echoed = {
      ...goapiTaskData(taskId, "pending"),
      meta: { api_key: GOAPI_API_KEY, note: `key ${GOAPI_API_KEY}` },
    };
    goapiCreate(() => goapiAnswer(echoed));
    const answers = [await (await adminPost("/v1/tasks", createBody)).text()];
    goapiCreate(() =>
      Response.json({ code: 401, message: `invalid key ${GOAPI_API_KEY}` }, { status: 401 }),
    );
    answers.push(await (await adminPost("/v1/tasks", createBody)).text());
    goapiTask(taskId, () => goapiAnswer({ ...echoed, status: "completed" }));
    answers.push(await (await adminPost(`/v1/tasks/${taskId}/sync`)).text());
    await eventually(() => (deliveries(taskId).length >= 2 ? true : undefined));
    answers.push(JSON.stringify(await taskView(taskId)));
    const rows = await runInDurableObject(taskObject(env, taskId), (_, state) =>
      JSON.stringify(state.storage.sql.exec("SELECT * FROM events").toArray()),
    );
    const forwarded = deliveries(taskId).map((d) => `${d.body} ${JSON.stringify(d.headers)}`);
    for (const [where, texts] of [
      ["an answer", answers],
      ["a log line", lines],
      ["a stored row", [rows]],
      ["a forwarded body", forwarded],
    ] as const) {
      expect(
        texts.filter((t) => t.includes(GOAPI_API_KEY)),
        where,
      ).toEqual([]);
    }
    expect(answers[1]).toContain("[redacted]");
  });

  it("is removed from a long GoAPI message before the message is shortened", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    // Shortened first, the message would end in the key's first half, which nothing recognises.
    const message = `${"x".repeat(300 - GOAPI_API_KEY.length / 2)}${GOAPI_API_KEY}`;
    goapiCreate(() => Response.json({ code: 401, data: null, message }, { status: 401 }));
    const error = await errorOf(await adminPost("/v1/tasks", createBody));
    expect(error).toMatchObject({ status: 502, code: "upstream_error", message: "[redacted]" });
    const taskId = newTaskId();
    goapiTask(taskId, () => Response.json({ code: 500, data: null, message }, { status: 500 }));
    const sync = await errorOf(await adminPost(`/v1/tasks/${taskId}/sync`));
    expect(sync).toMatchObject({ status: 502, message: "[redacted]" });
  });

  it("shortens a long GoAPI message to 300 characters", async () => {
    goapiCreate(() =>
      Response.json({ code: 400, data: null, message: "y".repeat(5000) }, { status: 400 }),
    );
    const error = await errorOf(await adminPost("/v1/tasks", createBody));
    expect(error.message).toBe("y".repeat(300));
  });
});
