// GoAPI's task API, as midhook calls it: create a task (POST /api/v1/task) and fetch one
// (GET /api/v1/task/{id}). Every answer is bounded in size and time and validated before it is
// read; whatever goes wrong comes back as a tagged failure with a sentence, never a throw.
import { z } from "zod";
import type { GoapiApi } from "../config";
import { removeSecrets } from "../goapi/sanitize";
import { readLimited } from "../lib/body";
import { describeFetchError, isTimeoutError } from "../lib/fetch-errors";
import { parseJsonBody } from "../lib/json";

/** GoAPI answers a task call within this, or midhook says it timed out. */
const UPSTREAM_TIMEOUT_MS = 30_000;
/** A task object is a few KiB; anything much larger is not an answer to read. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** How much of GoAPI's message midhook shows, stores or logs. */
const MAX_MESSAGE_CHARS = 300;

/** GoAPI's envelope: `{ code: 200, data: <the task object>, message }`. */
const answerSchema = z.looseObject({
  code: z.number(),
  data: z.looseObject({ task_id: z.string().min(1) }).nullish(),
  message: z.string().nullish(),
});

export type UpstreamResult =
  | { ok: true; data: Record<string, unknown> }
  | {
      ok: false;
      /** GoAPI said no (with its message), does not know the task fetched, did not answer in
       * time, or answered something that is not its API's answer. */
      kind: "rejected" | "not_found" | "timeout" | "malformed";
      message: string;
    };

/** Where GoAPI's API is and the key to it: what a call needs of the GoAPI settings. */
type GoapiAccess = Pick<GoapiApi, "base" | "key">;
type UpstreamFailure = Extract<UpstreamResult, { ok: false }>;

/** A failure's message as midhook may show, store or log it (see shownText). */
export function failureMessage(failure: UpstreamFailure, secrets: readonly string[]): string {
  return shownText(failure.message, secrets);
}

/**
 * Text about a call to GoAPI as midhook may show, store or log it: without `secrets`, then
 * shortened. In that order: a text cut first could end in the start of a key, which nothing
 * recognises.
 */
export function shownText(text: string, secrets: readonly string[]): string {
  return String(removeSecrets(text, secrets)).slice(0, MAX_MESSAGE_CHARS);
}

/**
 * Creates a task at GoAPI with `body` (a unified create-task body). Never `not_found`: a "not
 * found" from GoAPI here is about what the body asks for (a model, a task type), a refusal.
 */
export function createTask(api: GoapiAccess, body: unknown): Promise<UpstreamResult> {
  return call(api, "POST", "/api/v1/task", body, false);
}

/**
 * Fetches task `taskId` from GoAPI; `not_found` when GoAPI does not know it, `malformed` when it
 * answers about another task.
 */
export async function fetchTask(api: GoapiAccess, taskId: string): Promise<UpstreamResult> {
  const result = await call(
    api,
    "GET",
    `/api/v1/task/${encodeURIComponent(taskId)}`,
    undefined,
    true,
  );
  if (result.ok && result.data.task_id !== taskId) {
    return { ok: false, kind: "malformed", message: "GoAPI answered about another task" };
  }
  return result;
}

/** `fetchesTask`: the call names a task, so GoAPI's "not found" means it does not know it. */
async function call(
  api: GoapiAccess,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  fetchesTask: boolean,
): Promise<UpstreamResult> {
  const host = new URL(api.base).host;
  const signal = AbortSignal.timeout(UPSTREAM_TIMEOUT_MS);
  let response: Response;
  let bytes: Uint8Array | null;
  try {
    response = await fetch(`${api.base}${path}`, {
      method,
      headers: {
        "x-api-key": api.key,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
      signal,
    });
    bytes = await readLimited(
      response.body,
      MAX_ANSWER_BYTES,
      response.headers.get("content-length"),
    );
  } catch (err) {
    return {
      ok: false,
      kind: isTimeoutError(err) ? "timeout" : "malformed",
      message: describeFetchError(err, host, UPSTREAM_TIMEOUT_MS),
    };
  }
  const status = response.status;
  if (status >= 300 && status < 400) {
    return { ok: false, kind: "malformed", message: `${host} answered a redirect (${status})` };
  }
  if (bytes === null) {
    return { ok: false, kind: "malformed", message: `${host} answered more than 1 MiB` };
  }
  const json = parseJsonBody(bytes);
  const answer = json.ok ? answerSchema.safeParse(json.value) : null;
  if (answer === null || !answer.success) {
    if (fetchesTask && status === 404) {
      return { ok: false, kind: "not_found", message: `${host} answered 404` };
    }
    const type = response.headers.get("content-type")?.split(";")[0] ?? "no content-type";
    return {
      ok: false,
      kind: "malformed",
      message: `${host} answered ${status} with ${type} that is not GoAPI's task answer`,
    };
  }
  const { code, data, message } = answer.data;
  // GoAPI's words in full: failureMessage removes secrets from them before shortening them.
  const said = message ?? "";
  if (code === 200 && status < 300) {
    if (data) return { ok: true, data };
    return { ok: false, kind: "malformed", message: `${host} answered code 200 without a task` };
  }
  if (fetchesTask && (status === 404 || code === 404 || /not\s*found|does not exist/i.test(said))) {
    return { ok: false, kind: "not_found", message: said || "task not found" };
  }
  return {
    ok: false,
    kind: "rejected",
    message: said || `${host} answered ${status} (code ${code})`,
  };
}
