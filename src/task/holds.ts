// Deliveries a task holds back instead of queueing: while SUBSCRIPTIONS is invalid (the alarm
// queues them again once it reads well), and while their subscription is paused (until its
// health object releases them, or picks one as its probe). A held delivery spends no attempt.
import type { TaskDeliveries } from "./deliveries";

export class TaskHolds {
  readonly #sql: SqlStorage;
  readonly #deliveries: TaskDeliveries;

  constructor(sql: SqlStorage, deliveries: TaskDeliveries) {
    this.#sql = sql;
    this.#deliveries = deliveries;
  }

  /**
   * A queue message came back unattempted because SUBSCRIPTIONS is invalid: the delivery waits
   * here, unqueued, and the alarm queues it again once it reads the config well.
   */
  forConfig(eventId: string, subscription: string, series: number, reason: string): boolean {
    if (this.#deliveries.pending(eventId, subscription, series) === null) return false;
    this.#sql.exec(
      `UPDATE deliveries SET enqueued = 0, lease_until = 0, last_error = ?
         WHERE event_id = ? AND subscription = ?`,
      reason,
      eventId,
      subscription,
    );
    return true;
  }

  /**
   * The subscription is paused: the delivery waits, unqueued and with its attempts untouched,
   * until the subscription is back. A failed probe comes back here too.
   */
  forPausedSubscriber(eventId: string, subscription: string, series: number): boolean {
    if (this.#deliveries.pending(eventId, subscription, series) === null) return false;
    this.#sql.exec(
      `UPDATE deliveries SET enqueued = 0, lease_until = 0, held = 'paused', probe = 0
         WHERE event_id = ? AND subscription = ?`,
      eventId,
      subscription,
    );
    return true;
  }

  /** The subscription is back: its held deliveries are due now; true if there were any. */
  release(subscription: string): boolean {
    const released = this.#sql.exec(
      `UPDATE deliveries SET held = NULL, next_attempt_at = ?
         WHERE subscription = ? AND held = 'paused' AND state = 'pending' RETURNING event_id`,
      Date.now(),
      subscription,
    );
    return released.toArray().length > 0;
  }

  /** Sends the held delivery of `eventId` as the subscription's probe; false if none is held. */
  probe(subscription: string, eventId: string): boolean {
    const picked = this.#sql.exec(
      `UPDATE deliveries SET held = NULL, probe = 1, enqueued = 0, next_attempt_at = ?
         WHERE event_id = ? AND subscription = ? AND held = 'paused' AND state = 'pending'
         RETURNING event_id`,
      Date.now(),
      eventId,
      subscription,
    );
    return picked.toArray().length > 0;
  }
}
