// A task's parts, built on its object's storage and wired to one another: which part hears of
// which (the outbox of the deliveries and the queue, the erasure of what it must remove). Its
// object (./object) only calls them.
import { TaskAlarm } from "./alarm";
import { TaskDeliveries } from "./deliveries";
import { TaskDeliveryQueue } from "./delivery-queue";
import { TaskErasure } from "./erase";
import { TaskEvents } from "./events";
import { TaskHolds } from "./holds";
import { TaskImages } from "./images";
import { TaskIndexSync } from "./index-sync";
import { TaskLive } from "./live";
import { migrate } from "./migrations";
import { TaskOutbox } from "./outbox";
import { TaskReconcile } from "./reconcile";
import type { ScheduledParts } from "./schedule";

/** Every part of a task; also what its alarm's time is read from (see ./schedule). */
export interface TaskParts extends ScheduledParts {
  events: TaskEvents;
  images: TaskImages;
  live: TaskLive;
  alarm: TaskAlarm;
}

/** The task's tables brought up to date, and its parts on them. */
export function taskParts(ctx: DurableObjectState, env: Env): TaskParts {
  const sql = ctx.storage.sql;
  migrate(sql);
  const events = new TaskEvents(sql);
  const images = new TaskImages(sql, env);
  const deliveries = new TaskDeliveries(sql);
  const holds = new TaskHolds(sql, deliveries);
  const queueing = new TaskDeliveryQueue(sql, deliveries);
  const outbox = new TaskOutbox(events, images, deliveries, queueing, env);
  const reconcile = new TaskReconcile(sql, env);
  const index = new TaskIndexSync(sql, env.INDEX);
  const live = new TaskLive(ctx);
  const alarm = new TaskAlarm(ctx.storage);
  const erasure = new TaskErasure(ctx.storage, env, { events, deliveries, index, alarm, live });
  return { events, images, deliveries, holds, outbox, reconcile, index, live, alarm, erasure };
}
