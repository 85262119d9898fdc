// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// its archived images and its deliveries. Every RPC method is synchronous SQLite, so concurrent
// deliveries to one task are serialized by the object itself; the alarm does the slow work
// (polling a silent task, copying images, queueing deliveries, writing the task's row in the
// cross-task index) after GoAPI has its 200. Console pages watch it through WebSockets
// (./live), and it erases itself on request or after RETENTION_DAYS (./erase).
import { DurableObject } from "cloudflare:workers";
import { deadLetterLog } from "../bindings";
import { publicBaseUrl } from "../config";
import type {
  AttemptOutcome,
  AttemptReport,
  AttemptStart,
  EraseResult,
  EventSource,
  QueueMessageRef,
  RecordResult,
  RedeliverResult,
  TaskView,
} from "../contract";
import type { TaskEvent } from "../goapi/events";
import { syncDeadLetters } from "./dead-letters";
import { type TaskParts, taskParts } from "./parts";
import { scheduleAfterEvent, scheduleAll } from "./schedule";
import type { TaskRow } from "./schema";
import { imageViews, storedEvent, taskView } from "./views";
import { writeEvent } from "./write-event";

export class TaskObject extends DurableObject<Env> {
  readonly #parts: TaskParts;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#parts = taskParts(ctx, env);
  }

  /**
   * Records one GoAPI delivery (see TaskEvents.record). A new current event gets its delivery
   * rows (the outbox) unless it has images to copy first, and marks the task's index row dirty,
   * all in one transaction: should a write fail, none is kept, and the caller's retry (GoAPI is
   * answered 503) is recorded afresh, not taken for a duplicate. The alarm is then set for
   * whatever is left to copy, queue or write. Resolves after the writes are durable (the output
   * gate holds the reply until then).
   */
  recordEvent(
    event: TaskEvent,
    payload: string,
    baseUrl: string,
    source: EventSource = "webhook",
  ): RecordResult {
    const now = Date.now();
    const written = this.ctx.storage.transactionSync(() =>
      writeEvent(this.#parts, event, payload, baseUrl, source, now),
    );
    this.#changed();
    if (written.kind === "duplicate") {
      return { event: written.id, duplicate: true, stale: written.stale };
    }
    if (written.kind === "stale") return { event: written.id, duplicate: false, stale: true };
    scheduleAfterEvent(this.#parts.alarm, {
      parts: this.#parts,
      task: written.task,
      imagesAt: written.imagesAt,
      now,
    });
    return { event: written.id, duplicate: false, stale: false };
  }

  /** The task with its events, images and deliveries, or null when nothing was recorded. */
  getTask(): TaskView | null {
    const task = this.#parts.events.task();
    if (task === null) return null;
    return taskView(task, {
      events: this.#parts.events.list(),
      images: this.#imageViews(task),
      deliveries: this.#parts.deliveries.list(),
      held: this.#parts.outbox.held(task),
      configError: this.#parts.outbox.configError(),
      reconcile: this.#parts.reconcile.view(task),
      erasing: this.#parts.erasure.pending(),
    });
  }

  /**
   * Polls GoAPI for a silent task, updates the task's index row, copies due images, releases
   * ready events, queues due deliveries, asks about paused subscriptions and updates the
   * dead-letter list; or erases the task when that is due (or under way). See ./alarm for how it
   * never dies.
   */
  override async alarm(): Promise<void> {
    this.#parts.alarm.forget();
    await this.#parts.alarm.oneAtATime(async () => {
      const task = this.#parts.events.task();
      if (this.#parts.erasure.isDue(task, Date.now())) {
        await this.#parts.erasure.attempt(() => this.#afterChange());
        return;
      }
      if (task === null) return;
      // A poll may move the task on: each later step reads it afresh.
      const current = () => this.#parts.events.task() ?? task;
      const record = (event: TaskEvent, payload: string) =>
        this.recordEvent(event, payload, task.base_url, "poll");
      // DELETE may begin erasing while a step awaits (a poll, a copy): nothing more is done then,
      // and nothing the poll brings back is kept.
      const erasing = () => this.#parts.erasure.pending();
      const id = task.task_id;
      const poll = () => this.#parts.reconcile.pollIfDue(task, record, erasing);
      const holds = () => this.#parts.holds.checkDue(id, this.env);
      const list = () => syncDeadLetters(this.ctx.storage.sql, id, deadLetterLog(this.env));
      // An image stored may be the main one, the index row's thumbnail: the row is due again
      // (written by the next run, at once, the task being finished; unchanged, it is only marked
      // clean). An open page is told at once, not when the slowest copy ends.
      const copy = () =>
        this.#parts.images.copyDue(id, erasing, () => {
          this.#parts.index.touch(Date.now());
          this.#changed();
        });
      await this.#parts.alarm.run(
        id,
        [
          ["reconcile", "polling GoAPI", poll],
          // Before the copies, which may take minutes: a completion is listed at once.
          ["index", "updating the task index", () => this.#parts.index.writeDue(Date.now())],
          ["images", "copying images", copy],
          ["outbox", "releasing events", () => this.#parts.outbox.release(current())],
          ["outbox", "queueing deliveries", () => this.#parts.outbox.enqueueDue(current())],
          ["holds", "asking about paused subscriptions", holds],
          ["dead-letters", "updating the dead-letter list", list],
        ],
        erasing,
      );
      this.#scheduleAlarm();
      this.#changed();
    });
  }

  /**
   * Starts an attempt of a queued delivery by queue message `by`: the stored event to send, with
   * the delivery's lease taken for `leaseMs`, and whether it is a paused subscription's probe;
   * not due yet (a repeated message); or skip when it is no longer wanted or another delivery's
   * attempt holds it (see TaskDeliveries.lease).
   */
  beginAttempt(
    eventId: string,
    subscription: string,
    series: number,
    leaseMs: number,
    by: QueueMessageRef,
  ): AttemptStart {
    const task = this.#parts.events.task();
    const row = this.#parts.events.get(eventId);
    if (task === null || row === null) return { kind: "skip" };
    const lease = this.#parts.deliveries.lease(eventId, subscription, series, leaseMs, by);
    if (lease.kind !== "leased") return lease;
    return {
      kind: "send",
      stored: storedEvent(row, this.#imageViews(task)),
      attempt: lease.delivery.attempts + 1,
      probe: lease.delivery.probe === 1,
    };
  }

  /** Records the result of one attempt and says what the queue should do with the message. */
  recordAttempt(
    eventId: string,
    subscription: string,
    series: number,
    report: AttemptReport,
  ): AttemptOutcome {
    const outcome = this.#parts.deliveries.recordAttempt(eventId, subscription, series, report);
    if (outcome.outcome !== "superseded") this.#afterChange();
    return outcome;
  }

  /**
   * The delivery queue gave up on a message (it reached the dead-letter queue): the delivery
   * fails and is listed, unless a newer attempt series took over since.
   */
  giveUp(eventId: string, subscription: string, series: number, reason: string): void {
    this.#parts.deliveries.giveUp(eventId, subscription, series, reason);
    this.#afterChange();
  }

  /**
   * A queue message came back unattempted because SUBSCRIPTIONS is invalid: the delivery waits
   * here with `reason`, and the alarm queues it again once the config reads well.
   */
  holdForConfig(eventId: string, subscription: string, series: number, reason: string): void {
    if (this.#parts.holds.forConfig(eventId, subscription, series, reason)) this.#afterChange();
  }

  /**
   * The subscription is paused: the delivery waits here without spending an attempt until the
   * subscription's health object releases it or sends it as its probe.
   */
  holdForSubscriber(eventId: string, subscription: string, series: number): void {
    if (this.#parts.holds.forPausedSubscriber(eventId, subscription, series)) this.#afterChange();
  }

  /** The subscription is back: the deliveries held for it go out. */
  releaseHeld(subscription: string): void {
    if (this.#parts.holds.release(subscription)) this.#afterChange();
  }

  /** Sends a held delivery as the paused subscription's probe (see TaskHolds.probe). */
  sendProbe(subscription: string, eventId: string): boolean {
    const sent = this.#parts.holds.probe(subscription, eventId);
    if (sent) this.#afterChange();
    return sent;
  }

  /** Starts a new attempt series of the task's deliveries (see TaskOutbox.redeliver). */
  redeliver(filter: { event?: string; subscription?: string }): RedeliverResult {
    const task = this.#parts.events.task();
    if (task === null) return { ok: false, reason: "unknown_task" };
    const result = this.#parts.outbox.redeliver(task, filter);
    if (result.ok && result.restarted.length > 0) this.#afterChange();
    return result;
  }

  /**
   * Erases the task: its rows at once (pending deliveries dropped, open pages told), then its R2
   * objects, index row and dead letters, then the object's storage. "retrying" when something
   * could not be removed yet: the task is gone from every view already, and the alarm finishes.
   */
  async erase(): Promise<EraseResult> {
    const task = this.#parts.events.task();
    if (task === null && !this.#parts.erasure.pending()) return "unknown_task";
    // Gone from every view at once, even while an alarm run is still to finish.
    if (task !== null) this.#parts.erasure.begin(task.task_id);
    const finished = await this.#parts.alarm.oneAtATime(() =>
      this.#parts.erasure.attempt(() => this.#afterChange()),
    );
    return finished ? "erased" : "retrying";
  }

  /** A console page's WebSocket (see ./live); 404 for a task that does not exist. */
  override async fetch(request: Request): Promise<Response> {
    if (this.#parts.events.task() === null) return new Response("no such task", { status: 404 });
    return this.#parts.live.accept(request);
  }

  /** Pages send nothing but keep-alive pings, which are answered without waking the object. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    this.#parts.live.closed(socket, code);
  }

  /**
   * Sets the alarm again from the settings as they are now: a task asleep since RETENTION_DAYS
   * was set or shortened has no alarm, or one too late, for its erasure (see ../retention-sweep).
   */
  reschedule(): void {
    // An object erased since the sweep read the index: nothing to schedule.
    if (this.#parts.events.task() === null && !this.#parts.erasure.pending()) return;
    this.#scheduleAlarm();
  }

  /** Sets the alarm for the earliest work any part of the task has due, or clears it. */
  #scheduleAlarm(): void {
    const task = this.#parts.events.task();
    const imagesAt = this.#parts.images.nextTryAt();
    scheduleAll(this.#parts.alarm, { parts: this.#parts, task, imagesAt, now: Date.now() });
  }

  #afterChange(): void {
    this.#scheduleAlarm();
    this.#changed();
  }

  /** Open console pages are told the task changed (nothing happens when none is open). */
  #changed(): void {
    this.#parts.live.changed();
  }

  #imageViews(task: TaskRow) {
    return imageViews(
      task.task_id,
      this.#parts.images.list(),
      publicBaseUrl(this.env, task.base_url),
    );
  }
}
