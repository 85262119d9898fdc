// What midhook survives: fuzzed and malformed input, secret leaks, SSRF attempts.
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import { parseSubscriptions } from "../src/delivery/subscriptions";
import { archiveImage } from "../src/images/archive";
import { isPrivateAddress } from "../src/lib/net";
import { overrideEnv } from "./support/env";
import { clone, fixtures } from "./support/fixtures";
import { ADMIN_TOKEN, ALL_KEY, GALLERY_KEY, SECRET } from "./support/keys";
import { deliveries, eventually, fetchedImages, pngBytes, serveImage } from "./support/network";
import { adminGet, newTaskId, postWebhook, taskView } from "./support/requests";

const utf16 = (text: string) => {
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) bytes[i * 2] = text.charCodeAt(i);
  return bytes;
};

describe("bad input", () => {
  const valid = () => ({ ...clone(fixtures.v2Pending), task_id: newTaskId() });
  const cases: Array<[string, () => unknown, number, string | null, Record<string, string>?]> = [
    ["an empty object", () => ({}), 422, "invalid_payload"],
    ["null", () => "null", 422, "invalid_payload"],
    ["an array", () => [valid()], 422, "invalid_payload"],
    ["a JSON string", () => '"pending"', 422, "invalid_payload"],
    ["a number task id", () => ({ ...valid(), task_id: 42 }), 422, "invalid_payload"],
    ["an empty status", () => ({ ...valid(), status: "" }), 422, "invalid_payload"],
    [
      "a status that is an object",
      () => ({ ...valid(), status: { s: 1 } }),
      422,
      "invalid_payload",
    ],
    [
      "v1 without data.task_id",
      () => ({ timestamp: 1, data: { status: "pending" } }),
      422,
      "invalid_payload",
    ],
    ["v1 with data as a string", () => ({ timestamp: 1, data: "x" }), 422, "invalid_payload"],
    [
      "a task id with a slash",
      () => ({ ...valid(), task_id: "tasks/../../x" }),
      422,
      "invalid_payload",
    ],
    ["a task id of dots", () => ({ ...valid(), task_id: ".." }), 422, "invalid_payload"],
    [
      "a task id with a NUL",
      () => ({ ...valid(), task_id: "abc\u0000def" }),
      422,
      "invalid_payload",
    ],
    [
      "a task id with a newline",
      () => ({ ...valid(), task_id: "abc\ndef" }),
      422,
      "invalid_payload",
    ],
    ["a unicode task id", () => ({ ...valid(), task_id: "täsk-ü" }), 422, "invalid_payload"],
    [
      "a task id of 200 characters",
      () => ({ ...valid(), task_id: "a".repeat(200) }),
      422,
      "invalid_payload",
    ],
    [
      "JSON nested 100 deep",
      () => ({ ...valid(), deep: JSON.parse(`${"[".repeat(100)}${"]".repeat(100)}`) }),
      422,
      "invalid_payload",
    ],
    ["truncated JSON", () => JSON.stringify(valid()).slice(0, 40), 400, "invalid_json"],
    ["a body in UTF-16", () => utf16(JSON.stringify(valid())), 400, "invalid_json"],
    [
      "a body in Latin-1",
      () => new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]),
      400,
      "invalid_json",
    ],
    [
      "an HTML content type",
      () => valid(),
      415,
      "unsupported_media_type",
      { "content-type": "text/html" },
    ],
    [
      "a multipart content type",
      () => valid(),
      415,
      "unsupported_media_type",
      { "content-type": "multipart/form-data; boundary=x" },
    ],
    ["unicode and emoji in fields", () => ({ ...valid(), note: "日本語 🎨 \u202e" }), 200, null],
    [
      "a 900 KB string in an unknown field",
      () => ({ ...valid(), padding: "x".repeat(900_000) }),
      200,
      null,
    ],
    [
      "10,000 image URLs",
      () => ({
        ...valid(),
        status: "finished",
        task_result: { image_urls: Array(10_000).fill("https://x/a.png") },
      }),
      200,
      null,
    ],
    ["no content type", () => valid(), 200, null, { "content-type": "" }],
    [
      "a describe text of almost 1 MiB",
      () => {
        const body = clone(fixtures.v1Completed);
        body.data.task_id = newTaskId();
        return { ...body, data: { ...body.data, output: { description: "fox ".repeat(260_000) } } };
      },
      200,
      null,
    ],
    [
      "an error message of almost 1 MiB",
      () => ({
        ...valid(),
        status: "failed",
        task_result: { error_messages: ["x".repeat(1_000_000)] },
      }),
      200,
      null,
    ],
  ];

  it.each(cases)(
    "answers %s with the right status and error code",
    async (_, make, status, code, headers = {}) => {
      const response = await postWebhook(make(), { headers });
      const text = await response.text();
      expect(response.status, text).toBe(status);
      if (code === null) expect(JSON.parse(text)).toMatchObject({ ok: true });
      else expect(JSON.parse(text).error.code).toBe(code);
    },
  );

  it("keeps every stored event row under the 2 MB row limit of Durable Object SQLite", async () => {
    // The largest body GoAPI may send (just under 1 MiB), all of it in fields midhook reads.
    const taskId = newTaskId();
    const body = clone(fixtures.v1Completed);
    const output = {
      description: "fox ".repeat(120_000),
      actions: Array.from({ length: 36_000 }, (_, i) => `upscale${i}`),
    };
    const sent = { ...body, data: { ...body.data, task_id: taskId, output } };
    expect(JSON.stringify(sent).length).toBeLessThan(1024 * 1024);
    expect((await postWebhook(sent)).status).toBe(200);
    const bytes = await runInDurableObject(taskObject(env, taskId), (_, state) => {
      const columns = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('events')")
        .toArray()
        .map((c) => `COALESCE(length(CAST(${c.name} AS BLOB)), 0)`);
      return state.storage.sql
        .exec<{ bytes: number }>(`SELECT MAX(${columns.join(" + ")}) AS bytes FROM events`)
        .one().bytes;
    });
    expect(bytes).toBeGreaterThan(900_000);
    expect(bytes).toBeLessThan(2_000_000);
  });

  it("caps the images of one task at the main image and 16 tiles", async () => {
    const taskId = newTaskId();
    const urls = Array.from({ length: 40 }, (_, i) => `https://not-allowed.example/${i}.png`);
    await postWebhook({
      ...clone(fixtures.v2Finished),
      task_id: taskId,
      task_result: { image_urls: urls },
    });
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images.length > 0 ? v : undefined;
    });
    expect(view.images).toHaveLength(16);
  });

  it.each(["GET", "HEAD", "PUT", "DELETE"])(
    "answers %s on the ingest route with 405",
    async (method) => {
      const response = await exports.default.fetch("https://midhook.test/webhooks/goapi", {
        method,
        headers: { "x-webhook-secret": SECRET },
        body: method === "PUT" ? "{}" : undefined,
      });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      await response.arrayBuffer();
    },
  );
});

