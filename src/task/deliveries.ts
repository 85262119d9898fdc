// A task's deliveries, one per (event, subscription): created when an event is released from
// the outbox, queued by the alarm, attempted by the queue consumer (lease, attempt, retry,
// failure), restarted in a new series by a redeliver, and re-sent when a queue message is lost.
import type {
  AttemptOutcome,
  AttemptReport,
  DeliveryMessage,
  RestartedDelivery,
} from "../contract";
import { classifyAttempt } from "../delivery/policy";
import type { DeliveryRow } from "./schema";

/** A queued delivery with no attempt this long after it was due lost its message: re-send. */
const LOST_MESSAGE_GRACE_MS = 60_000;
/** Cloudflare Queues takes at most 100 messages per sendBatch. */
const SEND_BATCH_LIMIT = 100;

export class TaskDeliveries {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Creates the delivery of `eventId` to each of `subscriptions`, due at `now` (once each). */
  create(eventId: string, subscriptions: readonly string[], now: number): void {
    for (const subscription of subscriptions) {
      this.#sql.exec(
        `INSERT OR IGNORE INTO deliveries (event_id, subscription, state, next_attempt_at)
         VALUES (?, ?, 'pending', ?)`,
        eventId,
        subscription,
        now,
      );
    }
  }

  /** Starts a new attempt series of `eventId` to `subscription`, creating it if needed. */
  restart(delivery: RestartedDelivery, now: number): void {
    this.#sql.exec(
      `INSERT INTO deliveries (event_id, subscription, state, next_attempt_at) VALUES (?, ?, 'pending', ?)
       ON CONFLICT (event_id, subscription) DO UPDATE SET state = 'pending', series = series + 1,
         attempts = 0, enqueued = 0, lease_until = 0, next_attempt_at = excluded.next_attempt_at,
         finished_at = NULL`,
      delivery.event,
      delivery.subscription,
      now,
    );
  }

  /** Every delivery, in the order created. */
  list(): DeliveryRow[] {
    return this.#sql.exec<DeliveryRow>("SELECT * FROM deliveries ORDER BY rowid").toArray();
  }

  /** The delivery, whatever its state. */
  get(eventId: string, subscription: string): DeliveryRow | null {
    return (
      this.#sql
        .exec<DeliveryRow>(
          "SELECT * FROM deliveries WHERE event_id = ? AND subscription = ?",
          eventId,
          subscription,
        )
        .toArray()[0] ?? null
    );
  }

  /** The delivery if it is pending in attempt series `series`; null if it moved on. */
  pending(eventId: string, subscription: string, series: number): DeliveryRow | null {
    const delivery = this.get(eventId, subscription);
    return delivery?.state === "pending" && delivery.series === series ? delivery : null;
  }

  /**
   * Takes the lease of a pending delivery for an attempt: null when the delivery is no longer
   * wanted in this series or another attempt holds it.
   */
  lease(
    eventId: string,
    subscription: string,
    series: number,
    leaseMs: number,
  ): DeliveryRow | null {
    const delivery = this.pending(eventId, subscription, series);
    const now = Date.now();
    if (delivery === null || delivery.lease_until > now) return null;
    this.#sql.exec(
      "UPDATE deliveries SET lease_until = ? WHERE event_id = ? AND subscription = ?",
      now + leaseMs,
      eventId,
      subscription,
    );
    return delivery;
  }

  /** Records the result of one attempt and says what the queue should do with the message. */
  recordAttempt(
    eventId: string,
    subscription: string,
    series: number,
    report: AttemptReport,
  ): AttemptOutcome {
    const delivery = this.pending(eventId, subscription, series);
    if (delivery === null) return { outcome: "superseded" };
    const now = Date.now();
    const attempt = delivery.attempts + 1;
    const verdict = classifyAttempt(
      attempt,
      report.maxAttempts,
      report.status,
      report.retryAfterSeconds,
    );
    if (verdict.kind !== "retry") {
      const delivered = verdict.kind === "delivered";
      this.#sql.exec(
        `UPDATE deliveries SET state = ?, attempts = ?, last_status = ?, last_error = ?,
           lease_until = 0, finished_at = ? WHERE event_id = ? AND subscription = ?`,
        delivered ? "delivered" : "failed",
        attempt,
        report.status,
        report.error,
        new Date(now).toISOString(),
        eventId,
        subscription,
      );
      return { outcome: delivered ? "delivered" : "failed" };
    }
    this.#sql.exec(
      `UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, lease_until = 0,
         next_attempt_at = ? WHERE event_id = ? AND subscription = ?`,
      attempt,
      report.status,
      report.error,
      now + verdict.delaySeconds * 1000,
      eventId,
      subscription,
    );
    return { outcome: "retry", delaySeconds: verdict.delaySeconds };
  }

  /** Marks a pending delivery failed because the queue gave up on it; true if it changed. */
  failPending(eventId: string, subscription: string, reason: string): boolean {
    const delivery = this.get(eventId, subscription);
    if (delivery?.state !== "pending") return false;
    this.#sql.exec(
      `UPDATE deliveries SET state = 'failed', last_error = COALESCE(last_error, ?),
         lease_until = 0, finished_at = ? WHERE event_id = ? AND subscription = ?`,
      reason,
      new Date().toISOString(),
      eventId,
      subscription,
    );
    return true;
  }

  /** Sends queue messages for deliveries that are due and not queued, or whose message was lost. */
  async enqueueDue(taskId: string, queue: Queue): Promise<void> {
    const now = Date.now();
    // A message not attempted within the grace period after it was due was lost: a new series.
    this.#sql.exec(
      `UPDATE deliveries SET series = series + 1, enqueued = 0 WHERE state = 'pending'
         AND enqueued = 1 AND MAX(next_attempt_at, lease_until) + ? <= ?`,
      LOST_MESSAGE_GRACE_MS,
      now,
    );
    const due = this.#sql
      .exec<DeliveryRow>(
        "SELECT * FROM deliveries WHERE state = 'pending' AND enqueued = 0 AND next_attempt_at <= ?",
        now,
      )
      .toArray();
    for (let i = 0; i < due.length; i += SEND_BATCH_LIMIT) {
      const chunk = due.slice(i, i + SEND_BATCH_LIMIT);
      await queue.sendBatch(
        chunk.map((row) => ({
          body: {
            task_id: taskId,
            event: row.event_id,
            subscription: row.subscription,
            series: row.series,
          } satisfies DeliveryMessage,
        })),
      );
      for (const row of chunk) {
        // Due from now: a message not attempted within the grace period after this was lost.
        this.#sql.exec(
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

  /** When the alarm must next look at the deliveries (to queue one or find it lost), or null. */
  nextWakeAt(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(
        `SELECT MIN(CASE WHEN enqueued = 0 THEN next_attempt_at
                         ELSE MAX(next_attempt_at, lease_until) + ? END) AS t
           FROM deliveries WHERE state = 'pending'`,
        LOST_MESSAGE_GRACE_MS,
      )
      .one().t;
  }
}
