// The types both sides of an RPC or a queue message share: what the task's Durable Object
// answers to the routes and the consumers, the queue message, and the admin views. No code.
import type { EventType, TaskStatus } from "./goapi/events";

/** What recording one GoAPI delivery did: a new event, a duplicate of one, or a stale one. */
export interface RecordResult {
  event: string;
  duplicate: boolean;
  stale: boolean;
}

/** What the webhook, and a sync, answer about a GoAPI body they recorded. */
export interface IngestAnswer {
  ok: true;
  task_id: string;
  duplicate: boolean;
  stale: boolean;
  event: string;
}

export type ImageState = "pending" | "stored" | "failed";

/** An image as the admin view shows it; forwarded without `state`. */
export interface ImageView {
  name: string;
  url: string | null;
  source_url: string;
  content_type: string | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  state: ImageState;
}

export type DeliveryState = "pending" | "delivered" | "failed";

/** One delivery (an event to one subscription) in the admin view. */
export interface DeliveryView {
  /** null while SUBSCRIPTIONS is invalid: which subscriptions want the event is not known. */
  subscription: string | null;
  event: string;
  state: DeliveryState;
  /**
   * Why a pending delivery is held rather than queued: `images` (the completed event waits for
   * its copies), `config: <the setting at fault>`; null when it is not held.
   */
  waiting_for: string | null;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

/**
 * An event still in the task's outbox, so without deliveries yet: the subscriptions it will go
 * to and what it waits for, shown in the view as pending deliveries.
 */
export interface HeldEvent {
  event: string;
  /** null while SUBSCRIPTIONS is invalid. */
  subscriptions: string[] | null;
  reason: string;
  /** When the object looks at it next (epoch ms). */
  at: number | null;
}

/** How midhook heard of an event: GoAPI's webhook, a poll of GoAPI (or a sync), a submission. */
export type EventSource = "webhook" | "poll" | "submit";

/** One recorded event in the admin view. */
export interface EventView {
  id: string;
  type: EventType;
  status: TaskStatus;
  progress: number;
  received_at: string;
  duplicates: number;
  stale: boolean;
  source: EventSource;
}

/** Where polling GoAPI for a silent task stands. */
export interface ReconcileView {
  state: "idle" | "scheduled" | "gave_up";
  next_poll_at: string | null;
  polls: number;
  last_error: string | null;
}

/** `GET /v1/tasks/{id}`. */
export interface TaskView {
  task_id: string;
  task_type: string;
  /** The v1 `model`, or midjourney. */
  model: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  events: EventView[];
  images: ImageView[];
  deliveries: DeliveryView[];
  reconcile: ReconcileView;
}

/** Everything a delivery body is built from, as the task's Durable Object keeps it. */
export interface StoredEvent {
  id: string;
  type: EventType;
  created_at: string;
  /** GoAPI's body with secrets removed, as JSON text; the event's fields are read from it. */
  payload: string;
  images: ImageView[];
}

/** The queue message of one delivery: ids only, the body is read from the task's object. */
export interface DeliveryMessage {
  task_id: string;
  event: string;
  subscription: string;
  series: number;
  /**
   * The delivery was the paused subscription's probe when this was queued. The consumer asks the
   * task (AttemptStart.probe), as a retried message keeps what it said; this is read only when
   * the subscription is gone and the task is not asked.
   */
  probe?: boolean;
}

/** Which queue message, and which delivery of it (its `attempts`), asks for an attempt. */
export interface QueueMessageRef {
  id: string;
  attempts: number;
}

/** Whether a queued delivery should be attempted now. */
export type AttemptStart =
  /** `probe`: the attempt is a paused subscription's probe (see TaskHolds.probe). */
  | { kind: "send"; stored: StoredEvent; attempt: number; probe: boolean }
  /** A repeated message for an attempt that is not due yet: offer it again later. */
  | { kind: "not_due"; delaySeconds: number }
  /** Delivered, failed, taken over by a newer series, or held by another delivery's lease. */
  | { kind: "skip" };

/** What one POST to a subscriber gave: its status (null: no answer), an error, and Retry-After. */
export interface PostResult {
  status: number | null;
  error: string | null;
  durationMs: number;
  retryAfterSeconds: number | null;
}

/** What the delivery consumer reports after an attempt: the POST's result, the attempts allowed. */
export type AttemptReport = PostResult & { maxAttempts: number };

/** What the queue should do with the message after an attempt was recorded. */
export type AttemptOutcome =
  | { outcome: "delivered" }
  | { outcome: "retry"; delaySeconds: number }
  | { outcome: "failed" }
  | { outcome: "superseded" };

/** A failed delivery, as the dead-letter list shows it (a type: it is also a SQLite row). */
export type DeadLetterInfo = {
  task_id: string;
  event: string;
  subscription: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  failed_at: string;
};

/** A listed dead letter: the failed delivery and the id its replay takes. */
export type DeadLetter = DeadLetterInfo & { id: string };

/** `GET /v1/dead-letters`. */
export interface DeadLetterPage {
  items: DeadLetter[];
  next_cursor: string | null;
}

/** Where a subscription stands with its subscriber (`GET /v1/subscriptions`, without config). */
export interface SubscriptionHealthView {
  state: "active" | "paused";
  consecutive_failures: number;
  paused_at: string | null;
  next_probe_at: string | null;
  /** Tasks holding deliveries for it while it is paused. */
  waiting: number;
}

/** One item of `GET /v1/subscriptions`: the subscription's id and URL (never a key), and its health. */
export type SubscriptionItem = SubscriptionHealthView & { id: string; url: string };

/** A delivery that started a new attempt series. */
export interface RestartedDelivery {
  event: string;
  subscription: string;
}

/** `redeliver`: the deliveries restarted, or why none could be. */
export type RedeliverResult =
  | { ok: true; restarted: RestartedDelivery[] }
  | { ok: false; reason: "unknown_task" }
  | { ok: false; reason: "unknown_subscription"; subscription: string }
  | { ok: false; reason: "invalid_config"; errors: string[] };

/** What the cross-task index keeps of every task, and the task list shows. */
interface TaskSummary {
  task_id: string;
  task_type: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
}

/** One task in `GET /v1/tasks`: its row in the cross-task index. */
export interface TaskListItem extends TaskSummary {
  /** The archived main image's absolute URL (PUBLIC_BASE_URL, else the origin GoAPI called). */
  thumbnail_url: string | null;
}

/** `GET /v1/tasks`. */
export interface TaskListPage {
  items: TaskListItem[];
  next_cursor: string | null;
}

/** What a task's object writes to the cross-task index (D1) about itself. */
export interface TaskIndexEntry extends TaskSummary {
  /** The origin GoAPI called: thumbnail URLs are built from it unless PUBLIC_BASE_URL is set. */
  base_url: string;
  /** The archived main image's name (`main.png`), or null until it is stored. */
  thumbnail: string | null;
}

/**
 * What a console page watching a task receives on its WebSocket: that the task changed (the page
 * then reads it through `/tasks/{id}/panel`, which checks its session every time), or that it
 * was erased. No task data goes over the socket: the session is checked only when it opens, and
 * a socket outlives a sign-out.
 */
export type LiveMessage = { type: "changed" } | { type: "deleted"; task_id: string };

/** The close code of a page's socket that a newer page replaced: the page stops following. */
export const LIVE_REPLACED = 4001;

/** What DELETE did: "retrying" when something could not be removed yet (the alarm finishes). */
export type EraseResult = "erased" | "unknown_task" | "retrying";

/** What one attempt's answer says about the subscriber. */
export type AttemptHealth =
  /** A 2xx: it is up. */
  | "success"
  /** No answer or a failing status: it may be down. */
  | "failure"
  /** `410 Gone` (about one delivery, not the subscriber) or nothing to learn. */
  | "neutral";
