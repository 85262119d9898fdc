// POST /webhooks/goapi: authenticate a GoAPI delivery and record it in its task's Durable Object.
import { Hono } from "hono";
import type { AppEnv } from "../bindings";
import { webhookSecrets } from "../config";
import { readJsonBody } from "../lib/body";
import { matchesAnySecret } from "../lib/constant-time";
import { ApiError } from "../lib/errors";
import { recordGoapiBody } from "./record-event";

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
  const body = await readJsonBody(c.req.raw, MAX_WEBHOOK_BYTES);
  const { answer } = await recordGoapiBody(c.env, body, new URL(c.req.url).origin, "webhook");
  return c.json(answer, 200);
});

webhooks.all("/goapi", () => {
  throw new ApiError(405, "method_not_allowed", "use POST", { allow: "POST" });
});
