// The Worker's queue consumers: the delivery queue makes one attempt per message and lets the
// task's Durable Object decide what follows; the dead-letter queue tells the task that the
// queue gave up on a message. The task owns every delivery's state, the dead-letter list included.
import { z } from "zod";
import { taskObject } from "../bindings";
import type { DeliveryMessage, PostResult, StoredEvent } from "../contract";
import { errorText } from "../lib/errors";
import {
  holdFor,
  isPaused,
  releaseRemoved,
  reportAttempt,
  reportProbe,
} from "../subscribers/health-client";
import { formatGoapiEvent, formatMidhookEvent } from "./bodies";
import { answerHealth, probeFoundUp, unreachableRetrySeconds } from "./policy";
import { postSigned } from "./post";
import { invalidSubscriptionsMessage, type Subscription, subscriptionsOf } from "./subscriptions";

/** The dead-letter queue's name as in wrangler.toml: the consumer tells its queues apart by it. */
const DEAD_LETTER_QUEUE_NAME = "midhook-dead-letters";

/** How long an attempt may hold its delivery beyond the subscription's timeout. */
const LEASE_MARGIN_MS = 30_000;

const deliveryMessageSchema = z.object({
  task_id: z.string().min(1),
  event: z.string().min(1),
  subscription: z.string().min(1),
  series: z.int().min(1),
  probe: z.boolean().optional(),
});

/** The Worker's `queue` handler. */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const handle = batch.queue === DEAD_LETTER_QUEUE_NAME ? recordGiveUp : deliver;
  await Promise.all(batch.messages.map((message) => handle(message, env)));
}

function parseMessage(message: Message<unknown>): DeliveryMessage | null {
  const parsed = deliveryMessageSchema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  console.error("dropping a malformed queue message", message.id);
  message.ack();
  return null;
}

/**
 * One attempt of one delivery; the task's Durable Object decides what happens next. When the
 * task cannot be reached, the queue offers the message again after a growing delay.
 */
async function deliver(message: Message<unknown>, env: Env): Promise<void> {
  const body = parseMessage(message);
  if (body === null) return;
  try {
    const task = taskObject(env, body.task_id);
    const subscriptions = subscriptionsOf(env);
    if (!subscriptions.ok) {
      // The task holds the delivery and re-reads the config; the queue need not keep it.
      await task.holdForConfig(
        body.event,
        body.subscription,
        body.series,
        invalidSubscriptionsMessage(subscriptions.errors.slice(0, 1)),
      );
      message.ack();
      return;
    }
    const subscription = subscriptions.value.find((s) => s.id === body.subscription);
    if (subscription === undefined) {
      await task.recordAttempt(body.event, body.subscription, body.series, {
        status: null,
        error: "subscription is no longer in SUBSCRIPTIONS",
        durationMs: 0,
        retryAfterSeconds: null,
        maxAttempts: 1,
      });
      if (body.probe) await releaseRemoved(env, body.subscription);
      message.ack();
      return;
    }
    const lease = subscription.timeout_ms + LEASE_MARGIN_MS;
    const start = await task.beginAttempt(body.event, subscription.id, body.series, lease, {
      id: message.id,
      attempts: message.attempts,
    });
    if (start.kind === "skip") {
      message.ack();
      return;
    }
    if (start.kind === "not_due") {
      message.retry({ delaySeconds: start.delaySeconds });
      return;
    }
    // Paused: the delivery waits in its task, spending no attempt, until the probe says the
    // subscriber is back. The health object hears of it first: a task it lists that holds
    // nothing costs nothing, a held delivery it never heard of would wait for the backstop.
    const wait = async () => {
      await holdFor(env, subscription, body.task_id, body.event);
      await task.holdForSubscriber(body.event, subscription.id, body.series);
    };
    // Whether this is the probe is the task's word: a message says what it was when sent.
    const { probe } = start;
    if (!probe && (await isPaused(env, subscription))) {
      await wait();
      message.ack();
      return;
    }
    const report = await attempt(subscription, start.stored);
    if (probe && !probeFoundUp(report.status)) {
      // A failed probe spends no attempt either: the delivery goes back to waiting.
      await wait();
      await reportProbe(env, subscription, false);
      message.ack();
      return;
    }
    const result = await task.recordAttempt(body.event, subscription.id, body.series, {
      ...report,
      maxAttempts: subscription.max_attempts,
    });
    if (probe) await reportProbe(env, subscription, true);
    else await reportAttempt(env, subscription, answerHealth(report.status));
    if (result.outcome === "retry") message.retry({ delaySeconds: result.delaySeconds });
    else message.ack();
  } catch (err) {
    const delaySeconds = unreachableRetrySeconds(message.attempts);
    console.error(
      `delivery could not be recorded; the queue offers it again in ${delaySeconds} s`,
      errorText(err),
    );
    message.retry({ delaySeconds });
  }
}

/**
 * Builds, signs and POSTs the body. postSigned reports every failure of the POST itself, so
 * what throws here failed before it (a body that cannot be built, a key that cannot sign):
 * that counts as the attempt's failure, recorded like any other.
 */
async function attempt(subscription: Subscription, stored: StoredEvent): Promise<PostResult> {
  try {
    const body =
      subscription.format === "goapi" ? formatGoapiEvent(stored) : formatMidhookEvent(stored);
    return await postSigned(subscription, stored.id, body);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      status: null,
      error: `could not prepare the delivery: ${reason.slice(0, 160)}`,
      durationMs: 0,
      retryAfterSeconds: null,
    };
  }
}

/** The delivery queue gave up on a message: the task fails and lists the delivery. */
async function recordGiveUp(message: Message<unknown>, env: Env): Promise<void> {
  const body = parseMessage(message);
  if (body === null) return;
  try {
    await taskObject(env, body.task_id).giveUp(
      body.event,
      body.subscription,
      body.series,
      "the delivery queue gave up",
    );
    message.ack();
  } catch (err) {
    const delaySeconds = unreachableRetrySeconds(message.attempts);
    console.error("a given-up delivery could not be recorded; retrying", errorText(err));
    message.retry({ delaySeconds });
  }
}
