// The admin API for failed deliveries: `GET /v1/dead-letters` and `POST .../{id}/replay`.
import { Hono } from "hono";
import { z } from "zod";
import { type AppEnv, deadLetterLog, taskObject } from "../bindings";
import { ApiError } from "../lib/errors";
import { restartedOrThrow } from "./tasks";

// `?cursor=&limit=` (empty) means the first page and the default size.
const emptyAsUnset = (value: unknown) => (value === "" ? undefined : value);
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

export const deadLetters = new Hono<AppEnv>();

deadLetters.get("/", async (c) => {
  const query = pageSchema.safeParse(c.req.query());
  if (!query.success) throw new ApiError(400, "invalid_request", "cursor or limit is invalid");
  const page = await deadLetterLog(c.env).list(Number(query.data.cursor ?? 0), query.data.limit);
  return c.json(page);
});

deadLetters.post("/:id/replay", async (c) => {
  const log = deadLetterLog(c.env);
  const entry = await log.get(c.req.param("id"));
  if (entry === null) throw new ApiError(404, "not_found", "no such dead letter");
  const result = await taskObject(c.env, entry.task_id).redeliver({
    event: entry.event,
    subscription: entry.subscription,
  });
  const restarted = restartedOrThrow(result);
  if (restarted.length === 0) {
    throw new ApiError(409, "conflict", "the subscription no longer wants this event");
  }
  await log.remove(restarted);
  return c.json({ ok: true, deliveries: restarted });
});
