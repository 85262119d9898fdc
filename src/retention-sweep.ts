// The retention sweep (a Cron Trigger): a task erases itself with its own alarm, set from
// RETENTION_DAYS when the task last did anything. A task asleep since the setting was set, or
// shortened, has no alarm for it, or one too late; the sweep asks the oldest tasks in the index
// to set their alarm again from the setting as it is now. Tasks it has reached erase themselves
// and leave the index, so each sweep reaches the next ones.
import { taskObject } from "./bindings";
import { retentionDays } from "./config";
import { errorText } from "./lib/errors";
import { retentionCutoff } from "./task/retention-policy";
import { listUpdatedBefore } from "./task-index/store";

/**
 * Tasks asked per sweep: one RPC each, within the subrequests one invocation may make on every
 * plan. At a sweep every 5 minutes (wrangler.toml), 14,400 tasks a day.
 */
export const SWEEP_BATCH = 40;

/** Asks the tasks that may be due for erasure under RETENTION_DAYS to set their alarm again. */
export async function sweepRetention(env: Env, now: number): Promise<void> {
  const days = retentionDays(env);
  if (days === null) return;
  const ids = await listUpdatedBefore(env.INDEX, retentionCutoff(now, days), SWEEP_BATCH);
  const asked = await Promise.allSettled(ids.map((id) => taskObject(env, id).reschedule()));
  const failed = asked.flatMap((result, i) =>
    result.status === "rejected" ? [`${ids[i]}: ${errorText(result.reason)}`] : [],
  );
  if (failed.length > 0) {
    console.error("retention sweep: tasks not reached; the next sweep asks again", failed);
  }
}
