// The one error type of the HTTP layer, the JSON envelope every error answer uses, and how an
// unexpected error is written to the log.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Machine-readable error codes of the `{ "error": { code, message } }` envelope. */
export type ErrorCode =
  | "unauthorized"
  | "forbidden"
  | "https_required"
  | "not_configured"
  | "conflict"
  | "upstream_error"
  | "upstream_timeout"
  | "payload_too_large"
  | "invalid_json"
  | "invalid_payload"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "invalid_request"
  | "not_found"
  | "range_not_satisfiable"
  | "storage_unavailable"
  | "internal_error";

/** An error whose status, code and message are safe to send to the client as they are. */
export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(status, { message });
    this.code = code;
    this.headers = headers;
  }
}

/** The JSON error envelope as a Response. */
export function errorEnvelope(
  c: Context,
  status: ContentfulStatusCode,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return c.json({ error: { code, message } }, status, headers);
}

/**
 * The API's answer to an error (`app.onError`): known errors keep their status; anything else is
 * logged and becomes a 500.
 */
export function errorResponse(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return errorEnvelope(c, err.status as ContentfulStatusCode, err.code, err.message, err.headers);
  }
  if (err instanceof HTTPException) {
    return errorEnvelope(c, err.status as ContentfulStatusCode, "invalid_request", err.message);
  }
  console.error("unhandled error", c.req.method, c.req.path, errorText(err));
  return errorEnvelope(c, 500, "internal_error", "internal error");
}

/** An unexpected error for the log: its stack when it has one. */
export function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}
