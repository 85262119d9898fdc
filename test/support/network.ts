// The fake network every Worker test runs against: `fetch` from the Worker and its Durable Objects
// is intercepted. https://images.test serves registered images; https://subscriber.test records
// deliveries; https://api.goapi.test is GoAPI's task API; any other request fails the test.
import { afterEach, expect, vi } from "vitest";
import { toHex } from "../../src/lib/bytes";

export interface Received {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

type Handler = (request: Request) => Response | Promise<Response>;

const imageRoutes = new Map<string, Handler>();
/** GoAPI's task API at https://api.goapi.test: a handler per task id, and one for creation. */
const goapiTasks = new Map<string, Handler>();
const noCreateHandler: Handler = () => new Response("no create handler", { status: 500 });
let goapiCreateHandler = noCreateHandler;
const goapiLog: Array<{
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}> = [];
const subscriberRules: Array<{ text: string; respond: () => Response }> = [];
const received: Received[] = [];
const unexpected: string[] = [];
const imageRequests: string[] = [];

/** Serves `handler` at https://images.test{path}; returns the full URL. */
export function serveImage(path: string, handler: Handler): string {
  imageRoutes.set(path, handler);
  return `https://images.test${path}`;
}

/**
 * Makes the fake subscriber answer deliveries whose body mentions `text` (a task id) with
 * `respond(n)`, n counting those deliveries from 1. Others get 200.
 */
export function subscriberAnswers(text: string, respond: (n: number) => Response): void {
  let count = 0;
  subscriberRules.push({ text, respond: () => respond(++count) });
}

/** Deliveries received by the fake subscriber, optionally only those mentioning `text`. */
export function deliveries(text?: string): Received[] {
  return received.filter((r) => text === undefined || r.body.includes(text));
}

/** Makes the fake GoAPI answer `GET /api/v1/task/{taskId}` with `handler`. */
export function goapiTask(taskId: string, handler: Handler): void {
  goapiTasks.set(taskId, handler);
}

/** Makes the fake GoAPI answer `POST /api/v1/task` with `handler`. */
export function goapiCreate(handler: Handler): void {
  goapiCreateHandler = handler;
}

/** Requests the fake GoAPI received (optionally only those whose path or body mention `text`). */
export function goapiRequests(text?: string) {
  return goapiLog.filter(
    (r) => text === undefined || r.path.includes(text) || r.body.includes(text),
  );
}

/** GoAPI's answer envelope around a task object. */
export function goapiAnswer(data: unknown, init: { code?: number; message?: string } = {}) {
  return Response.json({ code: init.code ?? 200, data, message: init.message ?? "success" });
}

/** Every image URL fetched so far. */
export function fetchedImages(): string[] {
  return [...imageRequests];
}

/** Polls `check` until it returns a value that is not undefined, or fails after `ms`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  ms = 12_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** PNG bytes of `size` (a real signature, then filler). */
export function pngBytes(size: number, fill = 7): Uint8Array {
  const bytes = new Uint8Array(size).fill(fill);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].slice(0, size));
  return bytes;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

async function fakeNetwork(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const url = new URL(request.url);
  if (url.host === "images.test") {
    imageRequests.push(request.url);
    const handler = imageRoutes.get(url.pathname + url.search);
    return handler ? handler(request) : new Response("no such image", { status: 404 });
  }
  if (url.host === "api.goapi.test") {
    const body = await request.clone().text();
    goapiLog.push({
      method: request.method,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body,
    });
    if (request.method === "POST" && url.pathname === "/api/v1/task")
      return goapiCreateHandler(request);
    const match = /^\/api\/v1\/task\/([^/]+)$/.exec(url.pathname);
    const handler = match?.[1] ? goapiTasks.get(decodeURIComponent(match[1])) : undefined;
    if (request.method === "GET" && handler) return handler(request);
    return Response.json({ code: 404, data: null, message: "task not found" }, { status: 404 });
  }
  if (url.host === "subscriber.test") {
    const body = await request.text();
    received.push({
      url: request.url,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body,
      at: Date.now(),
    });
    const rule = subscriberRules.find((r) => body.includes(r.text));
    return rule ? rule.respond() : new Response("ok");
  }
  unexpected.push(`${request.method} ${request.url}`);
  throw new TypeError(`unexpected outbound request in a test: ${request.method} ${request.url}`);
}

// A stubbed global, not a spy: restoreMocks restores spies before every test.
vi.stubGlobal("fetch", fakeNetwork);

// What a test set up for its own requests ends with it: the next test starts from the defaults
// (no images, GoAPI knowing no task, the subscriber answering 200), whatever ran before it.
afterEach(() => {
  imageRoutes.clear();
  goapiTasks.clear();
  goapiCreateHandler = noCreateHandler;
  subscriberRules.length = 0;
  const seen = unexpected.splice(0);
  expect(seen, "outbound requests outside the fake network").toEqual([]);
});
