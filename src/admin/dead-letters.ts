// The operations on failed deliveries that the admin API and the console share: the dead-letter
// list, and the replay of one dead letter.
import { z } from "zod";
import { deadLetterLog, taskObject } from "../bindings";
import type { DeadLetterPage, RestartedDelivery } from "../contract";
import { ApiError } from "../lib/errors";
import { emptyAsUnset, restartedOrThrow } from "./tasks";

const pageSchema = z.object({
  cursor: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .regex(/^\d{1,15}$/, "must be a next_cursor value")
      .optional(),
  ),
  limit: z.preprocess(emptyAsUnset, z.coerce.number().int().min(1).max(500).default(50)),
});

/** A page of dead letters, oldest first; ApiError 400 for a bad cursor or limit. */
export async function listDeadLetters(
  env: Env,
  params: Record<string, string | undefined>,
): Promise<DeadLetterPage> {
  const query = pageSchema.safeParse(params);
  if (!query.success) throw new ApiError(400, "invalid_request", "cursor or limit is invalid");
  return deadLetterLog(env).list(Number(query.data.cursor ?? 0), query.data.limit);
}

/**
 * Starts a new attempt series of dead letter `id` and takes it off the list; ApiError 404 for an
 * unknown one (or one whose task was deleted), 409 when its subscription no longer wants it.
 */
export async function replayDeadLetter(env: Env, id: string): Promise<RestartedDelivery[]> {
  const log = deadLetterLog(env);
  const entry = await log.get(id);
  if (entry === null) throw new ApiError(404, "not_found", "no such dead letter");
  const result = await taskObject(env, entry.task_id).redeliver({
    event: entry.event,
    subscription: entry.subscription,
  });
  const restarted = restartedOrThrow(result);
  if (restarted.length === 0) {
    throw new ApiError(409, "conflict", "the subscription no longer wants this event");
  }
  await log.remove(restarted);
  return restarted;
}