describe("secret hygiene", () => {
  it("keeps the GoAPI secret and the subscription keys out of logs, storage, deliveries and errors", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      });
    }
    const taskId = newTaskId();
    const subscriptionKeys = [ALL_KEY, GALLERY_KEY];
    const errorBodies: string[] = [];
    const body = clone(fixtures.v1Completed);
    body.data.task_id = taskId;
    body.data.config.webhook_config.secret = SECRET;
    (body.data.input as Record<string, unknown>).prompt = `a cat, token ${SECRET} inline`;
    body.data.output.image_url = serveImage(
      `/${taskId}/main.png`,
      () => new Response(pngBytes(128), { headers: { "content-type": "image/png" } }),
    );
    body.data.output.temporary_image_urls = [];
    expect((await postWebhook(body)).status).toBe(200);
    for (const [payload, secret] of [
      [body, `${SECRET}x`],
      [{ task_id: `bad/${SECRET}`, status: "pending" }, SECRET],
      [{ ...body, data: { ...body.data, status: 7 } }, SECRET],
      [`{"task_id":"${SECRET}"`, SECRET],
    ] as const) {
      errorBodies.push(await (await postWebhook(payload, { secret })).text());
    }
    errorBodies.push(await (await adminGet("/v1/tasks/x", SECRET)).text());
    await eventually(() => (deliveries(taskId).length >= 2 ? true : undefined));

    vi.restoreAllMocks();
    const stub = taskObject(env, taskId);
    const rows = await runInDurableObject(stub, (_, state) =>
      ["task", "events", "images", "deliveries"].map((table) =>
        JSON.stringify(state.storage.sql.exec(`SELECT * FROM ${table}`).toArray()),
      ),
    );
    const objects = await env.IMAGES.list({ prefix: `tasks/${taskId}/` });
    const stored = await Promise.all(
      objects.objects.map(async (o) =>
        new TextDecoder().decode(await (await env.IMAGES.get(o.key))?.arrayBuffer()),
      ),
    );
    const forwarded = deliveries(taskId);
    const forwardedText = forwarded.map((d) => {
      const { "x-webhook-secret": _deliberate, ...headers } = d.headers;
      return `${d.body} ${JSON.stringify(headers)}`;
    });
    for (const secret of [SECRET, ...subscriptionKeys]) {
      for (const [where, texts] of [
        ["a log line", lines],
        ["a Durable Object row", rows],
        ["an R2 object", stored],
        ["a forwarded body or header", forwardedText],
        ["an error answer", errorBodies],
      ] as const) {
        expect(
          texts.filter((t) => t.includes(secret)),
          `${where} contains a secret`,
        ).toEqual([]);
      }
    }
    // The one deliberate exception: the goapi format carries the subscription's own key.
    expect(forwarded.find((d) => d.path === "/gallery")?.headers["x-webhook-secret"]).toBe(
      subscriptionKeys[1],
    );
    expect(rows.join()).toContain("[redacted]");
  });
});

