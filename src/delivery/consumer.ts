// Queue consumers: the delivery queue POSTs signed events to subscribers and retries through
// the queue; the dead-letter queue lists deliveries that gave up.
import { z } from "zod";
import { version } from "../../package.json";
import { DEAD_LETTER_LOG_NAME } from "../dead-letter-log";
import type { DeliveryMessage } from "../task-object";
import { formatGoapiEvent, formatMidhookEvent } from "./format";
import { parseRetryAfter } from "./retry";
import { signStandardWebhook } from "./sign";
import { resolveSecret, type Subscription, subscriptionsOf } from "./subscriptions";

/** Queue names as in wrangler.toml; the consumer tells its two queues apart by them. */
export const DELIVERY_QUEUE_NAME = "midhook-deliveries";
export const DEAD_LETTER_QUEUE_NAME = "midhook-dead-letters";

const USER_AGENT = `midhook/${version}`;
/** How long an attempt may hold its delivery beyond the subscription's timeout. */
const LEASE_MARGIN_MS = 30_000;
/** Delay before a message is tried again while SUBSCRIPTIONS is invalid. */
const CONFIG_RETRY_SECONDS = 60;

const deliveryMessageSchema = z.object({
  task_id: z.string().min(1),
  event: z.string().min(1),
  subscription: z.string().min(1),
  series: z.int().min(1),
});

/** The Worker's `queue` handler. */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE_NAME) {
    await Promise.all(batch.messages.map((message) => recordDeadLetter(message, env)));
    return;
  }
  const subscriptions = subscriptionsOf(env);
  await Promise.all(
    batch.messages.map(async (message) => {
      if (!subscriptions.ok) {
        console.error("SUBSCRIPTIONS is invalid; delivery postponed", subscriptions.errors);
        message.retry({ delaySeconds: CONFIG_RETRY_SECONDS });
        return;
      }
      await deliver(message, subscriptions.value, env);
    }),
  );
}

function parseMessage(message: Message<unknown>): DeliveryMessage | null {
  const parsed = deliveryMessageSchema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  console.error("dropping a malformed queue message", message.id);
  message.ack();
  return null;
}

/** One attempt of one delivery; the task's Durable Object decides what happens next. */
async function deliver(
  message: Message<unknown>,
  subscriptions: readonly Subscription[],
  env: Env,
): Promise<void> {
  const body = parseMessage(message);
  if (body === null) return;
  const subscription = subscriptions.find((s) => s.id === body.subscription);
  try {
    const task = env.TASKS.get(env.TASKS.idFromName(body.task_id));
    if (subscription === undefined) {
      await task.recordAttempt(body.event, body.subscription, body.series, {
        status: null,
        error: "subscription is no longer in SUBSCRIPTIONS",
        durationMs: 0,
        retryAfterSeconds: null,
        maxAttempts: 1,
      });
      await env.DEAD_LETTER_QUEUE.send(body);
      message.ack();
      return;
    }
    const lease = subscription.timeout_ms + LEASE_MARGIN_MS;
    const stored = await task.beginAttempt(body.event, subscription.id, body.series, lease);
    if (stored === null) {
      message.ack();
      return;
    }
    const payload =
      subscription.format === "goapi" ? formatGoapiEvent(stored) : formatMidhookEvent(stored);
    const report = await post(subscription, stored.id, payload, env);
    const result = await task.recordAttempt(body.event, subscription.id, body.series, {
      ...report,
      maxAttempts: subscription.max_attempts,
    });
    if (result.outcome === "retry") {
      message.retry({ delaySeconds: result.delaySeconds });
      return;
    }
    if (result.outcome === "failed") await env.DEAD_LETTER_QUEUE.send(body);
    message.ack();
  } catch (err) {
    console.error("delivery attempt could not be recorded; the queue retries it", String(err));
    message.retry();
  }
}

/** POSTs one signed body and reports what happened, without throwing. */
async function post(
  subscription: Subscription,
  eventId: string,
  body: string,
  env: Env,
): Promise<{
  status: number | null;
  error: string | null;
  durationMs: number;
  retryAfterSeconds: number | null;
}> {
  const secret = resolveSecret(subscription.secret, { ...env });
  if (!secret.ok) {
    return { status: null, error: secret.error, durationMs: 0, retryAfterSeconds: null };
  }
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    ...subscription.headers,
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": eventId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signStandardWebhook(secret.value, eventId, timestamp, body),
  };
  if (subscription.format === "goapi") headers["x-webhook-secret"] = secret.value;

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
    const ok = response.status >= 200 && response.status < 300;
    return {
      status: response.status,
      error: ok ? null : `HTTP ${response.status}`,
      durationMs: Date.now() - started,
      retryAfterSeconds: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
    };
  } catch (err) {
    const timedOut = err instanceof Error && err.name === "TimeoutError";
    const reason = err instanceof Error ? err.message.slice(0, 120) : "unknown";
    return {
      status: null,
      error: timedOut
        ? `timed out after ${subscription.timeout_ms} ms`
        : `network error: ${reason}`,
      durationMs: Date.now() - started,
      retryAfterSeconds: null,
    };
  }
}

/** Records a delivery that reached the dead-letter queue in the task and the dead-letter list. */
async function recordDeadLetter(message: Message<unknown>, env: Env): Promise<void> {
  const body = parseMessage(message);
  if (body === null) return;
  try {
    const task = env.TASKS.get(env.TASKS.idFromName(body.task_id));
    const info = await task.deadLetter(body.event, body.subscription, "the delivery queue gave up");
    if (info !== null) {
      await env.DEAD_LETTER_LOG.get(env.DEAD_LETTER_LOG.idFromName(DEAD_LETTER_LOG_NAME)).add(info);
    }
    message.ack();
  } catch (err) {
    console.error("dead letter could not be recorded; retrying", String(err));
    message.retry();
  }
}
