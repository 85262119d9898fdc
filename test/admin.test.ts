import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, adminGet, fixtures, postWebhook } from "./helpers";

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
