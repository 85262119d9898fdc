// The admin API for tasks: the list (`GET /v1/tasks`, from the cross-task index), one task
// (`GET /v1/tasks/{id}`, from its object), `POST /v1/tasks/{id}/redeliver` and `DELETE`.
import { Hono } from "hono";
import { z } from "zod";
import { deleteTask, getTask, listTasks, redeliverTask, taskId } from "../admin/tasks";
import type { AppEnv } from "../bindings";
import { SUBSCRIPTION_ID_PATTERN } from "../delivery/subscriptions";
import { MAX_ADMIN_BODY_BYTES, readJsonBody } from "../lib/body";
import { ApiError } from "../lib/errors";

const redeliverSchema = z.strictObject({
  subscription: z.string().regex(SUBSCRIPTION_ID_PATTERN).optional(),
});

export const tasks = new Hono<AppEnv>();

tasks.get("/", async (c) => c.json(await listTasks(c.env, c.req.query())));

tasks.get("/:taskId", async (c) => {
  const view = await getTask(c.env, taskId(c.req.param("taskId")));
  if (view === null) throw new ApiError(404, "not_found", "no such task");
  return c.json(view);
});

tasks.delete("/:taskId", async (c) => {
  await deleteTask(c.env, taskId(c.req.param("taskId")));
  return c.body(null, 204);
});

tasks.post("/:taskId/redeliver", async (c) => {
  const id = taskId(c.req.param("taskId"));
  const json = await readJsonBody(c.req.raw, MAX_ADMIN_BODY_BYTES, { allowEmpty: true });
  const body = redeliverSchema.safeParse(json ?? {});
  if (!body.success) {
    throw new ApiError(422, "invalid_payload", 'expected { "subscription"?: string }');
  }
  const restarted = await redeliverTask(c.env, id, body.data.subscription);
  return c.json({ ok: true, deliveries: restarted });
});
