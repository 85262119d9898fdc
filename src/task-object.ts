// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// its archived images and its deliveries. Reads and writes are synchronous SQLite calls, so
// concurrent deliveries to one task are serialized by the object itself; the alarm does the
// slow work (copying images, queueing deliveries) after GoAPI has its 200.
import { DurableObject } from "cloudflare:workers";
import { imageLimits, publicBaseUrl } from "./config";
import type { ImageView, StoredEvent } from "./delivery/format";
import { retryDelaySeconds } from "./delivery/retry";
import { matchingSubscriptions, subscriptionsOf } from "./delivery/subscriptions";
import {
  type EventType,
  eventIdentity,
  eventTypeOf,
  isStale,
  type TaskEvent,
  type TaskStatus,
} from "./goapi/events";
import { archiveImage } from "./images/archive";
import { fallbackName } from "./images/sources";
import { TASK_SCHEMA } from "./task-schema";

/** What `recordEvent` tells the ingest route. */
export interface RecordResult {
  event: string;
  duplicate: boolean;
  stale: boolean;
}

export type DeliveryState = "pending" | "delivered" | "failed";

/** One delivery in the admin view (SPEC §6). */
export interface DeliveryView {
  subscription: string;
  event: string;
  state: DeliveryState;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

/** `GET /v1/tasks/{id}` (SPEC §6). */
export interface TaskView {
  task_id: string;
  task_type: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  events: Array<{
    id: string;
    type: EventType;
    status: TaskStatus;
    progress: number;
    received_at: string;
    duplicates: number;
    stale: boolean;
  }>;
  images: ImageView[];
  deliveries: DeliveryView[];
}

/** The queue message of one delivery: ids only, the body is read from the object. */
export interface DeliveryMessage {
  task_id: string;
  event: string;
  subscription: string;
  series: number;
}

/** What the delivery consumer reports after one attempt. */
export interface AttemptReport {
  status: number | null;
  error: string | null;
  durationMs: number;
  retryAfterSeconds: number | null;
  maxAttempts: number;
}

export type AttemptOutcome =
  | { outcome: "delivered" }
  | { outcome: "retry"; delaySeconds: number }
  | { outcome: "failed" }
  | { outcome: "superseded" };

/** A failed delivery, as the dead-letter list shows it. */
export type DeadLetterInfo = {
  task_id: string;
  event: string;
  subscription: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  failed_at: string;
};

export type RedeliverResult =
  | { ok: true; restarted: Array<{ event: string; subscription: string }> }
  | { ok: false; error: string };

/** Image copies: 5 tries over about 3 minutes, then the image is recorded as failed. */
const IMAGE_RETRY_MS = [2_000, 10_000, 30_000, 120_000];
const IMAGE_TIMEOUT_MS = 5 * 60_000;
/** How long deliveries wait before SUBSCRIPTIONS is read again when it is invalid. */
const CONFIG_RETRY_MS = 60_000;
/** A queued delivery with no attempt this long after it was due lost its message: re-send. */
const LOST_MESSAGE_GRACE_MS = 60_000;

type TaskRow = {
  task_id: string;
  task_type: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  base_url: string;
};

type EventRow = {
  id: string;
  type: EventType;
  status: TaskStatus;
  received_at: string;
  event: string;
  payload: string;
};

type ImageRow = {
  slot: string;
  name: string;
  source_url: string;
  state: ImageView["state"];
  content_type: string | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  attempts: number;
};

type DeliveryRow = {
  event_id: string;
  subscription: string;
  state: DeliveryState;
  series: number;
  attempts: number;
  enqueued: number;
  next_attempt_at: number;
  lease_until: number;
  last_status: number | null;
  last_error: string | null;
  finished_at: string | null;
};

export class TaskObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** When to look at an invalid SUBSCRIPTIONS again (in memory: a restart looks at once). */
  private configBlockedUntil = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(TASK_SCHEMA);
  }

  /**
   * Records one delivery. A delivery whose identity was seen before only bumps that event's
   * duplicate count; a new one that would move the task backwards is kept but marked stale.
   * A new current event gets its delivery rows in this same write (the outbox) unless it has
   * images to copy first; the alarm is set for whatever is left to copy or queue.
   * Resolves after the writes are durable (the output gate holds the reply until then).
   */
  recordEvent(event: TaskEvent, payload: string, baseUrl: string): RecordResult {
    const identity = eventIdentity(event);
    const seen = this.sql
      .exec<{ id: string; stale: number }>(
        "SELECT id, stale FROM events WHERE identity = ?",
        identity,
      )
      .toArray()[0];
    if (seen) {
      this.sql.exec("UPDATE events SET duplicates = duplicates + 1 WHERE id = ?", seen.id);
      return { event: seen.id, duplicate: true, stale: seen.stale === 1 };
    }

    const now = new Date().toISOString();
    const task = this.task();
    const stale = task !== null && isStale(task, event);
    const id = `evt_${crypto.randomUUID().replaceAll("-", "")}`;
    this.sql.exec(
      `INSERT INTO events (id, identity, type, status, progress, stale, received_at, forward_state, event, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      identity,
      eventTypeOf(event.status),
      event.status,
      event.progress,
      stale ? 1 : 0,
      now,
      stale ? "never" : "waiting",
      JSON.stringify(event),
      payload,
    );
    if (stale) return { event: id, duplicate: false, stale };

    if (task === null) {
      this.sql.exec(
        `INSERT INTO task (task_id, task_type, model, status, progress, created_at, updated_at, base_url)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        event.taskId,
        event.taskType,
        event.model,
        event.status,
        event.progress,
        now,
        now,
        baseUrl,
      );
    } else {
      this.sql.exec(
        `UPDATE task SET status = ?, progress = ?, updated_at = ?, base_url = ?,
           task_type = CASE WHEN ? = 'unknown' THEN task_type ELSE ? END`,
        event.status,
        event.progress,
        now,
        baseUrl,
        event.taskType,
        event.taskType,
      );
    }
    if (event.status === "completed") {
      event.images.forEach((image, position) => {
        this.sql.exec(
          `INSERT OR IGNORE INTO images (slot, position, name, source_url, state, next_try_at)
           VALUES (?, ?, ?, ?, 'pending', ?)`,
          image.name,
          position,
          fallbackName(image.name, image.url),
          image.url,
          Date.now(),
        );
      });
    }
    // The outbox: an event with nothing to copy gets its delivery rows in this same write, so
    // the alarm runs only when something is to be sent or copied.
    const current = this.task();
    if (current) this.releaseReadyEvents(current);
    this.scheduleAlarm();
    return { event: id, duplicate: false, stale };
  }

  /** The task with its events, images and deliveries, or null when nothing was recorded. */
  getTask(): TaskView | null {
    const task = this.task();
    if (task === null) return null;
    const events = this.sql
      .exec<Omit<TaskView["events"][number], "stale"> & { stale: number }>(
        "SELECT id, type, status, progress, received_at, duplicates, stale FROM events ORDER BY seq",
      )
      .toArray()
      .map((row) => ({ ...row, stale: row.stale === 1 }));
    const deliveries = this.sql
      .exec<DeliveryRow>("SELECT * FROM deliveries ORDER BY rowid")
      .toArray()
      .map((row) => ({
        subscription: row.subscription,
        event: row.event_id,
        state: row.state,
        attempts: row.attempts,
        last_status: row.last_status,
        last_error: row.last_error,
        next_attempt_at:
          row.state === "pending" ? new Date(row.next_attempt_at).toISOString() : null,
      }));
    const { base_url: _base, ...fields } = task;
    return { ...fields, events, images: this.imageViews(task), deliveries };
  }

  /** Archives due images, releases ready events to their subscribers, queues due deliveries. */
  override async alarm(): Promise<void> {
    const task = this.task();
    if (task === null) return;
    await this.archiveDueImages(task);
    this.releaseReadyEvents(task);
    await this.enqueueDueDeliveries(task);
    this.scheduleAlarm();
  }

  /**
   * Starts an attempt of a queued delivery: null when it is no longer wanted (delivered,
   * failed, a newer series took over, or another attempt holds the lease); otherwise the
   * stored event to send, with the lease taken for `leaseMs`.
   */
  beginAttempt(
    eventId: string,
    subscription: string,
    series: number,
    leaseMs: number,
  ): (StoredEvent & { attempt: number }) | null {
    const delivery = this.pendingDelivery(eventId, subscription, series);
    const now = Date.now();
    if (delivery === null || delivery.lease_until > now) return null;
    const task = this.task();
    const row = this.sql.exec<EventRow>("SELECT * FROM events WHERE id = ?", eventId).toArray()[0];
    if (!task || !row) return null;
    this.sql.exec(
      "UPDATE deliveries SET lease_until = ? WHERE event_id = ? AND subscription = ?",
      now + leaseMs,
      eventId,
      subscription,
    );
    return {
      id: row.id,
      type: row.type,
      created_at: row.received_at,
      event: JSON.parse(row.event),
      payload: row.payload,
      images: row.status === "completed" ? this.imageViews(task) : [],
      attempt: delivery.attempts + 1,
    };
  }

  /** Records the result of one attempt and says what the queue should do with the message. */
  recordAttempt(
    eventId: string,
    subscription: string,
    series: number,
    report: AttemptReport,
  ): AttemptOutcome {
    const delivery = this.pendingDelivery(eventId, subscription, series);
    if (delivery === null) return { outcome: "superseded" };
    const now = Date.now();
    const attempt = delivery.attempts + 1;
    this.sql.exec(
      `INSERT INTO attempts (event_id, subscription, series, attempt, at, status, error, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      eventId,
      subscription,
      series,
      attempt,
      new Date(now).toISOString(),
      report.status,
      report.error,
      report.durationMs,
    );
    const ok = report.status !== null && report.status >= 200 && report.status < 300;
    const gone = report.status === 410;
    const exhausted = attempt >= report.maxAttempts;
    if (ok || gone || exhausted) {
      this.sql.exec(
        `UPDATE deliveries SET state = ?, attempts = ?, last_status = ?, last_error = ?,
           lease_until = 0, finished_at = ? WHERE event_id = ? AND subscription = ?`,
        ok ? "delivered" : "failed",
        attempt,
        report.status,
        report.error,
        new Date(now).toISOString(),
        eventId,
        subscription,
      );
      this.scheduleAlarm();
      return { outcome: ok ? "delivered" : "failed" };
    }
    const delaySeconds = retryDelaySeconds(attempt, report.retryAfterSeconds);
    this.sql.exec(
      `UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, lease_until = 0,
         next_attempt_at = ? WHERE event_id = ? AND subscription = ?`,
      attempt,
      report.status,
      report.error,
      now + delaySeconds * 1000,
      eventId,
      subscription,
    );
    this.scheduleAlarm();
    return { outcome: "retry", delaySeconds };
  }

  /**
   * A delivery reached the dead-letter queue: marks it failed if it was still pending (the
   * queue gave up on it) and returns what the dead-letter list shows.
   */
  deadLetter(eventId: string, subscription: string, reason: string): DeadLetterInfo | null {
    const task = this.task();
    const delivery = this.delivery(eventId, subscription);
    if (!task || !delivery || delivery.state === "delivered") return null;
    if (delivery.state === "pending") {
      this.sql.exec(
        `UPDATE deliveries SET state = 'failed', last_error = COALESCE(last_error, ?),
           lease_until = 0, finished_at = ? WHERE event_id = ? AND subscription = ?`,
        reason,
        new Date().toISOString(),
        eventId,
        subscription,
      );
      this.scheduleAlarm();
    }
    const failed = this.delivery(eventId, subscription);
    if (!failed) return null;
    return {
      task_id: task.task_id,
      event: eventId,
      subscription,
      attempts: failed.attempts,
      last_status: failed.last_status,
      last_error: failed.last_error,
      failed_at: failed.finished_at ?? new Date().toISOString(),
    };
  }

  /**
   * Starts a new attempt series for the task's events (or one `event`), to every subscription
   * that wants them now (or only `subscription`). Events still waiting in the outbox, say for a
   * fixed SUBSCRIPTIONS, are released first. Returns the deliveries restarted.
   */
  redeliver(filter: { event?: string; subscription?: string }): RedeliverResult {
    const task = this.task();
    if (task === null) return { ok: false, error: "unknown task" };
    const subscriptions = this.subscriptions();
    if (subscriptions === null) return { ok: false, error: "SUBSCRIPTIONS is invalid" };
    this.releaseReadyEvents(task);
    const restarted: Array<{ event: string; subscription: string }> = [];
    const events = this.sql
      .exec<{ id: string; type: EventType }>(
        "SELECT id, type FROM events WHERE forward_state = 'released' ORDER BY seq",
      )
      .toArray()
      .filter((e) => filter.event === undefined || e.id === filter.event);
    for (const event of events) {
      for (const sub of matchingSubscriptions(subscriptions, event.type, task.task_type)) {
        if (filter.subscription !== undefined && sub.id !== filter.subscription) continue;
        this.sql.exec(
          `INSERT INTO deliveries (event_id, subscription, state, next_attempt_at) VALUES (?, ?, 'pending', ?)
           ON CONFLICT (event_id, subscription) DO UPDATE SET state = 'pending', series = series + 1,
             attempts = 0, enqueued = 0, lease_until = 0, next_attempt_at = excluded.next_attempt_at,
             finished_at = NULL`,
          event.id,
          sub.id,
          Date.now(),
        );
        restarted.push({ event: event.id, subscription: sub.id });
      }
    }
    if (restarted.length > 0) void this.ctx.storage.setAlarm(Date.now());
    return { ok: true, restarted };
  }

  private async archiveDueImages(task: TaskRow): Promise<void> {
    const due = this.sql
      .exec<ImageRow>(
        "SELECT * FROM images WHERE state = 'pending' AND next_try_at <= ? ORDER BY position",
        Date.now(),
      )
      .toArray();
    if (due.length === 0) return;
    const limits = { ...imageLimits(this.env), timeoutMs: IMAGE_TIMEOUT_MS };
    await Promise.all(
      due.map(async (image) => {
        const result = await archiveImage(
          this.env.IMAGES,
          task.task_id,
          image.slot,
          image.source_url,
          limits,
        );
        const attempts = image.attempts + 1;
        if (result.ok) {
          this.sql.exec(
            `UPDATE images SET state = 'stored', name = ?, content_type = ?, bytes = ?, sha256 = ?,
               error = NULL, attempts = ? WHERE slot = ?`,
            result.name,
            result.contentType,
            result.bytes,
            result.sha256,
            attempts,
            image.slot,
          );
          return;
        }
        const delay = IMAGE_RETRY_MS[attempts - 1];
        const giveUp = !result.retryable || delay === undefined;
        this.sql.exec(
          "UPDATE images SET state = ?, name = ?, error = ?, attempts = ?, next_try_at = ? WHERE slot = ?",
          giveUp ? "failed" : "pending",
          result.name,
          result.error,
          attempts,
          Date.now() + (delay ?? 0),
          image.slot,
        );
      }),
    );
  }

  /** Moves waiting events whose images are settled into deliveries, if SUBSCRIPTIONS is valid. */
  private releaseReadyEvents(task: TaskRow): void {
    const waiting = this.sql
      .exec<{ id: string; type: EventType; status: TaskStatus }>(
        "SELECT id, type, status FROM events WHERE forward_state = 'waiting' ORDER BY seq",
      )
      .toArray();
    if (waiting.length === 0) return;
    const imagesPending =
      this.countOf("SELECT COUNT(*) AS n FROM images WHERE state = 'pending'") > 0;
    const ready = waiting.filter((e) => e.status !== "completed" || !imagesPending);
    if (ready.length === 0) return;
    const subscriptions = this.subscriptions();
    if (subscriptions === null) return;
    const now = Date.now();
    for (const event of ready) {
      for (const sub of matchingSubscriptions(subscriptions, event.type, task.task_type)) {
        this.sql.exec(
          `INSERT OR IGNORE INTO deliveries (event_id, subscription, state, next_attempt_at)
           VALUES (?, ?, 'pending', ?)`,
          event.id,
          sub.id,
          now,
        );
      }
      this.sql.exec("UPDATE events SET forward_state = 'released' WHERE id = ?", event.id);
    }
  }

  /** Sends queue messages for deliveries that are due and not queued, or whose message was lost. */
  private async enqueueDueDeliveries(task: TaskRow): Promise<void> {
    const now = Date.now();
    const lost = this.sql
      .exec<DeliveryRow>(
        `SELECT * FROM deliveries WHERE state = 'pending' AND enqueued = 1
           AND MAX(next_attempt_at, lease_until) + ? <= ?`,
        LOST_MESSAGE_GRACE_MS,
        now,
      )
      .toArray();
    for (const row of lost) {
      this.sql.exec(
        "UPDATE deliveries SET series = series + 1, enqueued = 0 WHERE event_id = ? AND subscription = ?",
        row.event_id,
        row.subscription,
      );
    }
    const due = this.sql
      .exec<DeliveryRow>(
        "SELECT * FROM deliveries WHERE state = 'pending' AND enqueued = 0 AND next_attempt_at <= ?",
        now,
      )
      .toArray();
    for (let i = 0; i < due.length; i += 100) {
      const chunk = due.slice(i, i + 100);
      await this.env.DELIVERY_QUEUE.sendBatch(
        chunk.map((row) => ({
          body: {
            task_id: task.task_id,
            event: row.event_id,
            subscription: row.subscription,
            series: row.series,
          } satisfies DeliveryMessage,
        })),
      );
      for (const row of chunk) {
        // Due from now: a message not attempted within the grace period after this was lost.
        this.sql.exec(
          `UPDATE deliveries SET enqueued = 1, next_attempt_at = MAX(next_attempt_at, ?)
             WHERE event_id = ? AND subscription = ? AND series = ?`,
          now,
          row.event_id,
          row.subscription,
          row.series,
        );
      }
    }
  }

  /** Sets the alarm for the earliest pending work, or clears it when there is none. */
  private scheduleAlarm(): void {
    const times = [
      this.earliest("SELECT MIN(next_try_at) AS t FROM images WHERE state = 'pending'"),
      this.earliest(
        "SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE state = 'pending' AND enqueued = 0",
      ),
      this.earliest(
        `SELECT MIN(MAX(next_attempt_at, lease_until)) + ${LOST_MESSAGE_GRACE_MS} AS t
           FROM deliveries WHERE state = 'pending' AND enqueued = 1`,
      ),
    ];
    const releasable = this.countOf(
      `SELECT COUNT(*) AS n FROM events WHERE forward_state = 'waiting' AND (status != 'completed'
         OR NOT EXISTS (SELECT 1 FROM images WHERE state = 'pending'))`,
    );
    if (releasable > 0) times.push(Math.max(this.configBlockedUntil, Date.now()));
    const next = Math.min(...times.filter((t): t is number => t !== null));
    if (Number.isFinite(next)) void this.ctx.storage.setAlarm(next);
    else void this.ctx.storage.deleteAlarm();
  }

  /** The valid subscriptions, or null (logged, retried later) when SUBSCRIPTIONS is invalid. */
  private subscriptions() {
    const parsed = subscriptionsOf(this.env);
    if (parsed.ok) {
      this.configBlockedUntil = 0;
      return parsed.value;
    }
    this.configBlockedUntil = Date.now() + CONFIG_RETRY_MS;
    console.error("SUBSCRIPTIONS is invalid; deliveries wait until it is fixed", parsed.errors);
    return null;
  }

  private imageViews(task: TaskRow): ImageView[] {
    const base = publicBaseUrl(this.env, task.base_url);
    return this.sql
      .exec<ImageRow>("SELECT * FROM images ORDER BY position")
      .toArray()
      .map((row) => ({
        name: row.name,
        url: row.state === "stored" ? `${base}/images/${task.task_id}/${row.name}` : null,
        source_url: row.source_url,
        content_type: row.content_type,
        bytes: row.bytes,
        sha256: row.sha256,
        error: row.error,
        state: row.state,
      }));
  }

  private task(): TaskRow | null {
    return this.sql.exec<TaskRow>("SELECT * FROM task").toArray()[0] ?? null;
  }

  private delivery(eventId: string, subscription: string): DeliveryRow | undefined {
    return this.sql
      .exec<DeliveryRow>(
        "SELECT * FROM deliveries WHERE event_id = ? AND subscription = ?",
        eventId,
        subscription,
      )
      .toArray()[0];
  }

  /** The delivery if it is pending in attempt series `series`; null if it moved on. */
  private pendingDelivery(
    eventId: string,
    subscription: string,
    series: number,
  ): DeliveryRow | null {
    const delivery = this.delivery(eventId, subscription);
    return delivery?.state === "pending" && delivery.series === series ? delivery : null;
  }

  private earliest(query: string): number | null {
    return this.sql.exec<{ t: number | null }>(query).one().t;
  }

  private countOf(query: string): number {
    return this.sql.exec<{ n: number }>(query).one().n;
  }
}
