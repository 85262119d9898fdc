// The admin API for one task: `GET /v1/tasks/{id}` and `POST /v1/tasks/{id}/redeliver`.
import { Hono } from "hono";
import { z } from "zod";
import { type AppEnv, deadLetterLog, taskObject } from "../bindings";
import type { RedeliverResult } from "../contract";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { readJsonBody } from "../lib/body";
import { ApiError } from "../lib/errors";
import { MAX_ADMIN_BODY_BYTES } from "./require-admin";

const redeliverSchema = z.strictObject({
  subscription: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
});

export const tasks = new Hono<AppEnv>();

function taskId(raw: string): string {
  if (!TASK_ID_PATTERN.test(raw)) throw new ApiError(400, "invalid_request", "invalid task id");
  return raw;
}

tasks.get("/:taskId", async (c) => {
  const view = await taskObject(c.env, taskId(c.req.param("taskId"))).getTask();
  if (view === null) throw new ApiError(404, "not_found", "no such task");
  return c.json(view);
});

tasks.post("/:taskId/redeliver", async (c) => {
  const id = taskId(c.req.param("taskId"));
  const json = await readJsonBody(c.req.raw, MAX_ADMIN_BODY_BYTES, { allowEmpty: true });
  const body = redeliverSchema.safeParse(json ?? {});
  if (!body.success) {
    throw new ApiError(422, "invalid_payload", 'expected { "subscription"?: string }');
  }
  const result = await taskObject(c.env, id).redeliver({ subscription: body.data.subscription });
  const restarted = restartedOrThrow(result);
  await deadLetterLog(c.env).remove(restarted);
  return c.json({ ok: true, deliveries: restarted });
});

/** The deliveries a redeliver restarted, or the API error that says why it could not. */
export function restartedOrThrow(result: RedeliverResult) {
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
      throw new ApiError(409, "conflict", `SUBSCRIPTIONS is invalid: ${result.errors.join("; ")}`);
  }
}
