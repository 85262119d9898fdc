// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// and later its images and deliveries. Every method runs synchronously against SQLite, so
// concurrent deliveries to the same task are serialized by the object itself.
import { DurableObject } from "cloudflare:workers";
import {
  eventIdentity,
  eventTypeOf,
  isStale,
  type TaskEvent,
  type TaskStatus,
} from "./goapi/events";
import { TASK_SCHEMA } from "./task-schema";

/** What `recordEvent` tells the ingest route. */
export interface RecordResult {
  event: string;
  duplicate: boolean;
  stale: boolean;
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
    type: string;
    status: TaskStatus;
    progress: number;
    received_at: string;
    duplicates: number;
    stale: boolean;
  }>;
  images: unknown[];
  deliveries: unknown[];
}

type TaskRow = {
  task_id: string;
  task_type: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
};

export class TaskObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(TASK_SCHEMA);
  }

  /**
   * Records one delivery. A delivery whose identity was seen before only bumps that event's
   * duplicate count; a new one that would move the task backwards is kept but marked stale.
   * Resolves after the write is durable (the output gate holds the reply until then).
   */
  recordEvent(event: TaskEvent, payload: string): RecordResult {
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
      `INSERT INTO events (id, identity, type, status, progress, stale, received_at, event, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      identity,
      eventTypeOf(event.status),
      event.status,
      event.progress,
      stale ? 1 : 0,
      now,
      JSON.stringify(event),
      payload,
    );
    if (task === null) {
      this.sql.exec(
        `INSERT INTO task (task_id, task_type, model, status, progress, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        event.taskId,
        event.taskType,
        event.model,
        event.status,
        event.progress,
        now,
        now,
      );
    } else if (!stale) {
      this.sql.exec(
        `UPDATE task SET status = ?, progress = ?, updated_at = ?,
           task_type = CASE WHEN ? = 'unknown' THEN task_type ELSE ? END`,
        event.status,
        event.progress,
        now,
        event.taskType,
        event.taskType,
      );
    }
    return { event: id, duplicate: false, stale };
  }

  /** The task with its events, or null when no delivery for it was ever recorded. */
  getTask(): TaskView | null {
    const task = this.task();
    if (task === null) return null;
    const events = this.sql
      .exec<{
        id: string;
        type: string;
        status: TaskStatus;
        progress: number;
        received_at: string;
        duplicates: number;
        stale: number;
      }>(
        "SELECT id, type, status, progress, received_at, duplicates, stale FROM events ORDER BY seq",
      )
      .toArray()
      .map((row) => ({ ...row, stale: row.stale === 1 }));
    return { ...task, events, images: [], deliveries: [] };
  }

  private task(): TaskRow | null {
    return (
      this.sql
        .exec<TaskRow>(
          "SELECT task_id, task_type, status, progress, created_at, updated_at FROM task",
        )
        .toArray()[0] ?? null
    );
  }
}
