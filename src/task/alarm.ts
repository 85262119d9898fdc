// The task's alarm as a mechanism: the one place its time is set. A run sets a watchdog alarm
// before any work (should the isolate die mid-run), runs each step on its own so one failing
// step does not stop the others, and leaves the next alarm behind, later by a growing backoff
// while a step keeps failing. Runs and erasures take turns, never overlapping.
import { doublingDelayMs } from "../lib/backoff";
import { errorText } from "../lib/errors";

/**
 * The alarm set before any work, in case the run never finishes (the isolate dies): the run
 * replaces it when it ends, however long it took, so it only ever fires after a crash.
 */
const WATCHDOG_MS = 2 * 60_000;
/** After a failed alarm run: 5 s, doubling to 5 minutes. */
const RETRY_FIRST_MS = 5_000;
const RETRY_CAP_MS = 5 * 60_000;

/** One step of an alarm run: what it does, for the log, and the work. */
export type AlarmStep = [string, () => unknown];

export class TaskAlarm {
  readonly #storage: DurableObjectStorage;
  /** Runs in a row in which a step failed (in memory: a restart starts again at 1). */
  #failures = 0;
  #exclusive: Promise<unknown> = Promise.resolve();

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /** Runs `steps` in order, each on its own; true when all of them succeeded. */
  async run(taskId: string, steps: readonly AlarmStep[]): Promise<boolean> {
    await this.#storage.setAlarm(Date.now() + WATCHDOG_MS);
    let failed = false;
    for (const [step, work] of steps) {
      try {
        await work();
      } catch (err) {
        failed = true;
        console.error(`task ${taskId}: ${step} failed; the alarm tries again`, errorText(err));
      }
    }
    this.settle(!failed);
    return !failed;
  }

  /** Counts a run (or an erasure attempt) that succeeded or failed, for the backoff. */
  settle(succeeded: boolean): void {
    this.#failures = succeeded ? 0 : this.#failures + 1;
  }

  /** Sets the alarm for the earliest of `times`, or clears it when all are null. */
  schedule(times: ReadonlyArray<number | null>): void {
    const next = Math.min(...times.filter((t): t is number => t !== null));
    if (!Number.isFinite(next)) {
      void this.#storage.deleteAlarm();
      return;
    }
    const backoff =
      this.#failures > 0 ? doublingDelayMs(this.#failures, RETRY_FIRST_MS, RETRY_CAP_MS) : 0;
    void this.#storage.setAlarm(Math.max(next, Date.now() + backoff));
  }

  /** Runs `work` after the run or erasure in progress, if any. */
  oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(work, work);
    this.#exclusive = run.catch(() => {});
    return run;
  }
}
