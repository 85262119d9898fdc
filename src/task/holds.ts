// Deliveries a task holds back instead of queueing: while SUBSCRIPTIONS is invalid (the alarm
// queues them again once it reads well), and while their subscription is paused (until its
// health object releases them, or picks one as its probe). A held delivery spends no attempt.
import { subscriberHealth } from "../bindings";
import { LEASE_FREED, type TaskDeliveries } from "./deliveries";

/**
 * How often a task asks again about a subscription it holds deliveries for. The subscription's
 * health object releases them when it resumes; this is the backstop should that word be lost
 * (a crash between holding a delivery and telling the health object, say).
 */
const CHECK_MS = 15 * 60_000;

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
      `UPDATE deliveries SET enqueued = 0, ${LEASE_FREED}, resends = 0, last_error = ?
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
      `UPDATE deliveries SET enqueued = 0, ${LEASE_FREED}, resends = 0, held = 'paused',
         held_at = ?, probe = 0
         WHERE event_id = ? AND subscription = ?`,
      Date.now(),
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

  /**
   * Picks this task's probe of the paused subscription: the held delivery of `eventId`, else its
   * oldest held one. True while the task is still concerned: a probe picked, or one already on
   * its way; false only when it holds nothing for the subscription.
   */
  probe(subscription: string, eventId: string): boolean {
    const inFlight = this.#sql
      .exec(
        "SELECT 1 FROM deliveries WHERE subscription = ? AND probe = 1 AND state = 'pending'",
        subscription,
      )
      .toArray();
    if (inFlight.length > 0) return true;
    const picked = this.#sql.exec(
      `UPDATE deliveries SET held = NULL, probe = 1, enqueued = 0, next_attempt_at = ?
         WHERE rowid = (
           SELECT rowid FROM deliveries WHERE subscription = ? AND held = 'paused'
             AND state = 'pending' ORDER BY event_id = ? DESC, rowid LIMIT 1)
         RETURNING event_id`,
      Date.now(),
      subscription,
      eventId,
    );
    return picked.toArray().length > 0;
  }

  /** The subscriptions this task holds deliveries for, each with its oldest held event. */
  heldFor(): Array<{ subscription: string; event: string }> {
    // SQLite takes the bare columns from the row MIN() picks: the oldest held delivery.
    return this.#sql
      .exec<{ subscription: string; event: string; first: number }>(
        `SELECT subscription, event_id AS event, MIN(rowid) AS first FROM deliveries
           WHERE held = 'paused' AND state = 'pending' GROUP BY subscription`,
      )
      .toArray()
      .map(({ subscription, event }) => ({ subscription, event }));
  }

  /** Notes that `subscription` was asked about now: the next check is CHECK_MS away. */
  checked(subscription: string): void {
    this.#sql.exec(
      "UPDATE deliveries SET held_at = ? WHERE subscription = ? AND held = 'paused'",
      Date.now(),
      subscription,
    );
  }

  /** When the task should next ask about a subscription it holds deliveries for, or null. */
  nextCheckAt(): number | null {
    const at = this.#sql
      .exec<{ t: number | null }>(
        "SELECT MIN(held_at) AS t FROM deliveries WHERE held = 'paused' AND state = 'pending'",
      )
      .one().t;
    return at === null ? null : at + CHECK_MS;
  }

  /**
   * For each subscription this task holds deliveries for, once its check is due: released if
   * the subscription is active again, else listed again with its health object (so a word lost
   * in a crash is repaired), and checked again later. Each on its own: one whose health object
   * fails does not hold up the others; the first failure is thrown once all were asked.
   */
  async checkDue(taskId: string, env: Env): Promise<void> {
    const due = this.nextCheckAt();
    if (due === null || due > Date.now()) return;
    const failures: unknown[] = [];
    for (const { subscription, event } of this.heldFor()) {
      try {
        const health = subscriberHealth(env, subscription);
        if ((await health.status(subscription)).state === "active") {
          this.release(subscription);
        } else {
          await health.hold(subscription, taskId, event);
          this.checked(subscription);
        }
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}
