// The admin API under /v1, behind `Authorization: Bearer <ADMIN_TOKEN>`.
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app";
import { adminToken } from "../config";
import { DEAD_LETTER_LOG_NAME } from "../dead-letter-log";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { matchesAnySecret } from "../lib/constant-time";
import { ApiError } from "../lib/errors";

const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = adminToken(c.env);
  if (token === null) throw new ApiError(503, "not_configured", "ADMIN_TOKEN is not set");
  const header = c.req.header("authorization") ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
  if (!(await matchesAnySecret(presented, [token]))) {
    throw new ApiError(401, "unauthorized", "missing or wrong bearer token", {
      "www-authenticate": "Bearer",
    });
  }
  await next();
});

const redeliverSchema = z.object({ subscription: z.string().min(1).optional() }).strict();
// `?cursor=&limit=` (empty, as SPEC §6 writes it) means the first page and the default size.
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

export const admin = new Hono<AppEnv>();
admin.use("*", requireAdmin);

function taskStub(env: Env, taskId: string) {
  if (!TASK_ID_PATTERN.test(taskId)) throw new ApiError(400, "invalid_request", "invalid task id");
  return env.TASKS.get(env.TASKS.idFromName(taskId));
}

function deadLetterLog(env: Env) {
  return env.DEAD_LETTER_LOG.get(env.DEAD_LETTER_LOG.idFromName(DEAD_LETTER_LOG_NAME));
}

admin.get("/tasks/:taskId", async (c) => {
  const view = await taskStub(c.env, c.req.param("taskId")).getTask();
  if (view === null) throw new ApiError(404, "not_found", "no such task");
  return c.json(view);
});

admin.post("/tasks/:taskId/redeliver", async (c) => {
  const text = await c.req.text();
  let json: unknown = {};
  try {
    json = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "body is not JSON");
  }
  const body = redeliverSchema.safeParse(json);
  if (!body.success)
    throw new ApiError(422, "invalid_payload", 'expected { "subscription"?: string }');
  const result = await taskStub(c.env, c.req.param("taskId")).redeliver({
    subscription: body.data.subscription,
  });
  if (!result.ok) {
    const status = result.error === "unknown task" ? 404 : 409;
    throw new ApiError(status, status === 404 ? "not_found" : "not_configured", result.error);
  }
  await deadLetterLog(c.env).remove(result.restarted);
  return c.json({ ok: true, deliveries: result.restarted });
});

admin.get("/dead-letters", async (c) => {
  const query = pageSchema.safeParse(c.req.query());
  if (!query.success) throw new ApiError(400, "invalid_request", "cursor or limit is invalid");
  const page = await deadLetterLog(c.env).list(Number(query.data.cursor ?? 0), query.data.limit);
  return c.json(page);
});

admin.post("/dead-letters/:id/replay", async (c) => {
  const log = deadLetterLog(c.env);
  const entry = await log.get(c.req.param("id"));
  if (entry === null) throw new ApiError(404, "not_found", "no such dead letter");
  const result = await taskStub(c.env, entry.task_id).redeliver({
    event: entry.event,
    subscription: entry.subscription,
  });
  if (!result.ok || result.restarted.length === 0) {
    const reason = result.ok ? "the subscription no longer wants this event" : result.error;
    throw new ApiError(409, "not_configured", reason);
  }
  await log.remove(result.restarted);
  return c.json({ ok: true, deliveries: result.restarted });
});
