// When a task writes its row to the cross-task index, and which version that write carries (pure:
// no I/O, no clock).

/**
 * A change waits this long for the changes that follow it (a burst of progress events, GoAPI's
 * redeliveries) so that they all go out in one write.
 */
export const INDEX_SETTLE_MS = 1_000;

/**
 * At most one write per task this often until it is finished: progress events that come faster
 * share a write. Under 5 s, so that the index is never more than about 5 s behind the task's
 * last event. A finished task's change is written at once (see indexWriteAt).
 */
export const INDEX_MIN_INTERVAL_MS = 4_000;

/**
 * When the task's index row must be written: null while it is up to date; for a `terminal` task,
 * at its first unwritten change (at `dirtySince`), as no burst follows a task's end (only its
 * images being stored, the main one giving the row its thumbnail); otherwise that change plus the settle time, but not sooner
 * than the minimum interval after the last write (at `writtenAt`, 0 for never).
 */
export function indexWriteAt(
  dirtySince: number | null,
  writtenAt: number,
  terminal: boolean,
): number | null {
  if (dirtySince === null) return null;
  if (terminal) return dirtySince;
  return Math.max(dirtySince + INDEX_SETTLE_MS, writtenAt + INDEX_MIN_INTERVAL_MS);
}

/**
 * The version of the next write: above every earlier one, and above any the task could have
 * written before it was erased and recorded again (the clock), so that a late write never wins.
 */
export function nextIndexVersion(previous: number, now: number): number {
  return Math.max(previous + 1, now);
}
