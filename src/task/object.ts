// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// its archived images and its deliveries. Every RPC method is synchronous SQLite, so concurrent
// deliveries to one task are serialized by the object itself; the alarm does the slow work
// (copying images, queueing deliveries) after GoAPI has its 200.
import { DurableObject } from "cloudflare:workers";
import { deadLetterLog, subscriberHealth } from "../bindings";
import { publicBaseUrl, secretsToRemove } from "../config";
import type {
  AttemptOutcome,
  AttemptReport,
  AttemptStart,
  EventSource,
  RecordResult,
  RedeliverResult,
  TaskView,
} from "../contract";
import { acceptGoapiBody } from "../goapi/accept";
import type { TaskEvent } from "../goapi/events";
import { doublingDelayMs } from "../lib/backoff";
import { errorText } from "../lib/errors";
import { syncDeadLetters } from "./dead-letters";
import { TaskDeliveries } from "./deliveries";
import { TaskEvents } from "./events";
import { TaskHolds } from "./holds";
import { TaskImages } from "./images";
import { TaskOutbox } from "./outbox";
import { TaskReconcile } from "./reconcile";
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
  readonly #holds: TaskHolds;
  readonly #outbox: TaskOutbox;
  readonly #reconcile: TaskReconcile;
  /** Alarm runs in a row in which a step failed (in memory: a restart starts again at 1). */
  #alarmFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql);
    this.#events = new TaskEvents(ctx.storage.sql);
    this.#images = new TaskImages(ctx.storage.sql, env);
    this.#deliveries = new TaskDeliveries(ctx.storage.sql);
    this.#holds = new TaskHolds(ctx.storage.sql, this.#deliveries);
    this.#outbox = new TaskOutbox(this.#events, this.#images, this.#deliveries, env);
    this.#reconcile = new TaskReconcile(ctx.storage.sql, env);
  }

  /**
   * Records one GoAPI delivery (see TaskEvents.record). A new current event gets its delivery
   * rows in this same write (the outbox) unless it has images to copy first; the alarm is set
   * for whatever is left to copy or queue. Resolves after the writes are durable (the output
   * gate holds the reply until then).
   */
  recordEvent(
    event: TaskEvent,
    payload: string,
    baseUrl: string,
    source: EventSource = "webhook",
  ): RecordResult {
    const recorded = this.#events.record(event, payload, baseUrl, source, new Date().toISOString());
    if (recorded.kind === "duplicate") {
      return { event: recorded.id, duplicate: true, stale: recorded.stale };
    }
    if (recorded.kind === "stale") return { event: recorded.id, duplicate: false, stale: true };
    if (event.status === "completed") this.#images.add(event.images, Date.now());
    const task = this.#events.task();
    if (task) this.#outbox.release(task);
    this.#scheduleAlarm();
    return { event: recorded.id, duplicate: false, stale: false };
  }

  /** The task with its events, images and deliveries, or null when nothing was recorded. */
  getTask(): TaskView | null {
    const task = this.#events.task();
    if (task === null) return null;
    return taskView(task, {
      events: this.#events.list(),
      images: this.#imageViews(task),
      deliveries: this.#deliveries.list(),
      held: this.#outbox.held(task),
      configError: this.#outbox.configError(),
      reconcile: this.#reconcile.view(task),
    });
  }

  /**
   * Copies due images, releases ready events, queues due deliveries and updates the dead-letter
   * list. It always leaves an alarm behind while work remains: one set before any work (should
   * the isolate die mid-run), and the real one after, later by a growing backoff while a step
   * keeps failing (a Queues outage, say), so no task waits for ever on an alarm that was dropped.
   */
  override async alarm(): Promise<void> {
    const task = this.#events.task();
    if (task === null) return;
    await this.ctx.storage.setAlarm(Date.now() + ALARM_WATCHDOG_MS);
    // A poll may move the task on: each later step reads it afresh.
    const current = () => this.#events.task() ?? task;
    const steps: Array<[string, () => unknown]> = [
      [
        "polling GoAPI",
        () => this.#reconcile.pollIfDue(task, (body) => this.#recordPolled(task, body)),
      ],
      ["copying images", () => this.#images.copyDue(task.task_id)],
      ["releasing events", () => this.#outbox.release(current())],
      ["queueing deliveries", () => this.#outbox.enqueueDue(current())],
      ["asking about paused subscriptions", () => this.#checkHeld(task.task_id)],
      [
        "updating the dead-letter list",
        () => syncDeadLetters(this.ctx.storage.sql, task.task_id, deadLetterLog(this.env)),
      ],
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
    if (outcome.outcome !== "superseded") this.#scheduleAlarm();
    return outcome;
  }

  /**
   * The delivery queue gave up on a message (it reached the dead-letter queue): the delivery
   * fails and is listed, unless a newer attempt series took over since.
   */
  giveUp(eventId: string, subscription: string, series: number, reason: string): void {
    this.#deliveries.giveUp(eventId, subscription, series, reason);
    this.#scheduleAlarm();
  }

  /**
   * A queue message came back unattempted because SUBSCRIPTIONS is invalid: the delivery waits
   * here with `reason`, and the alarm queues it again once the config reads well.
   */
  holdForConfig(eventId: string, subscription: string, series: number, reason: string): void {
    if (this.#holds.forConfig(eventId, subscription, series, reason)) this.#scheduleAlarm();
  }

  /**
   * The subscription is paused: the delivery waits here without spending an attempt until the
   * subscription's health object releases it or sends it as its probe.
   */
  holdForSubscriber(eventId: string, subscription: string, series: number): void {
    if (this.#holds.forPausedSubscriber(eventId, subscription, series)) this.#scheduleAlarm();
  }

  /** The subscription is back: the deliveries held for it go out. */
  releaseHeld(subscription: string): void {
    if (this.#holds.release(subscription)) this.#scheduleAlarm();
  }

  /** Sends the held delivery of `eventId` as the paused subscription's probe; false if none. */
  sendProbe(subscription: string, eventId: string): boolean {
    const sent = this.#holds.probe(subscription, eventId);
    if (sent) this.#scheduleAlarm();
    return sent;
  }

  /** Starts a new attempt series of the task's deliveries (see TaskOutbox.redeliver). */
  redeliver(filter: { event?: string; subscription?: string }): RedeliverResult {
    const task = this.#events.task();
    if (task === null) return { ok: false, reason: "unknown_task" };
    const result = this.#outbox.redeliver(task, filter);
    if (result.ok && result.restarted.length > 0) void this.ctx.storage.setAlarm(Date.now());
    return result;
  }

  /**
   * Sets the alarm for the earliest work any part of the task has due, or clears it when there
   * is none; after failed alarm runs, the alarm backs off.
   */
  #scheduleAlarm(): void {
    const now = Date.now();
    const task = this.#events.task();
    const times = [
      this.#images.nextTryAt(),
      this.#outbox.nextWakeAt(),
      task === null ? null : this.#reconcile.nextPollAt(task),
      this.#holds.nextCheckAt(),
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

  /**
   * For each subscription this task holds deliveries for, once its check is due: released if
   * the subscription is active again, else listed again with its health object (so a word lost
   * in a crash is repaired), and checked again later.
   */
  async #checkHeld(taskId: string): Promise<void> {
    const due = this.#holds.nextCheckAt();
    if (due === null || due > Date.now()) return;
    for (const { subscription, event } of this.#holds.heldFor()) {
      const health = subscriberHealth(this.env, subscription);
      if ((await health.status(subscription)).state === "active") {
        this.#holds.release(subscription);
      } else {
        await health.hold(subscription, taskId, event);
        this.#holds.checked(subscription);
      }
    }
  }

  /** Records what a poll of GoAPI said, as a webhook with that content; the error if it cannot. */
  #recordPolled(task: TaskRow, body: unknown): string | null {
    const accepted = acceptGoapiBody(body, secretsToRemove(this.env));
    if (!accepted.ok) return `GoAPI's answer is not a task: ${accepted.error}`;
    this.recordEvent(accepted.event, accepted.payload, task.base_url, "poll");
    return null;
  }

  #imageViews(task: TaskRow) {
    return imageViews(task.task_id, this.#images.list(), publicBaseUrl(this.env, task.base_url));
  }
}
