// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// its archived images and its deliveries. Every RPC method is synchronous SQLite, so concurrent
// deliveries to one task are serialized by the object itself; the alarm does the slow work
// (copying images, queueing deliveries, writing the task's row in the cross-task index) after
// GoAPI has its 200. Console pages watch it through WebSockets (./live), and it erases itself on
// request or after RETENTION_DAYS (./erase).
import { DurableObject } from "cloudflare:workers";
import { deadLetterLog } from "../bindings";
import { publicBaseUrl } from "../config";
import type {
  AttemptOutcome,
  AttemptReport,
  AttemptStart,
  EraseResult,
  RecordResult,
  RedeliverResult,
  TaskView,
} from "../contract";
import type { TaskEvent } from "../goapi/events";
import { doublingDelayMs } from "../lib/backoff";
import { errorText } from "../lib/errors";
import { syncDeadLetters } from "./dead-letters";
import { TaskDeliveries } from "./deliveries";
import { TaskErasure } from "./erase";
import { TaskEvents } from "./events";
import { TaskImages } from "./images";
import { TaskIndexSync } from "./index-sync";
import { TaskLive } from "./live";
import { TaskOutbox } from "./outbox";
import { migrate, type TaskRow } from "./schema";
import { imageViews, storedEvent, taskView } from "./views";

/**
 * The alarm set before any work, in case the run never finishes (the isolate dies): the run
 * replaces it when it ends, however long it took, so it only ever fires after a crash.
 */
const ALARM_WATCHDOG_MS = 2 * 60_000;
/** After a failed alarm run: 5 s, doubling to 5 minutes. */
const ALARM_RETRY_FIRST_MS = 5_000;
const ALARM_RETRY_CAP_MS = 5 * 60_000;

