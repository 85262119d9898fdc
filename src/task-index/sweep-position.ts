// Where the retention sweep (../retention-sweep) goes on from: one row in the index's database
// (retention_sweep in migrations/), the last task it asked, oldest first by (updated_at,
// task_id), under the RETENTION_DAYS it was asking for. No row between passes.
import type { ListPosition } from "./cursor";

/** Where the sweep's pass under `days` stopped; null to start from the oldest task. */
export async function readSweepPosition(
  db: D1Database,
  days: number,
): Promise<ListPosition | null> {
  return db
    .prepare("SELECT updated_at, task_id FROM retention_sweep WHERE id = 1 AND days = ?")
    .bind(days)
    .first<ListPosition>();
}

/** Keeps where the pass under `days` stopped; null ends the pass (the next starts over). */
export async function saveSweepPosition(
  db: D1Database,
  days: number,
  at: ListPosition | null,
): Promise<void> {
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
