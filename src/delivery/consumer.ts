// The Worker's queue consumers: the delivery queue makes one attempt per message and lets the
// task's Durable Object decide what follows; the dead-letter queue lists deliveries that gave up.

import { z } from "zod";
import { deadLetterLog, taskObject } from "../bindings";
import type { DeliveryMessage } from "../contract";
import { errorText } from "../lib/errors";
import { formatGoapiEvent, formatMidhookEvent } from "./format";
import { CONFIG_RETRY_SECONDS } from "./policy";
import { postSigned } from "./post";
import { type Subscription, subscriptionsOf } from "./subscriptions";

/** The dead-letter queue's name as in wrangler.toml: the consumer tells its queues apart by it. */
const DEAD_LETTER_QUEUE_NAME = "midhook-dead-letters";

/** How long an attempt may hold its delivery beyond the subscription's timeout. */
const LEASE_MARGIN_MS = 30_000;

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
    const task = taskObject(env, body.task_id);
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
    const start = await task.beginAttempt(body.event, subscription.id, body.series, lease);
    if (start.kind === "skip") {
      message.ack();
      return;
    }
    const payload =
      subscription.format === "goapi"
        ? formatGoapiEvent(start.stored)
        : formatMidhookEvent(start.stored);
    const report = await postSigned(subscription, start.stored.id, payload, env);
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
    console.error("delivery attempt could not be recorded; the queue retries it", errorText(err));
    message.retry();
  }
}

/** Records a delivery that reached the dead-letter queue in the task and the dead-letter list. */
async function recordDeadLetter(message: Message<unknown>, env: Env): Promise<void> {
  const body = parseMessage(message);
  if (body === null) return;
  try {
    const info = await taskObject(env, body.task_id).deadLetter(
      body.event,
      body.subscription,
      "the delivery queue gave up",
    );
    if (info !== null) await deadLetterLog(env).add(info);
    message.ack();
  } catch (err) {
    console.error("dead letter could not be recorded; retrying", errorText(err));
    message.retry();
  }
}
