// Tasks created and synced through midhook (admin API): `POST /v1/tasks` creates a task at GoAPI
// with midhook as its webhook and records it; `POST /v1/tasks/{id}/sync` asks GoAPI about a task
// now and records what it says. Both are off (503) while GOAPI_API_KEY is unset.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../bindings";
import {
  type GoapiApi,
  goapiApi,
  goapiApiOffReason,
  publicBaseUrl,
  secretsToRemove,
  webhookSecrets,
} from "../config";
import { removeSecrets } from "../goapi/sanitize";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { readJsonBody } from "../lib/body";
import { ApiError } from "../lib/errors";
import { createTask, fetchTask, type UpstreamResult } from "../upstream/goapi-client";
import { recordGoapiBody } from "./record-event";
import { MAX_ADMIN_BODY_BYTES } from "./require-admin";

/** GoAPI's unified create-task body; `config` may carry more than the webhook midhook sets. */
const createSchema = z.looseObject({
  model: z.string().min(1).max(100),
  task_type: z.string().min(1).max(100),
  input: z.looseObject({}),
  config: z.looseObject({}).optional(),
});

export const submissions = new Hono<AppEnv>();

function requireApi(env: Env): GoapiApi {
  const api = goapiApi(env);
  if (api === null) {
    throw new ApiError(503, "not_configured", `${goapiApiOffReason(env)}: submission is off`);
  }
  return api;
}

/** GoAPI's answer as the data of a task, or the error GoAPI's failure maps to. */
function dataOrThrow(env: Env, result: UpstreamResult): Record<string, unknown> {
  if (result.ok) return result.data;
  // GoAPI's own words, with anything secret in them removed.
  const message = String(removeSecrets(result.message, secretsToRemove(env)));
  switch (result.kind) {
    case "timeout":
      throw new ApiError(504, "upstream_timeout", message);
    case "not_found":
      throw new ApiError(404, "not_found", `GoAPI does not know this task: ${message}`);
    default:
      throw new ApiError(502, "upstream_error", message);
  }
}

submissions.post("/", async (c) => {
  const api = requireApi(c.env);
  const body = createSchema.safeParse(await readJsonBody(c.req.raw, MAX_ADMIN_BODY_BYTES));
  if (!body.success) {
    throw new ApiError(
      422,
      "invalid_payload",
      'expected GoAPI\'s create-task body: { "model", "task_type", "input", "config"? }',
    );
  }
  const secret = webhookSecrets(c.env)[0];
  if (secret === undefined) {
    throw new ApiError(503, "not_configured", "GOAPI_WEBHOOK_SECRET is not set");
  }
  const origin = new URL(c.req.url).origin;
  const webhook_config = {
    endpoint: `${publicBaseUrl(c.env, origin)}/webhooks/goapi`,
    secret,
  };
  const create = { ...body.data, config: { ...body.data.config, webhook_config } };
  const data = dataOrThrow(c.env, await createTask(api, create));
  const recorded = await recordGoapiBody(
    c.env,
    { timestamp: Math.floor(Date.now() / 1000), data },
    origin,
    "submit",
  );
  return c.json(
    {
      ok: true,
      task_id: recorded.answer.task_id,
      status: recorded.event.status,
      event: recorded.answer.event,
    },
    201,
  );
});

submissions.post("/:taskId/sync", async (c) => {
  const api = requireApi(c.env);
  const taskId = c.req.param("taskId");
  if (!TASK_ID_PATTERN.test(taskId)) throw new ApiError(400, "invalid_request", "invalid task id");
  const data = dataOrThrow(c.env, await fetchTask(api, taskId));
  if (data.task_id !== taskId) {
    throw new ApiError(502, "upstream_error", "GoAPI answered about another task");
  }
  const recorded = await recordGoapiBody(
    c.env,
    { timestamp: Math.floor(Date.now() / 1000), data },
    new URL(c.req.url).origin,
    "poll",
  );
  return c.json(recorded.answer, 200);
});
