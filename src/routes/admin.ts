// The admin API under /v1, behind `Authorization: Bearer <ADMIN_TOKEN>`.
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { type AppEnv, adminToken } from "../config";
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

export const admin = new Hono<AppEnv>();
admin.use("*", requireAdmin);

admin.get("/tasks/:taskId", async (c) => {
  const taskId = c.req.param("taskId");
  if (!TASK_ID_PATTERN.test(taskId)) throw new ApiError(400, "invalid_request", "invalid task id");
  const view = await c.env.TASKS.get(c.env.TASKS.idFromName(taskId)).getTask();
  if (view === null) throw new ApiError(404, "not_found", `no task ${taskId}`);
  return c.json(view);
});
