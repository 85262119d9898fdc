// The retention sweep (a Cron Trigger): a task erases itself with its own alarm, set from
// RETENTION_DAYS when the task last did anything. A task asleep since the setting was set, or
// shortened, has no alarm for it, or one too late. The sweep goes through the tasks in the index
// last updated before the limit, the oldest first, a batch at a time, and asks each to set its
// alarm again from the setting as it is now. Where it stopped is kept in D1 (retention_sweep in
// migrations/), so a task asked once, but not due (a delivery finished later), is passed over
// until the next pass, and never holds up the tasks behind it.
import { taskObject } from "./bindings";
import { retentionDays } from "./config";
import { errorText } from "./lib/errors";
import { retentionCutoff } from "./task/retention-policy";
import type { ListPosition } from "./task-index/cursor";
import { listUpdatedBefore } from "./task-index/store";

/**
 * Tasks asked per sweep: one RPC each, within the subrequests one invocation may make on every
 * plan. At a sweep every 5 minutes (wrangler.toml), 11,520 tasks a day.
 */
export const SWEEP_BATCH = 40;

/** Asks the next `batch` tasks that may be due for erasure to set their alarm again. */
export async function sweepRetention(env: Env, now: number, batch = SWEEP_BATCH): Promise<void> {
  const days = retentionDays(env);
  if (days === null) return;
  const after = await readPosition(env.INDEX, days);
  const tasks = await listUpdatedBefore(env.INDEX, retentionCutoff(now, days), after, batch);
  const asked = await Promise.allSettled(
    tasks.map((task) => taskObject(env, task.task_id).reschedule()),
  );
  const failed = asked.flatMap((result, i) =>
    result.status === "rejected" ? [`${tasks[i]?.task_id}: ${errorText(result.reason)}`] : [],
  );
  if (failed.length > 0) {
    console.error("retention sweep: tasks not reached; the next pass asks again", failed);
  }
  // A short batch ends the pass: the next sweep starts again from the oldest task.
  const last = tasks.length < batch ? undefined : tasks.at(-1);
  await savePosition(env.INDEX, days, last ?? null);
}

/** Where the pass under `days` stopped; null to start from the oldest task. */
async function readPosition(db: D1Database, days: number): Promise<ListPosition | null> {
  return db
    .prepare("SELECT updated_at, task_id FROM retention_sweep WHERE id = 1 AND days = ?")
    .bind(days)
    .first<ListPosition>();
}

async function savePosition(db: D1Database, days: number, at: ListPosition | null): Promise<void> {
  if (at === null) {
    await db.prepare("DELETE FROM retention_sweep").run();
    return;
  }
  await db
    .prepare(
      `INSERT INTO retention_sweep (id, days, updated_at, task_id) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at,
         task_id = excluded.task_id`,
    )
    .bind(days, at.updated_at, at.task_id)
    .run();
}
