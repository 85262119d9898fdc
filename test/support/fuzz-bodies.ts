// fast-check generators of webhook bodies: GoAPI's fixtures with fields replaced by arbitrary
// values, arbitrary JSON, and objects with odd task ids and statuses.
import fc from "fast-check";
import { clone, fixtures } from "./fixtures";

/** Any body a fuzzer should send, naming one of `taskIds` when it looks like GoAPI's. */
export function goapiFuzzBody(taskIds: readonly string[]): fc.Arbitrary<unknown> {
  // Bodies near GoAPI's shapes: fixtures with fields replaced by arbitrary values.
  const nearGoapi = fc
    .tuple(
      fc.constantFrom(...Object.values(fixtures)),
      fc.constantFrom(...taskIds),
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

  return fc.oneof(
    nearGoapi,
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({
      task_id: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...taskIds)),
      status: fc.string({ maxLength: 12 }),
    }),
  );
}
