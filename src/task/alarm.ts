// The task's alarm as a mechanism: the one place its time is set. A run sets a watchdog alarm
// before any work (should the isolate die mid-run), runs each step on its own so one failing
// step does not stop the others, and leaves the next alarm behind. A part of the task whose step
// keeps failing waits longer each time; the other parts keep their own times. Runs and erasures
// take turns, never overlapping.
import { doublingDelayMs } from "../lib/backoff";
import { errorText } from "../lib/errors";

/**
 * The alarm set before any work, in case the run never finishes (the isolate dies): the run
 * replaces it when it ends, however long it took, as does any call that schedules meanwhile
 * (which leaves an alarm set as well), so it only ever fires after a crash.
 */
const WATCHDOG_MS = 2 * 60_000;
/** After a part's step failed: 5 s, doubling to 5 minutes while it keeps failing. */
const RETRY_FIRST_MS = 5_000;
const RETRY_CAP_MS = 5 * 60_000;

/** The parts of a task that the alarm works for, each with its own due time and backoff. */
export type AlarmPart =
  | "reconcile"
  | "images"
  | "outbox"
  | "holds"
  | "dead-letters"
  | "index"
  | "erasure";

/** One step of an alarm run: the part it works for, what it does (for the log), and the work. */
export type AlarmStep = [AlarmPart, string, () => unknown];

/** What the alarm needs of the object's storage. */
export type AlarmStorage = Pick<DurableObjectStorage, "setAlarm" | "deleteAlarm">;

export class TaskAlarm {
  readonly #storage: AlarmStorage;
  /**
   * Each failing part: how many runs in a row its step failed, and the time before which it is
   * not tried again (in memory: a restart tries at once, and starts counting again).
   */
  readonly #failing = new Map<AlarmPart, { failures: number; notBefore: number }>();
  /** The alarm time this instance last set (null: none), or undefined when it cannot know. */
  #current: number | null | undefined;
  #exclusive: Promise<unknown> = Promise.resolve();

  constructor(storage: AlarmStorage) {
    this.#storage = storage;
  }

  /**
   * The alarm fired (and is no longer set), or something else set or removed it (erasing the
   * storage): the next schedule sets it whatever it was.
   */
  forget(): void {
    this.#current = undefined;
  }

  /**
   * Sets the watchdog alarm before work that must end with an alarm set (or cleared on purpose),
   * should the isolate die during it.
   */
  guard(): Promise<void> {
    return this.#set(Date.now() + WATCHDOG_MS);
  }

  /**
   * Runs `steps` in order, each on its own, and counts each part's failures for its backoff;
   * stops before the next step once `stop` says so.
   */
  async run(taskId: string, steps: readonly AlarmStep[], stop = () => false): Promise<void> {
    await this.guard();
    const failed = new Set<AlarmPart>();
    for (const [part, step, work] of steps) {
      if (stop()) break;
      try {
        await work();
      } catch (err) {
        failed.add(part);
        console.error(`task ${taskId}: ${step} failed; the alarm tries again`, errorText(err));
      }
    }
    for (const part of new Set(steps.map(([part]) => part))) this.settle(part, !failed.has(part));
  }

  /**
   * Counts a part's work (a run's steps, or an erasure attempt) that succeeded or failed; a
   * failure puts the part's next try off from now, and later schedules keep that time.
   */
  settle(part: AlarmPart, succeeded: boolean): void {
    if (succeeded) {
      this.#failing.delete(part);
      return;
    }
    const failures = (this.#failing.get(part)?.failures ?? 0) + 1;
    const notBefore = Date.now() + doublingDelayMs(failures, RETRY_FIRST_MS, RETRY_CAP_MS);
    this.#failing.set(part, { failures, notBefore });
  }

  /**
   * Sets the alarm for the earliest time any part is due (a failing part no sooner than its
   * backoff allows), or clears it when none is; leaves it alone when that is already set.
   */
  schedule(times: Readonly<Record<AlarmPart, number | null>>): void {
    const next = this.#earliest(times);
    void this.#set(Number.isFinite(next) ? next : null);
  }

  /** Whether this instance knows an alarm to be set (see bringForward). */
  isSet(): boolean {
    return typeof this.#current === "number";
  }

  /**
   * Moves the alarm this instance set sooner when one of `times` (the parts a caller knows may
   * have become due sooner) is earlier, with the same backoff as schedule; never later. The
   * other parts keep the time they had.
   */
  bringForward(times: Readonly<Partial<Record<AlarmPart, number | null>>>): void {
    const next = this.#earliest(times);
    if (typeof this.#current === "number" && next < this.#current) void this.#set(next);
  }

  /** The earliest of `times`, each failing part no sooner than its backoff allows; Infinity if none. */
  #earliest(times: Readonly<Partial<Record<AlarmPart, number | null>>>): number {
    let next = Number.POSITIVE_INFINITY;
    for (const [part, time] of Object.entries(times) as Array<[AlarmPart, number | null]>) {
      if (time === null) continue;
      next = Math.min(next, Math.max(time, this.#failing.get(part)?.notBefore ?? time));
    }
    return next;
  }

  /** Runs `work` after the run or erasure in progress, if any. */
  oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(work, work);
    this.#exclusive = run.catch(() => {});
    return run;
  }

  /**
   * Sets (or, for null, removes) the alarm unless it is set so already. Callers need not wait:
   * the object's output gate holds every reply until the write is durable.
   */
  #set(time: number | null): Promise<void> {
    if (time === this.#current) return Promise.resolve();
    this.#current = time;
    const write = time === null ? this.#storage.deleteAlarm() : this.#storage.setAlarm(time);
    return write.catch((err: unknown) => {
      this.#current = undefined;
      console.error("setting the task's alarm failed", errorText(err));
    });
  }
}
