// The retention sweep (a Cron Trigger): a task erases itself with its own alarm, set from
// RETENTION_DAYS when the task last did anything. A task asleep since the setting was set, or
// shortened, has no alarm for it, or one too late. The sweep goes through the tasks in the index
// last updated before the limit, the oldest first, a batch at a time, and asks each to set its
// alarm again from the setting as it is now: each then erases itself when it is due, at once or
// later (a delivery finished after its last event). Where the sweep stopped is kept (see
// ./task-index/sweep-position), so a task not yet due never holds up the tasks behind it.
import { taskObject } from "./bindings";
import { retentionDays } from "./config";
import { errorText } from "./lib/errors";
import { retentionCutoff } from "./task/retention-policy";
import { listUpdatedBefore } from "./task-index/store";
import { readSweepPosition, saveSweepPosition } from "./task-index/sweep-position";

/**
 * Tasks asked per sweep: one RPC each, plus three D1 queries, within the 50 subrequests one
 * invocation may make on every plan. At a sweep every 5 minutes (wrangler.toml), 11,520 a day.
 */
export const SWEEP_BATCH = 40;

/** Asks the next `batch` tasks that may be due for erasure to set their alarm again. */
export async function sweepRetention(env: Env, now: number, batch = SWEEP_BATCH): Promise<void> {
  const days = retentionDays(env);
  if (days === null) return;
  const after = await readSweepPosition(env.INDEX, days).catch((err: unknown) => {
    // Without its place (migration 0003 not applied: `npm run deploy` applies it), the sweep
    // still works, from the oldest task each time.
    console.error(
      "retention sweep: its place cannot be read; starting from the oldest",
      errorText(err),
    );
    return null;
  });
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
  await saveSweepPosition(env.INDEX, days, last ?? null).catch((err: unknown) => {
    console.error("retention sweep: its place cannot be kept", errorText(err));
  });
}