describe("secret hygiene with an invalid SUBSCRIPTIONS", () => {
  it("still removes the keys and secret header values of every subscription it can read", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const literalKey = `whsec_${btoa("literal-key-of-a-valid-subscription")}`;
    const headerSecret = "team-token-from-a-secret";
    overrideEnv({
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "good",
          url: "https://subscriber.test/good",
          secret: literalKey,
          headers: { "x-token": "env:TEAM_TOKEN" },
        },
        { id: "bad", url: "https://subscriber.test/bad", secret: "env:NOT_SET_ANYWHERE" },
      ]),
      TEAM_TOKEN: headerSecret,
    } as Partial<Record<keyof Env, string>>);
    const taskId = newTaskId();
    const body = { ...clone(fixtures.v2Pending), task_id: taskId, note: `echo ${literalKey}` };
    (body as Record<string, unknown>).header = `echo ${headerSecret}`;
    expect((await postWebhook(body)).status).toBe(200);
    const payload = await runInDurableObject(
      taskObject(env, taskId),
      (_, state) =>
        state.storage.sql.exec<{ payload: string }>("SELECT payload FROM events").one().payload,
    );
    expect(payload).not.toContain(literalKey);
    expect(payload).not.toContain(headerSecret);
    expect(JSON.parse(payload)).toMatchObject({ note: "[redacted]", header: "[redacted]" });
  });
});

