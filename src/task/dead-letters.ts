// Keeping the dead-letter list (the DeadLetterLog object) in step with a task's deliveries: a
// failed delivery is marked 'add' and a restarted one 'remove' in its row (the deliveries column
// `listing`), and the alarm carries each change over, marking it 'listed' (or clearing it) only
// once the list has it.
import type { DeadLetterInfo, RestartedDelivery } from "../contract";
import type { DeliveryRow } from "./schema";

/** What the task needs of the dead-letter list. */
export interface DeadLetterList {
  add(info: DeadLetterInfo): Promise<unknown>;
  remove(deliveries: RestartedDelivery[]): Promise<unknown>;
}

/**
 * Carries every pending 'add' and 'remove' of the task's deliveries over to `list`; a call that
 * fails stops here and is retried by the next alarm.
 */
export async function syncDeadLetters(
  sql: SqlStorage,
  taskId: string,
  list: DeadLetterList,
): Promise<void> {
  const rows = sql
    .exec<DeliveryRow>("SELECT * FROM deliveries WHERE listing IN ('add', 'remove')")
    .toArray();
  for (const row of rows) {
    if (row.listing === "add") {
      await list.add({
        task_id: taskId,
        event: row.event_id,
        subscription: row.subscription,
        attempts: row.attempts,
        last_status: row.last_status,
        last_error: row.last_error,
        failed_at: row.finished_at ?? new Date().toISOString(),
      });
    } else {
      await list.remove([{ event: row.event_id, subscription: row.subscription }]);
    }
    // Only if nothing changed it meanwhile (a replay while the list was being written).
    sql.exec(
      `UPDATE deliveries SET listing = ? WHERE event_id = ? AND subscription = ? AND listing = ?
         AND series = ?`,
      row.listing === "add" ? "listed" : "none",
      row.event_id,
      row.subscription,
      row.listing,
      row.series,
    );
  }
}
