import { describe, expect, it } from "vitest";
import { normalizeStatus, parseGoapiPayload } from "../../src/goapi/normalize";
import { removeSecrets } from "../../src/goapi/sanitize";
import { parseJsonBody } from "../../src/lib/json";
import { clone, fixtures } from "../support/fixtures";

function parsed(body: unknown) {
  const result = parseGoapiPayload(body);
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

describe("parseGoapiPayload", () => {
  it("normalizes a finished v2 imagine with its image and actions", () => {
    const event = parsed(fixtures.v2Finished);
    expect(event).toMatchObject({
      taskId: "c0d39b5a-345c-4448-a7bf-5c299c38a06a",
      taskType: "imagine",
      model: "midjourney",
      status: "completed",
      progress: 100,
      error: null,
      description: null,
    });
    expect(event.images).toEqual([
      {
        name: "main",
        url: "https://img.midjourneyapi.xyz/mj/c0d39b5a-345c-4448-a7bf-5c299c38a06a.png",
      },
    ]);
    expect(event.actions).toContain("upscale1");
  });

  it("names v1 temporary images 1..4 when image_urls is null", () => {
    const event = parsed(fixtures.v1Completed);
    expect(event.status).toBe("completed");
    expect(event.images.map((i) => i.name)).toEqual(["main", "1", "2", "3", "4"]);
    expect(event.images[1]?.url).toContain("trim=0;1456;816;0");
  });

  it("prefers image_urls over temporary_image_urls", () => {
    const body = clone(fixtures.v1Completed);
    const data = body.data as Record<string, unknown> & { output: Record<string, unknown> };
    data.output.image_urls = ["https://img.theapi.app/a.png", "https://img.theapi.app/b.png"];
    expect(parsed(body).images.map((i) => i.url)).toEqual([
      "https://img.theapi.app/mj/c130c235-8cc4-4a64-8db1-238fd073c697.png",
      "https://img.theapi.app/a.png",
      "https://img.theapi.app/b.png",
    ]);
  });

  it("reads progress from both shapes", () => {
    expect(parsed(fixtures.v2Progress40)).toMatchObject({ status: "processing", progress: 40 });
    expect(parsed(fixtures.v1Progress40)).toMatchObject({ status: "processing", progress: 40 });
    expect(parsed(fixtures.v2Pending)).toMatchObject({ status: "pending", progress: 0 });
  });

  it("carries v2 error messages and v1 error codes", () => {
    expect(parsed(fixtures.v2Failed)).toMatchObject({
      status: "failed",
      error: "Invalid parameter: Unrecognized parameter(s): `--foo`",
    });
    const body = clone(fixtures.v1Progress40);
    body.data.status = "Failed";
    body.data.error = {
      code: 10000,
      raw_message: "Banned Prompt: x",
      message: "failed to check prompt",
      detail: null,
    };
    expect(parsed(body)).toMatchObject({
      status: "failed",
      error: "failed to check prompt: Banned Prompt: x",
    });
  });

  it("reads the describe text (v2 message, v1 output.description) and the seed", () => {
    const v2 = clone(fixtures.v2Finished);
    v2.meta.task_type = "describe";
    v2.task_result.message = "1️⃣ a dog\n2️⃣ a puppy";
    v2.task_result.seed = "12345";
    expect(parsed(v2)).toMatchObject({ description: "1️⃣ a dog\n2️⃣ a puppy", seed: "12345" });
    const v1 = clone(fixtures.v1Completed) as { data: Record<string, unknown> };
    v1.data.task_type = "describe";
    v1.data.output = { description: "a cat" };
    expect(parsed(v1)).toMatchObject({ description: "a cat", images: [] });
  });

  it("keeps unknown fields and tolerates null or oddly typed optional fields", () => {
    const event = parsed({
      task_id: "t-1",
      status: "PROCESSING",
      brand_new_field: { x: 1 },
      meta: null,
      task_result: { task_progress: "55", image_urls: null, actions: "not-a-list" },
    });
    expect(event).toMatchObject({ taskType: "unknown", status: "processing", progress: 55 });
    expect(event.actions).toEqual([]);
  });

  it("keeps at most 100 characters of a task type or model, so that a task's row stays small", () => {
    const long = "x".repeat(1024 * 1024);
    const v1 = clone(fixtures.v1Completed);
    v1.data.task_type = ` ${long} `;
    v1.data.model = long;
    expect(parsed(v1)).toMatchObject({ taskType: "x".repeat(100), model: "x".repeat(100) });
    expect(parsed({ task_id: "t-2", status: "pending", meta: { task_type: long } }).taskType).toBe(
      "x".repeat(100),
    );
    expect(
      parsed({ task_id: "t-3", status: "pending", meta: { task_type: "imagine" } }).taskType,
    ).toBe("imagine");
  });

  it("rejects bodies without task id or status, naming the field", () => {
    expect(parseGoapiPayload({ status: "pending" })).toEqual({
      ok: false,
      error: expect.stringContaining("task_id"),
    });
    expect(parseGoapiPayload({ data: { task_id: "x" } })).toEqual({
      ok: false,
      error: expect.stringContaining("data.status"),
    });
    expect(parseGoapiPayload([1, 2]).ok).toBe(false);
    expect(parseGoapiPayload({ task_id: "../../etc", status: "pending" }).ok).toBe(false);
  });
});

describe("normalizeStatus", () => {
  it.each([
    ["pending", "pending"],
    ["Staged", "pending"],
    ["processing", "processing"],
    ["starting", "processing"],
    ["retry", "processing"],
    ["finished", "completed"],
    ["COMPLETED", "completed"],
    ["failed", "failed"],
  ])("maps %s to %s", (raw, status) => {
    expect(normalizeStatus(raw)).toEqual({ status, known: true });
  });

  it("maps an unknown status to processing and says so", () => {
    expect(normalizeStatus("queued-somewhere")).toEqual({ status: "processing", known: false });
  });

  it.each(["__proto__", "constructor", "toString", "hasOwnProperty"])(
    "treats the prototype member name %s as an unknown status",
    (raw) => {
      expect(normalizeStatus(raw)).toEqual({ status: "processing", known: false });
    },
  );
});

describe("removeSecrets", () => {
  it("does not look for values too short to tell from ordinary text, which would blank ids and URLs", () => {
    const body = {
      task_id: "0f3c2024-8e1b-4c3a-9d2f-2024aa55bb66",
      output: { image_url: "https://img.midjourneyapi.xyz/mj/2024/a.png" },
      note: "sent with hook-secret-value-1 inside",
    };
    expect(removeSecrets(body, ["2024", "https", "hook-secret-value-1"])).toEqual({
      ...body,
      note: "[redacted]",
    });
  });

  it("drops secret-named keys at any depth and redacts known secret values", () => {
    const cleaned = removeSecrets(
      {
        data: { config: { webhook_config: { endpoint: "https://x", secret: "s3cr3t" } } },
        note: "contains topsecret-value inside",
        list: [{ webhook_secret: "a" }],
      },
      ["topsecret-value"],
    );
    expect(cleaned).toEqual({
      data: { config: { webhook_config: { endpoint: "https://x" } } },
      note: "[redacted]",
      list: [{}],
    });
  });
});

it("keeps a field named __proto__ as data", () => {
  const body = JSON.parse('{"__proto__": {"x": 1}, "a": 2}');
  expect(JSON.stringify(removeSecrets(body, []))).toBe('{"__proto__":{"x":1},"a":2}');
});

describe("parseJsonBody", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  it("accepts JSON and rejects bad UTF-8, bad JSON and deep nesting", () => {
    expect(parseJsonBody(bytes('{"a":1}'))).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonBody(new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject({
      ok: false,
      code: "invalid_json",
    });
    expect(parseJsonBody(bytes("{nope"))).toMatchObject({ ok: false, code: "invalid_json" });
    expect(parseJsonBody(bytes(`${"[".repeat(10000)}${"]".repeat(10000)}`))).toMatchObject({
      ok: false,
      code: "invalid_payload",
    });
  });
});
