// Tasks created and synced through midhook (admin API): `POST /v1/tasks` creates a task at GoAPI
// with midhook as its webhook and records it (trying again for 20 s after answering when its
// object cannot be reached); `POST /v1/tasks/{id}/sync` asks GoAPI about a task now and records
// what it says. Both are off (503) while GOAPI_API_KEY is unset.
import { Hono } from "hono";
import { z } from "zod";
import { taskId } from "../admin/tasks";
import type { AppEnv } from "../bindings";
import {
  type GoapiApi,
  goapiApi,
  goapiApiOffReason,
  publicBaseUrl,
  secretsToRemove,
  webhookSecrets,
} from "../config";
import { asWebhookBody } from "../goapi/accept";
import { MAX_NAME_CHARS } from "../goapi/events";
import { removeSecrets } from "../goapi/sanitize";
import { MAX_ADMIN_BODY_BYTES, readJsonBody } from "../lib/body";
import { ApiError, errorText } from "../lib/errors";
import {
  createTask,
  failureMessage,
  fetchTask,
  type UpstreamResult,
} from "../upstream/goapi-client";
import { recordGoapiBody } from "./record-event";

/** GoAPI's unified create-task body; `config` may carry more than the webhook midhook sets. */
const createSchema = z.looseObject({
  model: z.string().min(1).max(MAX_NAME_CHARS),
  task_type: z.string().min(1).max(MAX_NAME_CHARS),
  input: z.looseObject({}),
  config: z.looseObject({}).optional(),
});

export const submissions = new Hono<AppEnv>();

function requireApi(env: Env): GoapiApi {
  const api = goapiApi(env);
  if (api === null) {
    throw new ApiError(
      503,
      "not_configured",
      `${goapiApiOffReason(env)}: submission and sync are off`,
    );
  }
  return api;
}

/** GoAPI's answer as the data of a task, or the error GoAPI's failure maps to. */
function dataOrThrow(env: Env, result: UpstreamResult): Record<string, unknown> {
  if (result.ok) return result.data;
  // GoAPI's own words, with anything secret in them removed.
  const message = failureMessage(result, secretsToRemove(env));
  switch (result.kind) {
    case "timeout":
      throw new ApiError(504, "upstream_timeout", message);
    case "not_found":
      throw new ApiError(404, "not_found", `GoAPI does not know this task: ${message}`);
    default:
      throw new ApiError(502, "upstream_error", message);
  }
}

/**
 * After a submission could not be recorded (its task's object unreachable), it is tried again
 * these many ms after the answer: within the half minute a Worker may go on after answering.
 * GoAPI's webhook and `sync` remain for a longer outage.
 */
const RECORD_AGAIN_AT_MS = [1_000, 5_000, 20_000];
/** No try starts this long after the answer: one that hung would be cut off at 30 s unlogged. */
const RECORD_AGAIN_UNTIL_MS = 25_000;

/** Records GoAPI's `data` for a submitted task, answered at `answeredAt`, at RECORD_AGAIN_AT_MS. */
async function recordAgain(
  env: Env,
  data: Record<string, unknown>,
  origin: string,
  answeredAt: number,
) {
  let last: unknown;
  for (const at of RECORD_AGAIN_AT_MS) {
    const wait = answeredAt + at - Date.now();
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    if (Date.now() > answeredAt + RECORD_AGAIN_UNTIL_MS) break;
    try {
      await recordGoapiBody(env, asWebhookBody(data, Date.now()), origin, "submit");
      return;
    } catch (err) {
      last = err;
    }
  }
  console.error("recording a submitted task failed again; its webhook or a sync will", {
    task_id: createdTaskId(env, data),
    error: errorText(last),
  });
}

/** Whether recording failed because GoAPI's answer is not a task midhook can track: for good. */
function isUntrackable(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === "invalid_payload";
}

/** GoAPI's id of a created task, fit to show and log: cleaned of secrets, 128 characters. */
function createdTaskId(env: Env, data: Record<string, unknown>): string {
  // Shortened like any id midhook tracks (1-128 characters): GoAPI's may be of any length.
  return String(removeSecrets(String(data.task_id), secretsToRemove(env))).slice(0, 128);
}

/** The answer for a task GoAPI created that midhook could not record: GoAPI's id, and why. */
function unrecordedAnswer(env: Env, data: Record<string, unknown>, err: unknown) {
  const taskId = createdTaskId(env, data);
  if (isUntrackable(err)) {
    console.warn("GoAPI created a task midhook cannot track", {
      task_id: taskId,
      error: err.message,
    });
    return {
      ok: true,
      task_id: taskId,
      recorded: false,
      message: `GoAPI created the task, but midhook cannot track it (${err.message}); follow it at GoAPI. Do not submit it again: that creates a second task.`,
    };
  }
  // recordGoapiBody logs its own failures; anything else is logged here.
  if (!(err instanceof ApiError)) {
    console.error("recording a submitted task failed", { task_id: taskId, error: errorText(err) });
  }
  return {
    ok: true,
    task_id: taskId,
    recorded: false,
    message: `GoAPI created the task, but midhook could not record it yet; it tries again for the next 20 seconds, GoAPI's webhook will, or POST /v1/tasks/${taskId}/sync now. Do not submit it again: that creates a second task.`,
  };
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
  let recorded: Awaited<ReturnType<typeof recordGoapiBody>>;
  try {
    recorded = await recordGoapiBody(c.env, asWebhookBody(data, Date.now()), origin, "submit");
  } catch (err) {
    // GoAPI has created the task, and charges for it: the answer names it even now, so that
    // nobody submits it again for a second, paid, generation.
    if (!isUntrackable(err)) c.executionCtx.waitUntil(recordAgain(c.env, data, origin, Date.now()));
    return c.json(unrecordedAnswer(c.env, data, err), 202);
  }
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
  const id = taskId(c.req.param("taskId"));
  const data = dataOrThrow(c.env, await fetchTask(api, id));
  const recorded = await recordGoapiBody(
    c.env,
    asWebhookBody(data, Date.now()),
    new URL(c.req.url).origin,
    "poll",
  );
  return c.json(recorded.answer, 200);
});
