// DeadLetterLog: the one Durable Object that lists failed deliveries across all tasks, so that
// `GET /v1/dead-letters` can page through them. Each task's TaskObject stays the source of
// truth for the delivery itself; this is the index.
import { DurableObject } from "cloudflare:workers";
import type { DeadLetter, DeadLetterInfo, DeadLetterPage } from "./contract";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dead_letters (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- paging order (cursor)
  id           TEXT NOT NULL UNIQUE,               -- dlq_<32 hex>
  task_id      TEXT NOT NULL,
  event        TEXT NOT NULL,
  subscription TEXT NOT NULL,
  attempts     INTEGER NOT NULL,
  last_status  INTEGER,
  last_error   TEXT,
  failed_at    TEXT NOT NULL,
  UNIQUE (event, subscription)
);
CREATE INDEX IF NOT EXISTS dead_letters_by_task ON dead_letters (task_id);
`;

export class DeadLetterLog extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  /** Lists a failed delivery (once per event and subscription; a repeat updates it). */
  add(info: DeadLetterInfo): string {
    const id = `dlq_${crypto.randomUUID().replaceAll("-", "")}`;
    this.sql.exec(
      `INSERT INTO dead_letters (id, task_id, event, subscription, attempts, last_status, last_error, failed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (event, subscription) DO UPDATE SET attempts = excluded.attempts,
         last_status = excluded.last_status, last_error = excluded.last_error,
         failed_at = excluded.failed_at`,
      id,
      info.task_id,
      info.event,
      info.subscription,
      info.attempts,
      info.last_status,
      info.last_error,
      info.failed_at,
    );
    return this.sql
      .exec<{ id: string }>(
        "SELECT id FROM dead_letters WHERE event = ? AND subscription = ?",
        info.event,
        info.subscription,
      )
      .one().id;
  }

  /** A page of dead letters, oldest first, after `cursor`. */
  list(cursor: number, limit: number): DeadLetterPage {
    const rows = this.sql
      .exec<DeadLetter & { seq: number }>(
        "SELECT * FROM dead_letters WHERE seq > ? ORDER BY seq LIMIT ?",
        cursor,
        limit + 1,
      )
      .toArray();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(({ seq: _seq, ...item }) => item),
      next_cursor: rows.length > limit && last ? String(last.seq) : null,
    };
  }

  get(id: string): DeadLetter | null {
    const row = this.sql
      .exec<DeadLetter & { seq: number }>("SELECT * FROM dead_letters WHERE id = ?", id)
      .toArray()[0];
    if (!row) return null;
    const { seq: _seq, ...item } = row;
    return item;
  }

  /** Drops the entries of deliveries that started a new attempt series. */
  remove(deliveries: Array<{ event: string; subscription: string }>): void {
    for (const d of deliveries) {
      this.sql.exec(
        "DELETE FROM dead_letters WHERE event = ? AND subscription = ?",
        d.event,
        d.subscription,
      );
    }
  }

  /** Drops every entry of an erased task. */
  removeTask(taskId: string): void {
    this.sql.exec("DELETE FROM dead_letters WHERE task_id = ?", taskId);
  }
}
