// POST /webhooks/goapi: authenticate a GoAPI delivery and record it in its task's Durable Object.
import { Hono } from "hono";
import { type AppEnv, taskObject } from "../bindings";
import { secretsToRemove, webhookSecrets } from "../config";
import type { RecordResult } from "../contract";
import { normalizeStatus, parseGoapiPayload } from "../goapi/normalize";
import { removeSecrets } from "../goapi/sanitize";
import { readJsonBody } from "../lib/body";
import { matchesAnySecret } from "../lib/constant-time";
import { ApiError, errorText } from "../lib/errors";

/** GoAPI payloads are a few KiB; 1 MiB leaves room while bounding what one request can cost. */
const MAX_WEBHOOK_BYTES = 1024 * 1024;

export const webhooks = new Hono<AppEnv>();

webhooks.post("/goapi", async (c) => {
  const secrets = webhookSecrets(c.env);
  if (secrets.length === 0) {
    throw new ApiError(503, "not_configured", "GOAPI_WEBHOOK_SECRET is not set");
  }
  if (!(await matchesAnySecret(c.req.header("x-webhook-secret") ?? "", secrets))) {
    throw new ApiError(401, "unauthorized", "missing or wrong x-webhook-secret");
  }
  const contentType = c.req.header("content-type")?.toLowerCase() ?? "";
  if (
    contentType !== "" &&
    !contentType.includes("json") &&
    !contentType.startsWith("text/plain")
  ) {
    throw new ApiError(415, "unsupported_media_type", "send the payload as application/json");
  }

  // Secrets are removed before anything is read, so no copy of a field can carry one.
  const json = removeSecrets(
    await readJsonBody(c.req.raw, MAX_WEBHOOK_BYTES),
    secretsToRemove(c.env),
  );
  const parsed = parseGoapiPayload(json);
  if (!parsed.ok) throw new ApiError(422, "invalid_payload", parsed.error);
  const event = parsed.value;
  if (!normalizeStatus(event.rawStatus).known) {
    console.warn("unknown GoAPI status, recorded as processing", {
      task_id: event.taskId,
      status: event.rawStatus.slice(0, 40),
    });
  }

  let recorded: RecordResult;
  try {
    recorded = await taskObject(c.env, event.taskId).recordEvent(
      event,
      JSON.stringify(json),
      new URL(c.req.url).origin,
    );
  } catch (err) {
    console.error("recording the event failed", { task_id: event.taskId, error: errorText(err) });
    throw new ApiError(503, "storage_unavailable", "the event could not be recorded; retry");
  }
  return c.json(
    {
      ok: true,
      task_id: event.taskId,
      duplicate: recorded.duplicate,
      stale: recorded.stale,
      event: recorded.event,
    },
    200,
  );
});

webhooks.all("/goapi", () => {
  throw new ApiError(405, "method_not_allowed", "use POST", { allow: "POST" });
});
