// Property-based fuzzing of the ingest over HTTP. It runs in its own file because the test harness
// slows down with every request one workerd instance has served (workers-sdk #15446); the parsing
// property needs no HTTP and runs thousands of bodies in test/unit/parser-fuzz.test.ts.
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { goapiFuzzBody } from "./support/fuzz-bodies";
import { SECRET } from "./support/keys";
import { adminGet, postWebhook, taskView } from "./support/requests";
import { readView, views } from "./support/views";

const ACCEPTED_OR_REFUSED = new Set([200, 400, 401, 405, 413, 415, 422]);

/** The task id a body names, whichever shape it has, if it is a string. */
function taskIdOf(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const record = body as Record<string, unknown>;
  const data = record.data as Record<string, unknown> | undefined;
  const id = typeof data === "object" && data !== null ? data.task_id : record.task_id;
  return typeof id === "string" ? id : null;
}

// A small pool of task ids: Durable Objects are reused across runs, as GoAPI's many events per
// task reuse them, and the test stays fast (each new object costs the test runtime more).
const TASK_POOL = Array.from({ length: 12 }, () => crypto.randomUUID());

const anyBody = goapiFuzzBody(TASK_POOL);

/** What a task has recorded: its events with their duplicate counts (404 as null). */
async function recorded(taskId: string) {
  const response = await adminGet(`/v1/tasks/${taskId}`);
  if (response.status === 404) return null;
  const view = await readView(response, views.task);
  return view.events.map((e) => [e.id, e.duplicates]);
}

describe("fuzzing the ingest", () => {
  it("never answers 5xx, stores nothing it refused, and can read back everything it accepted", async () => {
    const errors = vi.spyOn(console, "error");
    // Unknown statuses are logged by design; keep the run's output readable.
    vi.spyOn(console, "warn").mockImplementation(() => {});
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
            const answer = views.ingest.parse(JSON.parse(text));
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
  }, 120_000);
});
