// A task's outbox: events wait here until their deliveries can exist (a completed event waits for
// its images, every event for a valid SUBSCRIPTIONS), are released into deliveries, and are
// queued or restarted. SUBSCRIPTIONS is read here and nowhere else in the task.
import type { HeldEvent, RedeliverResult, RestartedDelivery } from "../contract";
import { CONFIG_RETRY_SECONDS } from "../delivery/policy";
import {
  matchingSubscriptions,
  type Subscription,
  subscriptionsOf,
} from "../delivery/subscriptions";
import type { TaskDeliveries } from "./deliveries";
import type { TaskDeliveryQueue } from "./delivery-queue";
import type { EventSummary, TaskEvents } from "./events";
import type { TaskImages } from "./images";
import type { TaskRow } from "./schema";

export class TaskOutbox {
  readonly #events: TaskEvents;
  readonly #images: TaskImages;
  readonly #deliveries: TaskDeliveries;
  readonly #queueing: TaskDeliveryQueue;
  readonly #env: Env;
  /** When to read an invalid SUBSCRIPTIONS again (in memory: a restart reads it at once). */
  #configBlockedUntil = 0;

  constructor(
    events: TaskEvents,
    images: TaskImages,
    deliveries: TaskDeliveries,
    queueing: TaskDeliveryQueue,
    env: Env,
  ) {
    this.#events = events;
    this.#images = images;
    this.#deliveries = deliveries;
    this.#queueing = queueing;
    this.#env = env;
  }

  /**
   * Moves waiting events whose images are settled into deliveries, if SUBSCRIPTIONS is valid.
   * `imagesPending`: an image is still to be copied (read here unless the caller knows).
   */
  release(task: TaskRow, imagesPending?: boolean): void {
    const waiting = this.#events.inOutbox("waiting");
    if (waiting.length === 0) return;
    imagesPending ??= this.#images.anyPending();
    const ready = waiting.filter((e) => canRelease(e, imagesPending));
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

  /** Queues due deliveries, unless SUBSCRIPTIONS is invalid: then they wait here, not in the queue. */
  async enqueueDue(task: TaskRow): Promise<void> {
    if (this.#subscriptions() === null) return;
    await this.#queueing.enqueueDue(task.task_id, this.#env.DELIVERY_QUEUE);
  }

  /**
   * Starts a new attempt series for the task's events (or one `event`), to every subscription
   * that wants them now (or only `subscription`). Events still waiting, say for a fixed
   * SUBSCRIPTIONS, are released first.
   */
  redeliver(task: TaskRow, filter: { event?: string; subscription?: string }): RedeliverResult {
    const subscriptions = subscriptionsOf(this.#env);
    if (!subscriptions.ok) {
      return { ok: false, reason: "invalid_config", errors: subscriptions.errors };
    }
    const only = filter.subscription;
    if (only !== undefined && !subscriptions.value.some((s) => s.id === only)) {
      return { ok: false, reason: "unknown_subscription", subscription: only };
    }
    this.release(task);
    const restarted: RestartedDelivery[] = [];
    const now = Date.now();
    for (const event of this.#events.inOutbox("released")) {
      if (filter.event !== undefined && event.id !== filter.event) continue;
      for (const sub of matchingSubscriptions(subscriptions.value, event.type, task.task_type)) {
        if (only !== undefined && sub.id !== only) continue;
        const delivery = { event: event.id, subscription: sub.id };
        this.#deliveries.restart(delivery, now);
        restarted.push(delivery);
      }
    }
    return { ok: true, restarted };
  }

  /** The first setting at fault while SUBSCRIPTIONS is invalid, else null. */
  configError(): string | null {
    const config = subscriptionsOf(this.#env);
    return config.ok ? null : (config.errors[0] ?? "SUBSCRIPTIONS is unreadable");
  }

  /** The events still waiting, and what each waits for, as the view shows them. */
  held(task: TaskRow): HeldEvent[] {
    const config = subscriptionsOf(this.#env);
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

  /**
   * When the alarm must next look at the outbox: to release an event that can go, to queue a
   * delivery or re-send a lost one; never before an invalid SUBSCRIPTIONS is due to be read
   * again. Null when nothing waits. `imagesPending`: an image is still to be copied.
   */
  nextWakeAt(imagesPending: boolean): number | null {
    const releasable = this.#events.inOutbox("waiting").some((e) => canRelease(e, imagesPending));
    const deliveriesDue = this.#queueing.nextWakeAt();
    const times = [
      deliveriesDue === null ? null : Math.max(deliveriesDue, this.#configBlockedUntil),
      releasable ? Math.max(this.#configBlockedUntil, Date.now()) : null,
    ].filter((t): t is number => t !== null);
    return times.length > 0 ? Math.min(...times) : null;
  }

  /** The valid subscriptions, or null (logged, read again later) when SUBSCRIPTIONS is invalid. */
  #subscriptions(): Subscription[] | null {
    const parsed = subscriptionsOf(this.#env);
    if (parsed.ok) {
      this.#configBlockedUntil = 0;
      return parsed.value;
    }
    this.#configBlockedUntil = Date.now() + CONFIG_RETRY_SECONDS * 1000;
    console.error("SUBSCRIPTIONS is invalid; deliveries wait until it is fixed", parsed.errors);
    return null;
  }
}

/** Whether a waiting event can be released: a completed one only once its images are settled. */
function canRelease(event: EventSummary, imagesPending: boolean): boolean {
  return event.status !== "completed" || !imagesPending;
}
