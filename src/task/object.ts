// TaskObject: the Durable Object that owns one GoAPI task: its events (recorded exactly once),
// its archived images and its deliveries. Every RPC method is synchronous SQLite, so concurrent
// deliveries to one task are serialized by the object itself; the alarm does the slow work
// (copying images, queueing deliveries) after GoAPI has its 200.
import { DurableObject } from "cloudflare:workers";
import { deadLetterLog } from "../bindings";
import { publicBaseUrl } from "../config";
import type {
  AttemptOutcome,
  AttemptReport,
  AttemptStart,
  RecordResult,
  RedeliverResult,
  RestartedDelivery,
  TaskView,
} from "../contract";
import { CONFIG_RETRY_SECONDS } from "../delivery/policy";
import {
  matchingSubscriptions,
  type Subscription,
  subscriptionsOf,
} from "../delivery/subscriptions";
import type { TaskEvent } from "../goapi/events";
import { doublingDelayMs } from "../lib/backoff";
import { errorText } from "../lib/errors";
import { TaskDeliveries } from "./deliveries";
import { TaskEvents } from "./events";
import { TaskImages } from "./images";
import { migrate, type TaskRow } from "./schema";
import { type HeldEvent, imageViews, storedEvent, taskView } from "./views";

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
  /** When to read an invalid SUBSCRIPTIONS again (in memory: a restart reads it at once). */
  #configBlockedUntil = 0;
  /** Alarm runs in a row in which a step failed (in memory: a restart starts again at 1). */
  #alarmFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage.sql);
    this.#events = new TaskEvents(ctx.storage.sql);
    this.#images = new TaskImages(ctx.storage.sql, env);
    this.#deliveries = new TaskDeliveries(ctx.storage.sql);
  }

  /**
   * Records one GoAPI delivery (see TaskEvents.record). A new current event gets its delivery
   * rows in this same write (the outbox) unless it has images to copy first; the alarm is set
   * for whatever is left to copy or queue. Resolves after the writes are durable (the output
   * gate holds the reply until then).
   */
  recordEvent(event: TaskEvent, payload: string, baseUrl: string): RecordResult {
    const recorded = this.#events.record(event, payload, baseUrl, new Date().toISOString());
    if (recorded.kind === "duplicate") {
      return { event: recorded.id, duplicate: true, stale: recorded.stale };
    }
    if (recorded.kind === "stale") return { event: recorded.id, duplicate: false, stale: true };
    if (event.status === "completed") this.#images.add(event.images, Date.now());
    const task = this.#events.task();
    if (task) this.#releaseReadyEvents(task);
    this.#scheduleAlarm();
    return { event: recorded.id, duplicate: false, stale: false };
  }

  /** The task with its events, images and deliveries, or null when nothing was recorded. */
  getTask(): TaskView | null {
    const task = this.#events.task();
    if (task === null) return null;
    const config = subscriptionsOf(this.env);
    const configError = config.ok ? null : (config.errors[0] ?? "SUBSCRIPTIONS is unreadable");
    return taskView(
      task,
      this.#events.list(),
      this.#imageViews(task),
      this.#deliveries.list(),
      this.#heldEvents(task),
      configError,
    );
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
    const steps: Array<[string, () => unknown]> = [
      ["copying images", () => this.#images.copyDue(task.task_id)],
      ["releasing events", () => this.#releaseReadyEvents(task)],
      ["queueing deliveries", () => this.#enqueueDueDeliveries(task)],
      [
        "updating the dead-letter list",
        () => this.#deliveries.syncDeadLetters(task.task_id, deadLetterLog(this.env)),
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
    if (this.#deliveries.holdForConfig(eventId, subscription, series, reason)) {
      this.#scheduleAlarm();
    }
  }

  /**
   * Starts a new attempt series for the task's events (or one `event`), to every subscription
   * that wants them now (or only `subscription`). Events still waiting in the outbox, say for a
   * fixed SUBSCRIPTIONS, are released first.
   */
  redeliver(filter: { event?: string; subscription?: string }): RedeliverResult {
    const task = this.#events.task();
    if (task === null) return { ok: false, reason: "unknown_task" };
    const subscriptions = subscriptionsOf(this.env);
    if (!subscriptions.ok) {
      return { ok: false, reason: "invalid_config", errors: subscriptions.errors };
    }
    const only = filter.subscription;
    if (only !== undefined && !subscriptions.value.some((s) => s.id === only)) {
      return { ok: false, reason: "unknown_subscription", subscription: only };
    }
    this.#releaseReadyEvents(task);
    const restarted: RestartedDelivery[] = [];
    const now = Date.now();
    for (const event of this.#events.inOutbox("released")) {
      if (filter.event !== undefined && event.id !== filter.event) continue;
      for (const sub of matchingSubscriptions(subscriptions.value, event.type, task.task_type)) {
        if (filter.subscription !== undefined && sub.id !== filter.subscription) continue;
        const delivery = { event: event.id, subscription: sub.id };
        this.#deliveries.restart(delivery, now);
        restarted.push(delivery);
      }
    }
    if (restarted.length > 0) void this.ctx.storage.setAlarm(now);
    return { ok: true, restarted };
  }

  /** Moves waiting events whose images are settled into deliveries, if SUBSCRIPTIONS is valid. */
  #releaseReadyEvents(task: TaskRow): void {
    const waiting = this.#events.inOutbox("waiting");
    if (waiting.length === 0) return;
    const imagesPending = this.#images.anyPending();
    const ready = waiting.filter((e) => e.status !== "completed" || !imagesPending);
    if (ready.length === 0) return;
    const subscriptions = this.#subscriptions();
    if (subscriptions === null) return;
    const now = Date.now();
    for (const event of ready) {
      const wanted = matchingSubscriptions(subscriptions, event.type, task.task_type);
      this.#deliveries.create(
        event.id,
        wanted.map((s) => s.id),
        now,
      );
      this.#events.markReleased(event.id);
    }
  }

  /** The events waiting in the outbox, and what each waits for, as the view shows them. */
  #heldEvents(task: TaskRow): HeldEvent[] {
    const config = subscriptionsOf(this.env);
    const imagesAt = this.#images.nextTryAt();
    const configAt = Math.max(this.#configBlockedUntil, Date.now());
    return this.#events.inOutbox("waiting").map((event) => {
      if (!config.ok) {
        const reason = `config: ${config.errors[0] ?? "SUBSCRIPTIONS is unreadable"}`;
        return { event: event.id, subscriptions: null, reason, at: configAt };
      }
      const subscriptions = matchingSubscriptions(config.value, event.type, task.task_type).map(
        (s) => s.id,
      );
      return event.status === "completed" && imagesAt !== null
        ? { event: event.id, subscriptions, reason: "images", at: imagesAt }
        : { event: event.id, subscriptions, reason: "config: read again", at: configAt };
    });
  }

  /** Queues due deliveries, unless SUBSCRIPTIONS is invalid: then they wait here, not in the queue. */
  async #enqueueDueDeliveries(task: TaskRow): Promise<void> {
    if (this.#subscriptions() === null) return;
    await this.#deliveries.enqueueDue(task.task_id, this.env.DELIVERY_QUEUE);
  }

  /** The valid subscriptions, or null (logged, read again later) when SUBSCRIPTIONS is invalid. */
  #subscriptions(): Subscription[] | null {
    const parsed = subscriptionsOf(this.env);
    if (parsed.ok) {
      this.#configBlockedUntil = 0;
      return parsed.value;
    }
    this.#configBlockedUntil = Date.now() + CONFIG_RETRY_SECONDS * 1000;
    console.error("SUBSCRIPTIONS is invalid; deliveries wait until it is fixed", parsed.errors);
    return null;
  }

  /**
   * Sets the alarm for the earliest pending work, or clears it when there is none. Work that
   * waits for SUBSCRIPTIONS waits until it is read again; after failed alarm runs, the alarm
   * backs off.
   */
  #scheduleAlarm(): void {
    const now = Date.now();
    const imagesPending = this.#images.anyPending();
    const releasable = this.#events
      .inOutbox("waiting")
      .some((e) => e.status !== "completed" || !imagesPending);
    const deliveriesDue = this.#deliveries.nextWakeAt();
    const times = [
      this.#images.nextTryAt(),
      deliveriesDue === null ? null : Math.max(deliveriesDue, this.#configBlockedUntil),
      releasable ? Math.max(this.#configBlockedUntil, now) : null,
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

  #imageViews(task: TaskRow) {
    return imageViews(task.task_id, this.#images.list(), publicBaseUrl(this.env, task.base_url));
  }
}
