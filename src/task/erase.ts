// Erasing a task (DELETE /v1/tasks/{id}, or RETENTION_DAYS after its last activity). Inside the
// object it happens at once: its rows go, its pending deliveries with them, so nothing is copied,
// queued or listed any more. Outside, its R2 objects, its index row and its dead letters go next,
// and last the object's storage itself. Until then a row in `erasure` keeps the task id, and the
// alarm tries again. An event GoAPI delivers meanwhile starts the task afresh and is kept.
import { deadLetterLog } from "../bindings";
import { retentionDays } from "../config";
import { imageKey } from "../images/sources";
import type { TaskIndexSync } from "./index-sync";
import { retentionEraseAt, type TaskActivity } from "./retention-policy";
import { migrate } from "./schema";

/** R2 deletes at most 1,000 keys per call; list pages are as large. */
const R2_PAGE = 1000;

export class TaskErasure {
  readonly #storage: DurableObjectStorage;
  readonly #env: Env;
  readonly #index: TaskIndexSync;
  /** Whether an erasure is under way (read once; it changes only through this object). */
  #pending: boolean;

  constructor(storage: DurableObjectStorage, env: Env, index: TaskIndexSync) {
    this.#storage = storage;
    this.#env = env;
    this.#index = index;
    this.#pending =
      storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM erasure").one().n > 0;
  }

  pending(): boolean {
    return this.#pending;
  }

  /**
   * When the alarm must erase: now while an erasure is under way; when RETENTION_DAYS is set,
   * that many days after the task's last activity (read only then; null before the first
   * event), see retentionEraseAt; else never (null).
   */
  dueAt(activity: () => TaskActivity | null, now: number): number | null {
    if (this.#pending) return now;
    const days = retentionDays(this.#env);
    if (days === null) return null;
    const current = activity();
    return current === null ? null : retentionEraseAt(current, days);
  }

  /** Whether the alarm must erase now. */
  isDue(activity: () => TaskActivity | null, now: number): boolean {
    const at = this.dueAt(activity, now);
    return at !== null && at <= now;
  }

  /**
   * Removes every row of the task in one synchronous write, pending deliveries included, and
   * keeps its id for what is left outside.
   */
  begin(taskId: string): void {
    this.#storage.sql.exec(
      `DELETE FROM deliveries; DELETE FROM images; DELETE FROM events; DELETE FROM task;
       DELETE FROM reconcile;
       UPDATE index_sync SET dirty_since = NULL`,
    );
    this.#storage.sql.exec(
      "INSERT INTO erasure (task_id, started_at) VALUES (?, ?)",
      taskId,
      new Date().toISOString(),
    );
    this.#pending = true;
  }

  /**
   * Removes what the task has outside the object (every R2 object under its prefix, its index
   * row, its dead letters), then the object's storage and alarm. Throws if a step fails; every
   * step may run again. A delivery from GoAPI recorded while this awaited R2 or D1 was answered
   * 200, so it is kept: then only the erasure's own row goes ("kept"), and the task lives on
   * from that event.
   */
  async finish(): Promise<"erased" | "kept"> {
    const ids = this.#storage.sql
      .exec<{ task_id: string }>("SELECT DISTINCT task_id FROM erasure")
      .toArray()
      .map((row) => row.task_id);
    for (const taskId of ids) {
      await deleteImages(this.#env.IMAGES, taskId);
      await this.#index.erase(taskId);
      await deadLetterLog(this.#env).removeTask(taskId);
    }
    // No other call runs between this read and the storage calls (the input gate holds them).
    if (this.#storage.sql.exec("SELECT 1 FROM task").toArray().length > 0) {
      this.#storage.sql.exec("DELETE FROM erasure");
      this.#pending = false;
      return "kept";
    }
    await this.#storage.deleteAlarm();
    await this.#storage.deleteAll();
    // Pending until here: should the storage calls fail, the alarm is set to try again.
    this.#pending = false;
    // This instance may be asked about the task id again (a late redelivery records it afresh).
    migrate(this.#storage.sql);
    return "erased";
  }
}

/** Deletes every R2 object of the task (`tasks/{task_id}/...`), a page at a time. */
async function deleteImages(bucket: R2Bucket, taskId: string): Promise<void> {
  const prefix = imageKey(taskId, "");
  for (;;) {
    const page = await bucket.list({ prefix, limit: R2_PAGE });
    if (page.objects.length > 0) await bucket.delete(page.objects.map((object) => object.key));
    if (!page.truncated) return;
  }
}
