// Putting a task's due deliveries on the delivery queue, and sending again a message that was
// lost: the alarm's work for the deliveries of ./deliveries.
import type { DeliveryMessage } from "../contract";
import { LEASE_FREED, type TaskDeliveries } from "./deliveries";
import type { DeliveryRow } from "./schema";

/**
 * A queued delivery with no attempt this long after it was due lost its message: re-send it.
 * Minutes, not seconds: a queue that is merely backed up, or a consumer backing off while this
 * object was unreachable, must not be mistaken for a loss (a re-send is harmless, as the old
 * series' message is dropped, but it is wasted work).
 */
const LOST_MESSAGE_GRACE_MS = 3 * 60_000;
/**
 * A delivery re-sent this many times after its message had taken the lease, with no attempt
 * recorded (counted since its last recorded attempt, restart or hand-back), fails and is
 * listed: its attempt keeps failing before it is recorded (the subscription's health
 * unreadable, an isolate dying on it), and each re-send would otherwise start the queue's
 * retries from zero, for ever. A message that never arrived, or came late (a backed-up queue),
 * took no lease and is not counted.
 */
const MAX_RESENDS = 10;

/** Cloudflare Queues takes at most 100 messages per sendBatch. */
const SEND_BATCH_LIMIT = 100;

export class TaskDeliveryQueue {
  readonly #sql: SqlStorage;
  readonly #deliveries: TaskDeliveries;

  constructor(sql: SqlStorage, deliveries: TaskDeliveries) {
    this.#sql = sql;
    this.#deliveries = deliveries;
  }

  /**
   * Sends queue messages for deliveries that are due and not queued, or whose message was lost
   * (re-sent in a new series); a delivery whose messages took the lease without an attempt
   * being recorded in MAX_RESENDS series fails instead (see MAX_RESENDS).
   */
  async enqueueDue(taskId: string, queue: Queue): Promise<void> {
    const now = Date.now();
    const lost = `state = 'pending' AND enqueued = 1 AND MAX(next_attempt_at, lease_until) + ? <= ?`;
    const exhausted = this.#sql
      .exec<Pick<DeliveryRow, "event_id" | "subscription" | "attempts" | "last_status">>(
        `SELECT event_id, subscription, attempts, last_status FROM deliveries
           WHERE ${lost} AND resends + (lease_holder IS NOT NULL) >= ?`,
        LOST_MESSAGE_GRACE_MS,
        now,
        MAX_RESENDS,
      )
      .toArray();
    for (const row of exhausted) {
      this.#deliveries.fail(
        row.event_id,
        row.subscription,
        row.attempts,
        row.last_status,
        `its attempt failed before it was recorded, in ${MAX_RESENDS} attempt series`,
      );
    }
    const resent = this.#sql
      .exec(
        `UPDATE deliveries SET series = series + 1, enqueued = 0,
           resends = resends + (lease_holder IS NOT NULL), ${LEASE_FREED} WHERE ${lost}
           RETURNING 1`,
        LOST_MESSAGE_GRACE_MS,
        now,
      )
      .toArray().length;
    if (resent > 0) {
      // Said: a queue backed up this long is re-sent to, never failed for it (see MAX_RESENDS).
      console.warn(
        `task ${taskId}: ${resent === 1 ? "1 queued delivery had" : `${resent} queued deliveries had`} no attempt ${LOST_MESSAGE_GRACE_MS / 60_000} minutes after it was due; sent again (a lost message, or a queue backed up that long)`,
      );
    }
    const due = this.#sql
      .exec<DeliveryRow>(
        `SELECT * FROM deliveries WHERE state = 'pending' AND enqueued = 0 AND held IS NULL
           AND next_attempt_at <= ?`,
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
            ...(row.probe === 1 ? { probe: true } : {}),
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

  /** When the alarm must next look at the deliveries (to queue or re-send one), or null. */
  nextWakeAt(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(
        `SELECT MIN(CASE WHEN enqueued = 0 THEN next_attempt_at
                         ELSE MAX(next_attempt_at, lease_until) + ? END) AS t
           FROM deliveries WHERE state = 'pending' AND held IS NULL`,
        LOST_MESSAGE_GRACE_MS,
      )
      .one().t;
  }
}
