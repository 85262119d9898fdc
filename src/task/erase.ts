// Erasing a task (DELETE /v1/tasks/{id}, or RETENTION_DAYS after its last activity). Inside the
// object it happens at once: its rows go, its pending deliveries with them, so nothing is copied,
// queued or listed any more. Outside, its R2 objects, its index row and its dead letters go next,
// and last the object's storage itself. Until then a row in `erasure` keeps the task id, and the
// alarm tries again. An event GoAPI delivers meanwhile starts the task afresh and is kept.
import { deadLetterLog } from "../bindings";
import { retentionDays } from "../config";
import { imageKey } from "../images/sources";
import { errorText } from "../lib/errors";
import type { TaskAlarm } from "./alarm";
import type { TaskDeliveries } from "./deliveries";
import type { TaskEvents } from "./events";
import type { TaskIndexSync } from "./index-sync";
import type { TaskLive } from "./live";
import { migrate } from "./migrations";
import { retentionEraseAt, type TaskActivity } from "./retention-policy";
import type { TaskRow } from "./schema";

/** The other parts of the task an erasure works with. */
interface ErasureParts {
  events: TaskEvents;
  deliveries: TaskDeliveries;
  index: TaskIndexSync;
  alarm: TaskAlarm;
  live: TaskLive;
}

/** R2 deletes at most 1,000 keys per call; list pages are as large. */
const R2_PAGE = 1000;

export class TaskErasure {
  readonly #storage: DurableObjectStorage;
  readonly #env: Env;
  readonly #parts: ErasureParts;
  /** Whether an erasure is under way (read once; it changes only through this object). */
  #pending: boolean;

  constructor(storage: DurableObjectStorage, env: Env, parts: ErasureParts) {
    this.#storage = storage;
    this.#env = env;
    this.#parts = parts;
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
  dueAt(task: TaskRow | null, now: number): number | null {
    if (this.#pending) return now;
    const days = retentionDays(this.#env);
    if (days === null || task === null) return null;
    return retentionEraseAt(this.#activity(task), days);
  }

  /** Whether the alarm must erase now. */
  isDue(task: TaskRow | null, now: number): boolean {
    const at = this.dueAt(task, now);
    return at !== null && at <= now;
  }

  /** What RETENTION_DAYS looks at (see retentionEraseAt). */
  #activity(task: TaskRow): TaskActivity {
    const deliveries = this.#parts.deliveries.progress();
    return {
      updatedAt: task.updated_at,
      lastFinishedAt: deliveries.lastFinishedAt,
      inFlight: deliveries.pending || this.#parts.events.inOutbox("waiting").length > 0,
    };
  }

  /**
   * One attempt at erasing the task: its rows now (unless that began earlier: a task here then
   * was recorded since, and is kept), then what it has outside the object and its storage, under
   * the watchdog alarm. On failure the alarm tries again with backoff (`reschedule` sets it).
   * Whether this attempt finished.
   */
  async attempt(reschedule: () => void): Promise<boolean> {
    const { alarm } = this.#parts;
    const current = this.#pending ? null : this.#parts.events.task();
    if (current !== null) this.begin(current.task_id);
    try {
      await alarm.guard();
      const outcome = await this.#finish();
      alarm.forget();
      alarm.settle("erasure", true);
      if (outcome === "kept") reschedule();
      return true;
    } catch (err) {
      alarm.settle("erasure", false);
      console.error("erasing the task failed; the alarm tries again", errorText(err));
      // #finish() may have removed the alarm before it failed.
      alarm.forget();
      reschedule();
      return false;
    }
  }

  /**
   * Removes every row of the task in one synchronous write, pending deliveries included, and
   * keeps its id for what is left outside; open console pages are told.
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
    this.#parts.live.erased(taskId);
  }

  /**
   * Removes what the task has outside the object (every R2 object under its prefix, its index
   * row, its dead letters), then the object's storage and alarm. Throws if a step fails; every
   * step may run again. A delivery from GoAPI recorded while this awaited R2 or D1 was answered
   * 200, so it is kept: then only the erasure's own row goes ("kept"), and the task lives on
   * from that event.
   */
  async #finish(): Promise<"erased" | "kept"> {
    const ids = this.#storage.sql
      .exec<{ task_id: string }>("SELECT DISTINCT task_id FROM erasure")
      .toArray()
      .map((row) => row.task_id);
    for (const taskId of ids) {
      await deleteImages(this.#env.IMAGES, taskId);
      await this.#parts.index.erase(taskId);
      await deadLetterLog(this.#env).removeTask(taskId);
    }
    // No other call runs between this read and the storage calls (the input gate holds them).
    if (this.#storage.sql.exec("SELECT 1 FROM task").toArray().length > 0) {
      this.#storage.sql.exec("DELETE FROM erasure");
      this.#pending = false;
      return "kept";
    }
    // Until this succeeds the erasure stays pending, and the alarm tries again.
    await this.#storage.deleteAll();
    // The task is gone, erasure row included. This instance may be asked about the task id
    // again (a late redelivery records it afresh): it needs its tables before anything else.
    migrate(this.#storage.sql);
    this.#pending = false;
    // deleteAll() removes the alarm too at this compatibility date; this makes sure of it. Should
    // it fail, the task is erased all the same: an alarm left behind finds nothing to do.
    await this.#storage.deleteAlarm().catch((err: unknown) => {
      console.error("removing an erased task's alarm failed", errorText(err));
    });
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
