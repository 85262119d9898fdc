// Keeping a task's row in the cross-task index (D1) in step with the task: off the ingest's path.
// A new event only marks the row dirty (one small SQLite write); the alarm writes it once the
// changes have settled, at most every few seconds, or at once for a finished task (see
// ../task-index/policy), so a burst of progress events costs one D1 write. A failed write stays
// dirty and the alarm tries again.
import type { TaskIndexEntry } from "../contract";
import { isTerminal } from "../goapi/events";
import { indexWriteAt, nextIndexVersion } from "../task-index/policy";
import { deleteIndexEntry, upsertIndexEntry } from "../task-index/store";
import type { ImageRow, IndexSyncRow, TaskRow } from "./schema";

/** The row the index should hold for `task`: the list's fields and the main image, once stored. */
function indexEntry(task: TaskRow, main: Pick<ImageRow, "name"> | null): TaskIndexEntry {
  return {
    task_id: task.task_id,
    task_type: task.task_type,
    status: task.status,
    progress: task.progress,
    created_at: task.created_at,
    updated_at: task.updated_at,
    base_url: task.base_url,
    thumbnail: main === null ? null : main.name,
  };
}

export class TaskIndexSync {
  readonly #sql: SqlStorage;
  readonly #db: D1Database;

  constructor(sql: SqlStorage, db: D1Database) {
    this.#sql = sql;
    this.#db = db;
  }

  /**
   * The task changed in a way the list shows (a new event): the row is due to be written. Writes
   * nothing when it is due already (the first change of a burst sets the time).
   */
  touch(now: number): void {
    this.#sql.exec(
      "UPDATE index_sync SET dirty_since = ? WHERE id = 1 AND dirty_since IS NULL",
      now,
    );
  }

  /** When the row must be written next, or null while the index is up to date. */
  nextWriteAt(task: TaskRow | null): number | null {
    const state = this.#state();
    if (state === null) return null;
    return indexWriteAt(
      state.dirty_since,
      state.written_at,
      task !== null && isTerminal(task.status),
    );
  }

  /**
   * Writes the task's row if it differs from what was written last and the write is due. A
   * change no event announced (the main image stored) is found here, by that comparison. The
   * row is read now, not earlier in the alarm run: an event may have arrived meanwhile. Throws
   * when the write fails: the row stays dirty and the alarm tries again.
   */
  async writeDue(now: number): Promise<void> {
    const state = this.#state();
    const entry = this.#entry();
    if (state === null || entry === null) return;
    const json = JSON.stringify(entry);
    if (state.written === json) {
      if (state.dirty_since !== null) {
        this.#sql.exec("UPDATE index_sync SET dirty_since = NULL WHERE id = 1");
      }
      return;
    }
    const dirtySince = state.dirty_since ?? now;
    const due = indexWriteAt(dirtySince, state.written_at, isTerminal(entry.status)) ?? now;
    if (due > now) {
      this.touch(dirtySince);
      return;
    }
    // Clean before the write: a change that arrives during it marks the row dirty again.
    const version = nextIndexVersion(state.version, now);
    this.#sql.exec("UPDATE index_sync SET dirty_since = NULL, version = ? WHERE id = 1", version);
    try {
      await upsertIndexEntry(this.#db, entry, version);
    } catch (err) {
      this.#sql.exec(
        "UPDATE index_sync SET dirty_since = COALESCE(MIN(dirty_since, ?), ?) WHERE id = 1",
        dirtySince,
        dirtySince,
      );
      throw err;
    }
    this.#sql.exec("UPDATE index_sync SET written = ?, written_at = ? WHERE id = 1", json, now);
  }

  /** Removes the task's row from the index (an erased task). */
  async erase(taskId: string): Promise<void> {
    await deleteIndexEntry(this.#db, taskId);
  }

  /** The row the index should hold now, or null before the task's first event. */
  #entry(): TaskIndexEntry | null {
    const task = this.#sql.exec<TaskRow>("SELECT * FROM task").toArray()[0];
    if (task === undefined) return null;
    const main = this.#sql
      .exec<Pick<ImageRow, "name">>(
        "SELECT name FROM images WHERE slot = 'main' AND state = 'stored'",
      )
      .toArray()[0];
    return indexEntry(task, main ?? null);
  }

  #state(): IndexSyncRow | null {
    return (
      this.#sql
        .exec<IndexSyncRow>(
          "SELECT dirty_since, written, written_at, version FROM index_sync WHERE id = 1",
        )
        .toArray()[0] ?? null
    );
  }
}
