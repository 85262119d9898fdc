// When a task erases itself under RETENTION_DAYS (pure: no I/O, no clock).

const DAY_MS = 24 * 60 * 60 * 1000;

/** What retention looks at: the task's last update, its last finished delivery, and whether
 * anything (an event in the outbox, a delivery) is still on its way. */
export interface TaskActivity {
  /** ISO time of the task's last event. */
  updatedAt: string;
  /** ISO time the last of its deliveries was delivered or failed, or null. */
  lastFinishedAt: string | null;
  /** An event waits in the outbox or a delivery is pending (held ones included). */
  inFlight: boolean;
}

/**
 * When a task erases itself, keeping `days` days after its last activity (its last event or
 * the last of its deliveries to finish, so a dead letter is listed for `days` days too); null
 * while anything is still on its way: a task is never erased with a delivery pending.
 */
export function retentionEraseAt(activity: TaskActivity, days: number): number | null {
  if (activity.inFlight) return null;
  const times = [activity.updatedAt, activity.lastFinishedAt]
    .map((t) => (t === null ? Number.NaN : Date.parse(t)))
    .filter(Number.isFinite);
  return (times.length > 0 ? Math.max(...times) : 0) + days * DAY_MS;
}

/**
 * The last-update time before which a task may be due for erasure under `days`, as an ISO time
 * (the index's form): a task updated since cannot be, as its last activity is later still.
 */
export function retentionCutoff(now: number, days: number): string {
  return new Date(now - days * DAY_MS).toISOString();
}
