// A task whose alarm waits far off, so that a test can see what one new event brings forward.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { taskObject } from "../../src/bindings";
import { runAlarmNow } from "./alarm";
import { eventually } from "./network";

const MINUTE = 60_000;

/** The task's alarm time, read inside its object (no alarm can run in between). */
export function alarmOf(taskId: string): Promise<number | null> {
  return runInDurableObject(taskObject(env, taskId), (_, state) => state.storage.getAlarm());
}

/**
 * Waits until the task's first alarm run wrote its index row, then makes everything that could
 * set its alarm soon wait: unless `holdIndex` is false, the index row is not to be written
 * again for an hour; with `polls`, that many polls in a row were just made (the next one waits
 * 2^polls times RECONCILE_AFTER_SECONDS). Runs the alarm (see runAlarmNow), which sets it for
 * the earliest of those, and returns that time. For a task with nothing to deliver
 * (SUBSCRIPTIONS empty): a delivery in flight would set the alarm sooner.
 */
export async function quietTask(
  taskId: string,
  { polls = 0, holdIndex = true }: { polls?: number; holdIndex?: boolean } = {},
): Promise<number> {
  await eventually(() =>
    runInDurableObject(taskObject(env, taskId), (_, state) => {
      const row = state.storage.sql
        .exec<{ written: string | null }>(
          "SELECT written FROM index_sync WHERE dirty_since IS NULL",
        )
        .toArray()[0];
      return row?.written ? true : undefined;
    }),
  );
  await runAlarmNow(taskObject(env, taskId), (state) => {
    const now = Date.now();
    if (holdIndex) {
      state.storage.sql.exec("UPDATE index_sync SET written_at = ?", now + 60 * MINUTE);
    }
    if (polls > 0) {
      state.storage.sql.exec(
        "INSERT INTO reconcile (id, polls, streak, last_poll_at) VALUES (1, ?, ?, ?)",
        polls,
        polls,
        now,
      );
    }
  });
  const at = await alarmOf(taskId);
  if (at === null) throw new Error(`task ${taskId} has no alarm left`);
  return at;
}
