import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deadLetterLog } from "../src/bindings";
import { EXAMPLE_ADMIN_TOKEN } from "../src/config";
import { overrideEnv } from "./support/env";
import { fixtures } from "./support/fixtures";
import { ADMIN_TOKEN } from "./support/keys";
import { adminGet, adminPost, deadLetterPage, postWebhook } from "./support/requests";

describe("admin API authentication", () => {
  it("answers 401 without a token or with a wrong one, never echoing it", async () => {
    for (const token of [null, "wrong", ADMIN_TOKEN.slice(1), `${ADMIN_TOKEN}x`]) {
      const response = await adminGet("/v1/tasks/anything", token);
      expect(response.status).toBe(401);
      const text = await response.text();
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(JSON.parse(text).error.code).toBe("unauthorized");
    }
  });

  it("answers 404 for an unknown task and 400 for an id that could escape a key prefix", async () => {
    expect((await adminGet("/v1/tasks/never-seen")).status).toBe(404);
    expect((await adminGet("/v1/tasks/..%2F..%2Fetc")).status).toBe(400);
  });

  it("shows a recorded task", async () => {
    await postWebhook(fixtures.v2Failed);
    const response = await adminGet(`/v1/tasks/${fixtures.v2Failed.task_id}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      task_id: fixtures.v2Failed.task_id,
      status: "failed",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      events: [{ type: "task.failed", duplicates: 0, stale: false }],
    });
  });

  it("answers the JSON 404 envelope for unknown routes", async () => {
    const response = await adminGet("/nope");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: "not_found", message: "no such route" },
    });
  });
});

describe("admin API over plain http", () => {
  it("refuses the token over http to anything but this machine, and takes it on http to it", async () => {
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const afar = await exports.default.fetch("http://midhook.test/v1/dead-letters", { headers });
    expect(afar.status).toBe(403);
    expect(await afar.json()).toEqual({
      error: {
        code: "https_required",
        message: "the admin token travels over https only: use https://midhook.test",
      },
    });
    for (const origin of ["http://localhost:8787", "http://127.0.0.1:9000"]) {
      const local = await exports.default.fetch(`${origin}/v1/dead-letters`, { headers });
      expect(local.status, origin).toBe(200);
    }
  });
});

describe("admin API with the example ADMIN_TOKEN", () => {
  it("takes it only on this machine, and tells anyone else to set their own", async () => {
    overrideEnv({ ADMIN_TOKEN: EXAMPLE_ADMIN_TOKEN });
    const headers = { authorization: `Bearer ${EXAMPLE_ADMIN_TOKEN}` };
    const afar = await exports.default.fetch("https://midhook.test/v1/dead-letters", { headers });
    expect(afar.status).toBe(503);
    expect(await afar.json()).toEqual({
      error: {
        code: "not_configured",
        message:
          "ADMIN_TOKEN is the example value from .dev.vars.example, which anyone can read: set your own (wrangler secret put ADMIN_TOKEN)",
      },
    });
    const local = await exports.default.fetch("http://127.0.0.1:8787/v1/dead-letters", { headers });
    expect(local.status).toBe(200);
  });
});

describe("admin API without ADMIN_TOKEN", () => {
  it("answers 503 not_configured to everyone, whatever token they send", async () => {
    overrideEnv({ ADMIN_TOKEN: "" });
    for (const token of [null, "", ADMIN_TOKEN]) {
      const response = await adminGet("/v1/dead-letters", token);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: "not_configured" } });
    }
  });
});

describe("GET /v1/dead-letters", () => {
  it("pages with limit and next_cursor, oldest first, and 404s an unknown replay", async () => {
    const log = deadLetterLog(env);
    const marker = `page-${crypto.randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      await log.add({
        task_id: marker,
        event: `evt_${marker}_${i}`,
        subscription: "all",
        attempts: 10,
        last_status: 503,
        last_error: "HTTP 503",
        failed_at: new Date().toISOString(),
      });
    }
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await deadLetterPage(`limit=2&cursor=${cursor}`);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.filter((i) => i.task_id === marker).map((i) => i.event));
      cursor = page.next_cursor;
    }
    expect(seen).toEqual([0, 1, 2].map((i) => `evt_${marker}_${i}`));
    expect((await adminGet("/v1/dead-letters?cursor=&limit=")).status).toBe(200);
    expect((await adminGet("/v1/dead-letters?limit=0")).status).toBe(400);
    expect((await adminGet("/v1/dead-letters?cursor=abc")).status).toBe(400);
    expect((await adminPost("/v1/dead-letters/dlq_nope/replay")).status).toBe(404);
  });
});