describe("secrets inside the fields midhook copies", () => {
  it("never stores or forwards a known secret found in an error, description, action or image URL", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const planted = [SECRET, ADMIN_TOKEN, ALL_KEY];
    const completed = newTaskId();
    const failed = newTaskId();
    const body = clone(fixtures.v1Completed);
    body.data.task_id = completed;
    body.data.task_type = "describe";
    body.data.output = {
      ...body.data.output,
      description: `four prompts; leaked ${SECRET} here`,
      actions: ["upscale1", `reroll-${ADMIN_TOKEN}`],
      image_url: `https://images.test/${completed}/main.png?token=${ALL_KEY}`,
      temporary_image_urls: [],
    } as typeof body.data.output;
    const failure = clone(fixtures.v1Completed);
    failure.data.task_id = failed;
    failure.data.status = "failed";
    failure.data.output.image_url = "";
    failure.data.output.temporary_image_urls = [];
    failure.data.error = {
      code: 10000,
      message: `failed with ${SECRET}`,
      raw_message: `raw ${ADMIN_TOKEN}`,
      detail: null,
    };
    expect((await postWebhook(body)).status).toBe(200);
    expect((await postWebhook(failure)).status).toBe(200);
    const sent = await eventually(() => {
      const all = [...deliveries(completed), ...deliveries(failed)].filter(
        (d) => d.path === "/all",
      );
      return all.length >= 2 ? all : undefined;
    });
    const rows = await Promise.all(
      [completed, failed].map((id) =>
        runInDurableObject(taskObject(env, id), (_, state) =>
          ["events", "images"].map((table) =>
            JSON.stringify(state.storage.sql.exec(`SELECT * FROM ${table}`).toArray()),
          ),
        ),
      ),
    );
    const views = await Promise.all([completed, failed].map((id) => taskView(id)));
    for (const secret of planted) {
      expect(sent.filter((d) => d.body.includes(secret))).toEqual([]);
      expect(rows.flat().filter((row) => row.includes(secret))).toEqual([]);
      expect(JSON.stringify(views)).not.toContain(secret);
    }
    expect(fetchedImages().filter((url) => url.includes(completed))).toEqual([]);
  });
});

describe("SSRF", () => {
  const hosts = ["images.test", "127.0.0.1:8787"];
  const refused = [
    "http://127.0.0.1/a.png",
    "http://127.0.0.1:8788/a.png",
    "https://127.0.0.1/a.png",
    "http://localhost:8787/a.png",
    "http://[::1]:8787/a.png",
    "http://10.0.0.8/a.png",
    "https://192.168.1.1/a.png",
    "https://172.16.0.1/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://2130706433/a.png",
    "https://images.test@evil.example/a.png",
    "https://evil.example#@images.test/a.png",
    "https://evil.example\\@images.test/a.png",
    "https://images.test.evil.example/a.png",
    "ftp://images.test/a.png",
    "file:///etc/passwd",
    "javascript:alert(1)",
  ];

  it.each(refused)("never fetches the image URL %s", async (url) => {
    const before = fetchedImages().length;
    const result = await archiveImage(env.IMAGES, newTaskId(), "main", url, {
      hosts,
      maxBytes: 1024,
      timeoutMs: 1000,
    });
    expect(result.ok).toBe(false);
    expect(fetchedImages().length).toBe(before);
  });

  it.each([
    "http://169.254.169.254/latest",
    "http://127.0.0.1:8788/x",
    "http://[::1]/x",
    "http://10.0.0.1/x",
  ])("refuses a redirect to %s", async (location) => {
    const taskId = newTaskId();
    const url = serveImage(
      `/${taskId}/hop`,
      () => new Response(null, { status: 307, headers: { location } }),
    );
    const result = await archiveImage(env.IMAGES, taskId, "main", url, {
      hosts,
      maxBytes: 1024,
      timeoutMs: 1000,
    });
    expect(result).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("redirect"),
    });
  });

  it.each([
    "https://10.1.2.3/hook",
    "https://169.254.169.254/latest",
    "https://[fd00::1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "http://192.168.0.2/hook",
    "https://user:pass@hooks.example.com/x",
    "https://0.0.0.0/hook",
  ])("refuses the subscriber URL %s", (url) => {
    const result = parseSubscriptions(
      [{ id: "s", url, secret: "whsec_c3Vic2NyaWJlci1rZXktdGVzdA==" }],
      {},
    );
    expect(result.ok).toBe(false);
  });

  it("classifies IP literals", () => {
    for (const host of [
      "10.0.0.1",
      "172.31.255.255",
      "192.168.0.1",
      "169.254.169.254",
      "0.0.0.0",
      "[fe80::1]",
      "[fc00::1]",
      "[::ffff:7f00:1]",
      "100.64.0.1",
    ]) {
      expect(isPrivateAddress(host), host).toBe(true);
    }
    for (const host of [
      "8.8.8.8",
      "172.32.0.1",
      "hooks.example.com",
      "[2606:4700::1]",
      "127.0.0.1",
    ]) {
      expect(isPrivateAddress(host), host).toBe(false);
    }
  });
});
