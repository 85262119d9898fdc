// Requests to the Worker under test, as GoAPI and an operator send them, and storage probes.
import { listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { DeadLetterPage, IngestAnswer, TaskView } from "../../src/contract";
import { ADMIN_TOKEN, SECRET } from "./keys";
import { readView, views } from "./views";

export interface PostOptions {
  secret?: string | null;
  headers?: Record<string, string>;
  method?: string;
}

/** POSTs a GoAPI delivery to the Worker; objects are sent as JSON, strings and bytes as they are. */
export function postWebhook(body: unknown, options: PostOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    ...options.headers,
  };
  const secret = options.secret === undefined ? SECRET : options.secret;
  if (secret !== null) headers["x-webhook-secret"] = secret;
  const raw =
    typeof body === "string" || body instanceof Uint8Array || body instanceof ReadableStream
      ? body
      : JSON.stringify(body);
  return exports.default.fetch("https://midhook.test/webhooks/goapi", {
    method: options.method ?? "POST",
    headers,
    body: raw,
  });
}

/** POSTs a delivery and returns the accepted answer, failing unless it was a 200. */
export async function ingest(body: unknown, options: PostOptions = {}): Promise<IngestAnswer> {
  const response = await postWebhook(body, options);
  if (response.status !== 200)
    throw new Error(`ingest: ${response.status} ${await response.text()}`);
  return readView(response, views.ingest);
}

/** GET on the admin API with the test token (or `token`). */
export function adminGet(path: string, token: string | null = ADMIN_TOKEN): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return exports.default.fetch(`https://midhook.test${path}`, { headers });
}

/** POST on the admin API with the test token; `body` is sent as JSON. */
export function adminPost(path: string, body?: unknown): Promise<Response> {
  return exports.default.fetch(`https://midhook.test${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The admin view of a task, asserting it exists. */
export async function taskView(taskId: string): Promise<TaskView> {
  const response = await adminGet(`/v1/tasks/${taskId}`);
  if (response.status !== 200) throw new Error(`task ${taskId}: ${response.status}`);
  return readView(response, views.task);
}

/** A page of the dead-letter list (the largest page, by default). */
export async function deadLetterPage(query = "limit=500"): Promise<DeadLetterPage> {
  const response = await adminGet(`/v1/dead-letters?${query}`);
  if (response.status !== 200) throw new Error(`dead letters: ${response.status}`);
  return readView(response, views.deadLetters);
}

/** How many task Durable Objects exist: zero after a rejected request means nothing was stored. */
export async function taskObjectCount(): Promise<number> {
  return (await listDurableObjectIds(env.TASKS)).length;
}

/** A unique task id, so tests sharing storage never collide. */
export function newTaskId(): string {
  return crypto.randomUUID();
}
