// The fake network every Worker test runs against: `fetch` from the Worker and its Durable Objects
// is intercepted. https://images.test serves registered images; https://subscriber.test records
// deliveries; any other request fails the test that made it.
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

afterEach(() => {
  const seen = unexpected.splice(0);
  expect(seen, "outbound requests outside the fake network").toEqual([]);
});
