// The operations on tasks that the admin API and the console share: the task list (from the
// cross-task index), one task (from its object), redelivery and erasure. Each checks what it is
// given and throws ApiError, so a router only reads the request and calls it.
import { z } from "zod";
import { deadLetterLog, taskObject } from "../bindings";
import type {
  EraseResult,
  RedeliverResult,
  RestartedDelivery,
  TaskListPage,
  TaskView,
} from "../contract";
import { invalidSubscriptionsMessage } from "../delivery/subscriptions";
import { TASK_STATUSES } from "../goapi/events";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { ApiError, errorText } from "../lib/errors";
import { decodeCursor, encodeCursor } from "../task-index/cursor";
import { listIndexEntries, listItem } from "../task-index/store";

/** A query parameter sent empty (`?cursor=`) reads as unset: the first page, the default size. */
export const emptyAsUnset = (value: unknown) => (value === "" ? undefined : value);

const listSchema = z.object({
  status: z.preprocess(emptyAsUnset, z.enum(TASK_STATUSES).optional()),
  cursor: z.preprocess(emptyAsUnset, z.string().max(400).optional()),
  limit: z.preprocess(emptyAsUnset, z.coerce.number().int().min(1).max(100).default(50)),
});

/** Query parameters of a task list page, as the API and the console's gallery take them. */
type ListParams = z.input<typeof listSchema>;

/** The task id of a path, or ApiError 400 for one that could escape a key prefix. */
export function taskId(raw: string): string {
  if (!TASK_ID_PATTERN.test(raw)) throw new ApiError(400, "invalid_request", "invalid task id");
  return raw;
}

/** A page of the task list, newest first; ApiError 400 for a bad status, cursor or limit. */
export async function listTasks(env: Env, params: ListParams): Promise<TaskListPage> {
  const query = listSchema.safeParse(params);
  if (!query.success) {
    throw new ApiError(400, "invalid_request", "status, cursor or limit is invalid");
  }
  const after = query.data.cursor === undefined ? null : decodeCursor(query.data.cursor);
  if (query.data.cursor !== undefined && after === null) {
    throw new ApiError(400, "invalid_request", "cursor is not a next_cursor value");
  }
  const page = await listIndexEntries(env.INDEX, {
    status: query.data.status ?? null,
    after,
    limit: query.data.limit,
  });
  return {
    items: page.entries.map((entry) => listItem(entry, env)),
    next_cursor: page.next === null ? null : encodeCursor(page.next),
  };
}

/** Task `id` with its events, images and deliveries, or null when there is no such task. */
export async function getTask(env: Env, id: string): Promise<TaskView | null> {
  return taskObject(env, id).getTask();
}

/** Erases task `id` (see TaskObject.erase); ApiError 404 when there is no such task. */
export async function deleteTask(env: Env, id: string): Promise<void> {
  let result: EraseResult;
  try {
    result = await taskObject(env, id).erase();
  } catch (err) {
    console.error("erasing a task failed", { task_id: id, error: errorText(err) });
    throw new ApiError(
      503,
      "storage_unavailable",
      "the task's object could not be reached, so it may not be erased: DELETE it again",
    );
  }
  if (result === "unknown_task") throw new ApiError(404, "not_found", "no such task");
  if (result === "retrying") {
    throw new ApiError(
      503,
      "storage_unavailable",
      "the task is erased from midhook's views, but some of its data could not be removed yet; it is removed in the background",
    );
  }
}

/** Starts a new attempt series of the task's deliveries (to one subscription, if given). */
export async function redeliverTask(
  env: Env,
  id: string,
  subscription?: string,
): Promise<RestartedDelivery[]> {
  const result = await taskObject(env, id).redeliver({ subscription });
  const restarted = restartedOrThrow(result);
  await deadLetterLog(env).remove(restarted);
  return restarted;
}

/** The deliveries a redeliver restarted, or the API error that says why it could not. */
export function restartedOrThrow(result: RedeliverResult): RestartedDelivery[] {
  if (result.ok) return result.restarted;
  switch (result.reason) {
    case "unknown_task":
      throw new ApiError(404, "not_found", "no such task");
    case "unknown_subscription":
      throw new ApiError(
        404,
        "not_found",
        `no subscription "${result.subscription}" in SUBSCRIPTIONS`,
      );
    case "invalid_config":
      throw new ApiError(409, "conflict", invalidSubscriptionsMessage(result.errors));
  }
}
