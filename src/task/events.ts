// A task's record of what GoAPI said: the task row and each distinct event, kept exactly once.
// Also the outbox side of an event: whether it is waiting to be forwarded or released.

import type { EventSource } from "../contract";
import { eventIdentity, eventTypeOf, isStale, type TaskEvent } from "../goapi/events";
import type { EventRow, TaskRow } from "./schema";

/** A new event, or the one this delivery repeats. */
export type Recorded =
  | { kind: "duplicate"; id: string; stale: boolean }
  | { kind: "stale"; id: string }
  /** A new current event, and the task it moved forward. */
  | { kind: "current"; id: string; task: TaskRow };

/** An event without its bodies: what views and the outbox read. */
export type EventSummary = Omit<EventRow, "payload" | "identity" | "seq">;
const SUMMARY = "id, type, status, progress, stale, duplicates, received_at, forward_state, source";

export class TaskEvents {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The task, or null before its first event. */
  task(): TaskRow | null {
    return this.#sql.exec<TaskRow>("SELECT * FROM task").toArray()[0] ?? null;
  }

  /**
   * Records one delivery. One whose identity was seen before only bumps that event's duplicate
   * count; a new one that would move the task backwards is kept but marked stale; a new current
   * one moves the task forward and waits in the outbox.
   */
  record(
    event: TaskEvent,
    payload: string,
    baseUrl: string,
    source: EventSource,
    now: string,
  ): Recorded {
    const task = this.task();
    const stale = task !== null && isStale(task, event);
    // One statement records a new event or counts a repeat. SQLite tries the insert; when an
    // event with this identity exists (identity is unique), it runs the DO UPDATE on that row
    // instead, and the values given here, the new id and stale included, are dropped. RETURNING
    // gives the row inserted or updated: duplicates is 0 for a new event, at least 1 for a repeat.
    const row = this.#sql
      .exec<Pick<EventRow, "id" | "stale" | "duplicates">>(
        `INSERT INTO events (id, identity, type, status, progress, stale, received_at, forward_state, payload, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (identity) DO UPDATE SET duplicates = duplicates + 1
         RETURNING id, stale, duplicates`,
        `evt_${crypto.randomUUID().replaceAll("-", "")}`,
        eventIdentity(event),
        eventTypeOf(event.status),
        event.status,
        event.progress,
        stale ? 1 : 0,
        now,
        stale ? "never" : "waiting",
        payload,
        source,
      )
      .one();
    const id = row.id;
    if (row.duplicates > 0) return { kind: "duplicate", id, stale: row.stale === 1 };
    if (stale) return { kind: "stale", id };

    const moved =
      task === null
        ? this.#sql.exec<TaskRow>(
            `INSERT INTO task (task_id, task_type, model, status, progress, created_at, updated_at, base_url)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
            event.taskId,
            event.taskType,
            event.model,
            event.status,
            event.progress,
            now,
            now,
            baseUrl,
          )
        : this.#sql.exec<TaskRow>(
            `UPDATE task SET status = ?, progress = ?, updated_at = ?, base_url = ?,
               task_type = CASE WHEN ? = 'unknown' THEN task_type ELSE ? END
             RETURNING *`,
            event.status,
            event.progress,
            now,
            baseUrl,
            event.taskType,
            event.taskType,
          );
    return { kind: "current", id, task: moved.one() };
  }

  /** One event, whole. */
  get(id: string): EventRow | null {
    return this.#sql.exec<EventRow>("SELECT * FROM events WHERE id = ?", id).toArray()[0] ?? null;
  }

  /** Every event in the order received, without its bodies. */
  list(): EventSummary[] {
    return this.#sql.exec<EventSummary>(`SELECT ${SUMMARY} FROM events ORDER BY seq`).toArray();
  }

  /** The events in the outbox in `state`, oldest first. */
  inOutbox(state: "waiting" | "released"): EventSummary[] {
    return this.#sql
      .exec<EventSummary>(
        `SELECT ${SUMMARY} FROM events WHERE forward_state = ? ORDER BY seq`,
        state,
      )
      .toArray();
  }

  markReleased(id: string): void {
    this.#sql.exec("UPDATE events SET forward_state = 'released' WHERE id = ?", id);
  }
}
