// GoAPI payloads as they arrive (the realistic webhooks in samples/, which `npm run send` posts
// too), and a deep copy to change them.
import v1Completed from "../../samples/v1-completed.json";
import v1Progress40 from "../../samples/v1-progress-40.json";
import v2Failed from "../../samples/v2-failed.json";
import v2Finished from "../../samples/v2-finished.json";
import v2Pending from "../../samples/v2-pending.json";
import v2Progress40 from "../../samples/v2-progress-40.json";

export const fixtures = {
  v1Completed,
  v1Progress40,
  v2Failed,
  v2Finished,
  v2Pending,
  v2Progress40,
};

/** A deep copy of a fixture, for the caller to change. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A v2 event for `taskId` with `status` and `progress`. */
export function v2Event(taskId: string, status: string, progress: number) {
  const body = clone(fixtures.v2Progress40);
  body.task_id = taskId;
  body.status = status;
  body.task_result.task_progress = progress;
  return body;
}
