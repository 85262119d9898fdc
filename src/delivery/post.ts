// One delivery attempt on the wire: the signed POST to a subscriber, and what came back.
import { version } from "../../package.json";
import type { PostResult } from "../contract";
import { describeFetchError } from "../lib/fetch-errors";
import { isSuccessStatus, parseRetryAfter } from "./policy";
import { signStandardWebhook } from "./sign";
import type { Subscription } from "./subscriptions";

const USER_AGENT = `midhook/${version}`;

/** POSTs `body` as event `eventId` to `subscription`, signed, and reports what happened. */
export async function postSigned(
  subscription: Subscription,
  eventId: string,
  body: string,
): Promise<PostResult> {
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    ...subscription.resolvedHeaders,
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": eventId,
    "webhook-timestamp": String(timestamp),
    // One signature per key, space-separated, as Standard Webhooks allows: a receiver rotating
    // its key verifies with either.
    "webhook-signature": (
      await Promise.all(
        subscription.keys.map((key) => signStandardWebhook(key, eventId, timestamp, body)),
      )
    ).join(" "),
  };
  if (subscription.format === "goapi") headers["x-webhook-secret"] = subscription.keys[0] ?? "";

  const started = Date.now();
  try {
    const response = await fetch(subscription.url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(subscription.timeout_ms),
    });
    await response.body?.cancel();
    return {
      status: response.status,
      error: isSuccessStatus(response.status) ? null : `HTTP ${response.status}`,
      durationMs: Date.now() - started,
      retryAfterSeconds: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
    };
  } catch (err) {
    return {
      status: null,
      error: describeFetchError(err, new URL(subscription.url).host, subscription.timeout_ms),
      durationMs: Date.now() - started,
      retryAfterSeconds: null,
    };
  }
}
