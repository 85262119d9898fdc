// Property-based fuzzing of the ingest. The HTTP property runs in its own file because the test
// harness slows down with every request one workerd instance has served (workers-sdk #15446);
// the parsing property needs no HTTP and runs thousands of bodies.
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { normalizeStatus, parseGoapiPayload } from "../src/goapi/normalize";
import { removeSecrets } from "../src/goapi/sanitize";
import { IMAGE_NAME_PATTERN } from "../src/images/sources";
import { parseJsonBody } from "../src/lib/json";
import { adminGet, clone, fixtures, postWebhook, SECRET, taskView } from "./helpers";

const ACCEPTED_OR_REFUSED = new Set([200, 400, 401, 405, 413, 415, 422]);

/** The task id a body names, whichever shape it has, if it is a string. */
function taskIdOf(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const record = body as Record<string, unknown>;
  const data = record.data as Record<string, unknown> | undefined;
  const id = typeof data === "object" && data !== null ? data.task_id : record.task_id;
  return typeof id === "string" ? id : null;
}

/** Bodies near GoAPI's shapes: fixtures with fields replaced by arbitrary values. */
// A small pool of task ids: Durable Objects are reused across runs, as GoAPI's many events per
// task reuse them, and the test stays fast (each new object costs the test runtime more).
const TASK_POOL = Array.from({ length: 12 }, () => crypto.randomUUID());

const nearGoapi = fc
  .tuple(
    fc.constantFrom(...Object.values(fixtures)),
    fc.constantFrom(...TASK_POOL),
    fc.dictionary(
      fc.constantFrom(
        "status",
        "task_result",
        "meta",
        "data",
        "output",
        "timestamp",
        "task_progress",
        "extra",
      ),
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom("finished", "Completed", "processing", "FAILED", "weird"),
      ),
      { maxKeys: 3 },
    ),
  )
  .map(([fixture, taskId, changes]) => {
    const body = clone(fixture) as Record<string, unknown> & { data?: Record<string, unknown> };
    const target = body.data ?? body;
    target.task_id = taskId;
    Object.assign(target, changes);
    return body as unknown;
  });

const anyBody = fc.oneof(
  nearGoapi,
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({
    task_id: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...TASK_POOL)),
    status: fc.string({ maxLength: 12 }),
  }),
);

/** What a task has recorded: its events with their duplicate counts (404 as null). */
async function recorded(taskId: string) {
  const response = await adminGet(`/v1/tasks/${taskId}`);
  if (response.status === 404) return null;
  const view = (await response.json()) as { events: Array<{ id: string; duplicates: number }> };
  return view.events.map((e) => [e.id, e.duplicates]);
}

describe("fuzzing the ingest", () => {
  it("never answers 5xx, stores nothing it refused, and can read back everything it accepted", async () => {
    const errors = vi.spyOn(console, "error");
    // Unknown statuses are logged by design; keep the run's output readable.
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    await fc.assert(
      fc.asyncProperty(
        anyBody,
        fc.constantFrom(SECRET, "wrong", "", SECRET.toUpperCase()),
        fc.constantFrom(
          "application/json",
          "text/plain",
          "application/json; charset=utf-8",
          "text/html",
          "",
        ),
        fc.boolean(),
        async (body, secret, contentType, asRawText) => {
          const raw = asRawText ? JSON.stringify(body).slice(0, -1) : body;
          const headers: Record<string, string> = contentType
            ? { "content-type": contentType }
            : {};
          const taskId = taskIdOf(body);
          const pooled = taskId !== null && TASK_POOL.includes(taskId);
          const before = pooled ? await recorded(taskId) : null;
          const response = await postWebhook(raw, { secret, headers });
          const text = await response.text();
          expect(ACCEPTED_OR_REFUSED.has(response.status), `${response.status} ${text}`).toBe(true);
          expect(text).not.toContain(SECRET);
          if (response.status === 200) {
            const answer = JSON.parse(text) as { task_id: string; event: string };
            const view = await taskView(answer.task_id);
            expect(view.events.map((e) => e.id)).toContain(answer.event);
          } else if (pooled) {
            expect(await recorded(taskId)).toEqual(before);
          }
        },
      ),
      { numRuns: 250 },
    );
    expect(errors.mock.calls.filter((c) => String(c[0]).includes("unhandled"))).toEqual([]);
    errors.mockRestore();
    warnings.mockRestore();
  }, 120_000);
});

describe("fuzzing the parser", () => {
  const bytes = fc.oneof(
    anyBody.map((b) => new TextEncoder().encode(JSON.stringify(b))),
    fc.uint8Array({ maxLength: 300 }),
    fc.string({ unit: "binary", maxLength: 300 }).map((s) => new TextEncoder().encode(s)),
  );

  it("turns any bytes into a valid event or a clear refusal, and never throws", () => {
    fc.assert(
      fc.property(bytes, (body) => {
        const json = parseJsonBody(body);
        if (!json.ok) {
          expect(["invalid_json", "invalid_payload"]).toContain(json.code);
          return;
        }
        const parsed = parseGoapiPayload(json.value);
        if (!parsed.ok) {
          expect(parsed.error).toEqual(expect.any(String));
          return;
        }
        const event = parsed.value;
        expect(["pending", "processing", "completed", "failed"]).toContain(event.status);
        expect(normalizeStatus(event.rawStatus).status).toBe(event.status);
        expect(
          Number.isInteger(event.progress) && event.progress >= 0 && event.progress <= 100,
        ).toBe(true);
        expect(event.images.length).toBeLessThanOrEqual(17);
        for (const image of event.images)
          expect(IMAGE_NAME_PATTERN.test(`${image.name}.png`)).toBe(true);
        const cleaned = JSON.stringify(removeSecrets(json.value, [SECRET]));
        expect(cleaned).not.toContain(SECRET);
      }),
      { numRuns: 5000 },
    );
  });
});
