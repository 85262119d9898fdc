// Recording a GoAPI body in its task's Durable Object, the one path every route that hears of a
// task takes (a webhook, a submission, a sync): secrets removed, parsed, recorded; `422` for a
// body that is not a task, `503` when the task's object cannot record it, so the sender retries.
import { taskObject } from "../bindings";
import { secretsToRemove } from "../config";
import type { EventSource, IngestAnswer, RecordResult } from "../contract";
import { acceptGoapiBody, warnIfUnknownStatus } from "../goapi/accept";
import type { TaskEvent } from "../goapi/events";
import { ApiError, errorText } from "../lib/errors";

/** Records `body` as heard from `source`; `origin` is where archived images are served from. */
export async function recordGoapiBody(
  env: Env,
  body: unknown,
  origin: string,
  source: EventSource,
): Promise<{ event: TaskEvent; answer: IngestAnswer }> {
  const accepted = acceptGoapiBody(body, secretsToRemove(env));
  if (!accepted.ok) throw new ApiError(422, "invalid_payload", accepted.error);
  const { event, payload } = accepted;
  warnIfUnknownStatus(event);
  let recorded: RecordResult;
  try {
    recorded = await taskObject(env, event.taskId).recordEvent(event, payload, origin, source);
  } catch (err) {
    console.error("recording the event failed", { task_id: event.taskId, error: errorText(err) });
    throw new ApiError(503, "storage_unavailable", "the event could not be recorded; retry");
  }
  return {
    event,
    answer: {
      ok: true,
      task_id: event.taskId,
      duplicate: recorded.duplicate,
      stale: recorded.stale,
      event: recorded.event,
    },
  };
}