export class TaskObject extends DurableObject<Env> {
  readonly #events: TaskEvents;
  readonly #images: TaskImages;
  readonly #deliveries: TaskDeliveries;
  readonly #outbox: TaskOutbox;
  readonly #index: TaskIndexSync;
  readonly #erasure: TaskErasure;
  readonly #live: TaskLive;
  /**
   * The alarm's run and an erasure's work outside the object, one at a time: an erasure never
   * deletes R2 objects or the index row while an image copy or an index write is in flight.
   */
  #exclusive: Promise<unknown> = Promise.resolve();
  /** Alarm runs in a row in which a step failed (in memory: a restart starts again at 1). */
  #alarmFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql);
    this.#events = new TaskEvents(ctx.storage.sql);
    this.#images = new TaskImages(ctx.storage.sql, env);
    this.#deliveries = new TaskDeliveries(ctx.storage.sql);
    this.#outbox = new TaskOutbox(this.#events, this.#images, this.#deliveries, env);
    this.#index = new TaskIndexSync(ctx.storage.sql, env.INDEX);
    this.#erasure = new TaskErasure(ctx.storage, env, this.#index);
    this.#live = new TaskLive(ctx);
  }

  /**
   * Records one GoAPI delivery (see TaskEvents.record). A new current event gets its delivery
   * rows in this same write (the outbox) unless it has images to copy first, and marks the
   * task's index row dirty; the alarm is set for whatever is left to copy, queue or write.
   * Resolves after the writes are durable (the output gate holds the reply until then).
   */
  recordEvent(event: TaskEvent, payload: string, baseUrl: string): RecordResult {
    const recorded = this.#events.record(event, payload, baseUrl, new Date().toISOString());
    this.#changed();
    if (recorded.kind === "duplicate") {
      return { event: recorded.id, duplicate: true, stale: recorded.stale };
    }
    if (recorded.kind === "stale") return { event: recorded.id, duplicate: false, stale: true };
    const now = Date.now();
    if (event.status === "completed") this.#images.add(event.images, now);
    const task = this.#events.task();
    if (task) this.#outbox.release(task);
    this.#index.touch(now);
    this.#scheduleAlarm();
    return { event: recorded.id, duplicate: false, stale: false };
  }

  /** The task with its events, images and deliveries, or null when nothing was recorded. */
  getTask(): TaskView | null {
    const task = this.#events.task();
    if (task === null) return null;
    return taskView(
      task,
      this.#events.list(),
      this.#imageViews(task),
      this.#deliveries.list(),
      this.#outbox.held(task),
      this.#outbox.configError(),
    );
  }

  /**
   * Copies due images, releases ready events, queues due deliveries, updates the dead-letter
   * list and the task's index row; or erases the task when that is due (or under way). It always
   * leaves an alarm behind while work remains: one set before any work (should the isolate die
   * mid-run), and the real one after, later by a growing backoff while a step keeps failing (a
   * Queues outage, say), so no task waits for ever on an alarm that was dropped.
   */
  override async alarm(): Promise<void> {
    await this.#oneAtATime(() => this.#runAlarm());
  }

  async #runAlarm(): Promise<void> {
    const task = this.#events.task();
    if ((this.#erasure.dueAt(() => task, Date.now()) ?? Number.POSITIVE_INFINITY) <= Date.now()) {
      await this.#eraseOrRetry();
      return;
    }
    if (task === null) return;
    await this.ctx.storage.setAlarm(Date.now() + ALARM_WATCHDOG_MS);
    const steps: Array<[string, () => unknown]> = [
      ["copying images", () => this.#images.copyDue(task.task_id)],
      ["releasing events", () => this.#outbox.release(task)],
      ["queueing deliveries", () => this.#outbox.enqueueDue(task)],
      [
        "updating the dead-letter list",
        () => syncDeadLetters(this.ctx.storage.sql, task.task_id, deadLetterLog(this.env)),
      ],
      ["updating the task index", () => this.#index.writeDue(Date.now())],
    ];
    let failed = false;
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (err) {
        failed = true;
        console.error(
          `task ${task.task_id}: ${step} failed; the alarm tries again`,
          errorText(err),
        );
      }
    }
    this.#alarmFailures = failed ? this.#alarmFailures + 1 : 0;
    this.#scheduleAlarm();
    this.#changed();
  }

  /**
   * Starts an attempt of a queued delivery: the stored event to send, with the delivery's lease
   * taken for `leaseMs`; not due yet (a repeated message); or skip when it is no longer wanted
   * or another attempt holds it.
   */
  beginAttempt(
    eventId: string,
    subscription: string,
    series: number,
    leaseMs: number,
  ): AttemptStart {
    const task = this.#events.task();
    const row = this.#events.get(eventId);
    if (task === null || row === null) return { kind: "skip" };
    const lease = this.#deliveries.lease(eventId, subscription, series, leaseMs);
    if (lease.kind !== "leased") return lease;
    return {
      kind: "send",
      stored: storedEvent(row, this.#imageViews(task)),
      attempt: lease.delivery.attempts + 1,
    };
  }

  /** Records the result of one attempt and says what the queue should do with the message. */
  recordAttempt(
    eventId: string,
    subscription: string,
    series: number,
    report: AttemptReport,
  ): AttemptOutcome {
    const outcome = this.#deliveries.recordAttempt(eventId, subscription, series, report);
    if (outcome.outcome !== "superseded") {
      this.#scheduleAlarm();
      this.#changed();
    }
    return outcome;
  }

  /**
   * The delivery queue gave up on a message (it reached the dead-letter queue): the delivery
   * fails and is listed, unless a newer attempt series took over since.
   */
  giveUp(eventId: string, subscription: string, series: number, reason: string): void {
    this.#deliveries.giveUp(eventId, subscription, series, reason);
    this.#scheduleAlarm();
    this.#changed();
  }

  /**
   * A queue message came back unattempted because SUBSCRIPTIONS is invalid: the delivery waits
   * here with `reason`, and the alarm queues it again once the config reads well.
   */
  holdForConfig(eventId: string, subscription: string, series: number, reason: string): void {
    if (this.#deliveries.holdForConfig(eventId, subscription, series, reason)) {
      this.#scheduleAlarm();
    }
  }

  /** Starts a new attempt series of the task's deliveries (see TaskOutbox.redeliver). */
  redeliver(filter: { event?: string; subscription?: string }): RedeliverResult {
    const task = this.#events.task();
    if (task === null) return { ok: false, reason: "unknown_task" };
    const result = this.#outbox.redeliver(task, filter);
    if (result.ok && result.restarted.length > 0) {
      void this.ctx.storage.setAlarm(Date.now());
      this.#changed();
    }
    return result;
  }

  /**
   * Erases the task: its rows at once (pending deliveries dropped, open pages told), then its R2
   * objects, index row and dead letters, then the object's storage. Throws when something outside
   * could not be removed: the task is gone from every view already, and the alarm finishes.
   */
  async erase(): Promise<EraseResult> {
    const task = this.#events.task();
    if (task === null && !this.#erasure.pending()) return "unknown_task";
    // Gone from every view at once, even while an alarm run is still to finish.
    if (task !== null) this.#beginErasure(task.task_id);
    await this.#oneAtATime(() => this.#eraseOrRetry(true));
    return "erased";
  }

  /** A console page's WebSocket (see ./live); 404 for a task that does not exist. */
  override async fetch(request: Request): Promise<Response> {
    const view = this.getTask();
    if (view === null) return new Response("no such task", { status: 404 });
    return this.#live.accept(request, view);
  }

  /** Pages send nothing but keep-alive pings, which are answered without waking the object. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    try {
      socket.close(code === 1005 || code === 1006 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }

  /**
   * Sets the alarm for the earliest work any part of the task has due, or clears it when there
   * is none; after failed alarm runs, the alarm backs off.
   */
  #scheduleAlarm(): void {
    const now = Date.now();
    const times = [
      this.#images.nextTryAt(),
      this.#outbox.nextWakeAt(),
      this.#index.nextWriteAt(),
      this.#erasure.dueAt(() => this.#events.task(), now),
    ];
    const next = Math.min(...times.filter((t): t is number => t !== null));
    if (!Number.isFinite(next)) {
      void this.ctx.storage.deleteAlarm();
      return;
    }
    const backoff =
      this.#alarmFailures > 0
        ? doublingDelayMs(this.#alarmFailures, ALARM_RETRY_FIRST_MS, ALARM_RETRY_CAP_MS)
        : 0;
    void this.ctx.storage.setAlarm(Math.max(next, now + backoff));
  }

  /** Open console pages get the task's view (nothing happens when none is open). */
  #changed(): void {
    this.#live.changed(() => this.getTask());
  }

  /** Runs `work` after the alarm run or erasure in progress, if any (see #exclusive). */
  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(work, work);
    this.#exclusive = run.catch(() => {});
    return run;
  }

  #beginErasure(taskId: string): void {
    this.#erasure.begin(taskId);
    this.#live.erased(taskId);
  }

  /**
   * Erases the task (see ./erase): its rows now, unless that began earlier; then what it has
   * outside the object and its storage. On failure the alarm tries again with backoff, and
   * `rethrow` passes the failure on (to DELETE's caller).
   */
  async #eraseOrRetry(rethrow = false): Promise<void> {
    const task = this.#events.task();
    if (task !== null) this.#beginErasure(task.task_id);
    try {
      await this.#erasure.finish();
      this.#alarmFailures = 0;
    } catch (err) {
      this.#alarmFailures++;
      console.error("erasing the task failed; the alarm tries again", errorText(err));
      this.#scheduleAlarm();
      if (rethrow) throw err;
    }
  }

  #imageViews(task: TaskRow) {
    return imageViews(task.task_id, this.#images.list(), publicBaseUrl(this.env, task.base_url));
  }
}
