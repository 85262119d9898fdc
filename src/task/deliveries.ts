// A task's deliveries, one per (event, subscription): created when an event is released from
// the outbox, attempted by the queue consumer (lease, attempt, retry, failure), restarted in a
// new series by a redeliver, and kept on the dead-letter list while failed. ./delivery-queue
// puts them on the queue and re-sends a lost message.
import type {
  AttemptOutcome,
  AttemptReport,
  QueueMessageRef,
  RestartedDelivery,
} from "../contract";
import { classifyAttempt } from "../delivery/policy";
import type { DeliveryRow } from "./schema";

/** The SQL that frees a delivery's lease (an attempt recorded, or handed back to the task). */
export const LEASE_FREED = "lease_until = 0, lease_holder = NULL, lease_attempts = NULL";
/** A queue message may arrive this much before its delivery's due time and still be attempted. */
const EARLY_TOLERANCE_MS = 1_000;

/** Whether an attempt of a queued delivery may start now. */
export type Lease =
  | { kind: "leased"; delivery: DeliveryRow }
  | { kind: "not_due"; delaySeconds: number }
  | { kind: "skip" };

export class TaskDeliveries {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Whether a delivery is still pending (held ones too), and when the last one finished. */
  progress(): { pending: boolean; lastFinishedAt: string | null } {
    const row = this.#sql
      .exec<{ pending: number; last: string | null }>(
        `SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'pending') AS pending,
                MAX(finished_at) AS last FROM deliveries`,
      )
      .one();
    return { pending: row.pending === 1, lastFinishedAt: row.last };
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

  /**
   * Starts a new attempt series of `eventId` to `subscription`, creating it if needed; a failed
   * delivery leaves the dead-letter list once the new series has started.
   */
  restart(delivery: RestartedDelivery, now: number): void {
    this.#sql.exec(
      `INSERT INTO deliveries (event_id, subscription, state, next_attempt_at) VALUES (?, ?, 'pending', ?)
       ON CONFLICT (event_id, subscription) DO UPDATE SET state = 'pending', series = series + 1,
         attempts = 0, enqueued = 0, ${LEASE_FREED}, resends = 0,
         next_attempt_at = excluded.next_attempt_at,
         finished_at = NULL,
         listing = CASE WHEN listing = 'none' AND state != 'failed' THEN 'none' ELSE 'remove' END`,
      delivery.event,
      delivery.subscription,
      now,
    );
  }

  /** Every delivery, in the order created. */
  list(): DeliveryRow[] {
    return this.#sql.exec<DeliveryRow>("SELECT * FROM deliveries ORDER BY rowid").toArray();
  }

  /** The delivery if it is pending in attempt series `series`; null if it moved on. */
  pending(eventId: string, subscription: string, series: number): DeliveryRow | null {
    const delivery = this.#sql
      .exec<DeliveryRow>(
        "SELECT * FROM deliveries WHERE event_id = ? AND subscription = ?",
        eventId,
        subscription,
      )
      .toArray()[0];
    return delivery?.state === "pending" && delivery.series === series ? delivery : null;
  }

  /**
   * Takes the lease of a pending delivery for an attempt of `leaseMs` by queue message `by`. A
   * message of an older series is skipped, and so is any other while an attempt holds the lease
   * (a duplicate), but for the holder offered again by the queue (a later delivery of it: its
   * attempt failed or died before it was recorded), which takes the lease anew. A repeated
   * message that arrives before the attempt is due is offered again when it is.
   */
  lease(
    eventId: string,
    subscription: string,
    series: number,
    leaseMs: number,
    by: QueueMessageRef,
  ): Lease {
    const delivery = this.pending(eventId, subscription, series);
    const now = Date.now();
    if (delivery === null) return { kind: "skip" };
    const offeredAgain =
      delivery.lease_holder === by.id && by.attempts > (delivery.lease_attempts ?? 0);
    if (delivery.lease_until > now && !offeredAgain) return { kind: "skip" };
    if (delivery.next_attempt_at > now + EARLY_TOLERANCE_MS) {
      return { kind: "not_due", delaySeconds: Math.ceil((delivery.next_attempt_at - now) / 1000) };
    }
    this.#sql.exec(
      `UPDATE deliveries SET lease_until = ?, lease_holder = ?, lease_attempts = ?
         WHERE event_id = ? AND subscription = ?`,
      now + leaseMs,
      by.id,
      by.attempts,
      eventId,
      subscription,
    );
    return { kind: "leased", delivery };
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
    if (verdict.kind === "retry") {
      // An answered probe is over: the delivery retries as any other (see TaskHolds.probe).
      this.#sql.exec(
        `UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, ${LEASE_FREED},
           probe = 0, resends = 0, next_attempt_at = ? WHERE event_id = ? AND subscription = ?`,
        attempt,
        report.status,
        report.error,
        now + verdict.delaySeconds * 1000,
        eventId,
        subscription,
      );
      return { outcome: "retry", delaySeconds: verdict.delaySeconds };
    }
    if (verdict.kind === "delivered") {
      this.#sql.exec(
        `UPDATE deliveries SET state = 'delivered', attempts = ?, last_status = ?, last_error = NULL,
           ${LEASE_FREED}, probe = 0, finished_at = ? WHERE event_id = ? AND subscription = ?`,
        attempt,
        report.status,
        new Date(now).toISOString(),
        eventId,
        subscription,
      );
      return { outcome: "delivered" };
    }
    this.fail(eventId, subscription, attempt, report.status, report.error);
    return { outcome: "failed" };
  }

  /**
   * The queue gave up on a message of series `series` (its dead-letter queue): fails the
   * delivery if that series is still the current one. A message of an older series, say one
   * that was replayed since, changes nothing.
   */
  giveUp(eventId: string, subscription: string, series: number, reason: string): void {
    const delivery = this.pending(eventId, subscription, series);
    if (delivery === null) return;
    this.fail(
      eventId,
      subscription,
      delivery.attempts,
      delivery.last_status,
      delivery.last_error ?? reason,
    );
  }

  /**
   * Fails the delivery and marks it for the dead-letter list (see ./dead-letters). The caller has
   * checked, in the same synchronous step, that it is pending in its current series.
   */
  fail(
    eventId: string,
    subscription: string,
    attempts: number,
    status: number | null,
    error: string | null,
  ): void {
    this.#sql.exec(
      `UPDATE deliveries SET state = 'failed', attempts = ?, last_status = ?, last_error = ?,
         ${LEASE_FREED}, probe = 0, finished_at = ?, listing = 'add'
         WHERE event_id = ? AND subscription = ?`,
      attempts,
      status,
      error,
      new Date().toISOString(),
      eventId,
      subscription,
    );
  }

  /** Whether a change waits to be carried over to the dead-letter list (see ./dead-letters). */
  listingDue(): boolean {
    return (
      this.#sql
        .exec("SELECT 1 FROM deliveries WHERE listing IN ('add', 'remove') LIMIT 1")
        .toArray().length > 0
    );
  }
}
