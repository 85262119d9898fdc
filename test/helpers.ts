// Shared helpers: requests to the Worker under test, fixtures, and storage probes.
import { listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import v1Completed from "./fixtures/v1-unified-imagine-completed.json";
import v1Progress40 from "./fixtures/v1-unified-imagine-progress-40.json";
import v2Failed from "./fixtures/v2-failed.json";
import v2Finished from "./fixtures/v2-imagine-finished.json";
import v2Pending from "./fixtures/v2-imagine-pending.json";
import v2Progress40 from "./fixtures/v2-imagine-progress-40.json";

/** The secrets configured in vitest.config.ts (current and previous, for rotation). */
export const SECRET = "test-secret-current";
export const PREVIOUS_SECRET = "test-secret-previous";
export const ADMIN_TOKEN = "test-admin-token";

export const fixtures = {
  v1Completed,
  v1Progress40,
  v2Failed,
  v2Finished,
  v2Pending,
  v2Progress40,
};

/** A deep copy of a fixture, with `changes` applied by the caller. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

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

/** GET on the admin API with the test token (or `token`). */
export function adminGet(path: string, token: string | null = ADMIN_TOKEN): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return exports.default.fetch(`https://midhook.test${path}`, { headers });
}

/** The admin view of a task, asserting it exists. */
export async function taskView(taskId: string) {
  const response = await adminGet(`/v1/tasks/${taskId}`);
  if (response.status !== 200) throw new Error(`task ${taskId}: ${response.status}`);
  return (await response.json()) as {
    task_id: string;
    task_type: string;
    status: string;
    progress: number;
    events: Array<{
      id: string;
      type: string;
      status: string;
      progress: number;
      duplicates: number;
      stale: boolean;
    }>;
    images: unknown[];
    deliveries: unknown[];
  };
}

/** How many task Durable Objects exist: zero after a rejected request means nothing was stored. */
export async function taskObjectCount(): Promise<number> {
  return (await listDurableObjectIds(env.TASKS)).length;
}

/** A unique task id, so tests sharing storage never collide. */
export function newTaskId(): string {
  return crypto.randomUUID();
}

/** A v2 progress event for `taskId`. */
export function v2Event(taskId: string, status: string, progress: number): unknown {
  const body = clone(fixtures.v2Progress40);
  body.task_id = taskId;
  body.status = status;
  body.task_result.task_progress = progress;
  return body;
}
