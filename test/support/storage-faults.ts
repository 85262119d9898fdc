// Making a task's own storage refuse a write, from a test: what a write failing part way through
// an event's recording looks like to the code under test.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { taskObject } from "../../src/bindings";

/**
 * Makes every update of the task's row fail (a SQLite trigger aborts it with "simulated
 * failure") until `allowTaskUpdates`. The row must exist: the task's first event inserts it.
 */
export async function refuseTaskUpdates(taskId: string): Promise<void> {
  await runInDurableObject(taskObject(env, taskId), (_, state) => {
    state.storage.sql.exec(
      "CREATE TRIGGER fail_task_update BEFORE UPDATE ON task BEGIN SELECT RAISE(ABORT, 'simulated failure'); END",
    );
  });
}

/** Undoes refuseTaskUpdates. */
export async function allowTaskUpdates(taskId: string): Promise<void> {
  await runInDurableObject(taskObject(env, taskId), (_, state) => {
    state.storage.sql.exec("DROP TRIGGER fail_task_update");
  });
}
