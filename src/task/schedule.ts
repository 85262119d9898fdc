// When each part of a task is next due: the times its alarm is set from (see ./alarm). The one
// definition of what each part waits for, and of which parts a new event can make due sooner.
import type { AlarmPart, TaskAlarm } from "./alarm";
import type { TaskDeliveries } from "./deliveries";
import type { TaskErasure } from "./erase";
import type { TaskHolds } from "./holds";
import type { TaskIndexSync } from "./index-sync";
import type { TaskOutbox } from "./outbox";
import type { TaskReconcile } from "./reconcile";
import type { TaskRow } from "./schema";

/** The parts of a task whose due times are read here. */
export interface ScheduledParts {
  reconcile: TaskReconcile;
  outbox: TaskOutbox;
  holds: TaskHolds;
  deliveries: TaskDeliveries;
  index: TaskIndexSync;
  erasure: TaskErasure;
}

/** What the due times are read from: the task as just read, and its next image copy's time. */
export interface ScheduleInput {
  parts: ScheduledParts;
  task: TaskRow | null;
  imagesAt: number | null;
  now: number;
}

/** Each part's next due time (null: nothing due). */
const DUE: Record<AlarmPart, (input: ScheduleInput) => number | null> = {
  reconcile: ({ parts, task }) => (task === null ? null : parts.reconcile.nextPollAt(task)),
  images: ({ imagesAt }) => imagesAt,
  outbox: ({ parts, imagesAt }) => parts.outbox.nextWakeAt(imagesAt !== null),
  holds: ({ parts }) => parts.holds.nextCheckAt(),
  "dead-letters": ({ parts, now }) => (parts.deliveries.listingDue() ? now : null),
  index: ({ parts, task }) => parts.index.nextWriteAt(task),
  erasure: ({ parts, task, now }) => parts.erasure.dueAt(task, now),
};

/**
 * The parts a new event can make due sooner: its images, the outbox (its deliveries), the index
 * row (now to be written) and the poll (an event restarts the poll's doubling wait). Holds and
 * the dead-letter list do not change with an event, and a retention erasure only moves later
 * (it counts from the latest activity), which the alarm finds when it fires.
 */
export const HASTENED_BY_AN_EVENT: readonly AlarmPart[] = [
  "reconcile",
  "images",
  "outbox",
  "index",
];

/**
 * Sets the alarm for the earliest time any part is due, or clears it. While an erasure is under
 * way, the alarm does nothing else (see TaskObject.alarm), so only the erasure's time counts,
 * with its backoff: the work of a task recorded since then waits for the erasure to end.
 */
export function scheduleAll(alarm: TaskAlarm, input: ScheduleInput): void {
  const erasing = input.parts.erasure.pending();
  const times = Object.fromEntries(
    Object.entries(DUE).map(([part, due]) => [
      part,
      erasing && part !== "erasure" ? null : due(input),
    ]),
  ) as Record<AlarmPart, number | null>;
  alarm.schedule(times);
}

/**
 * After a new event: while an alarm is known to be set, and no erasure is under way, only the
 * parts the event can make due sooner are read, and the alarm is brought forward if one of them
 * is; otherwise every part is.
 */
export function scheduleAfterEvent(alarm: TaskAlarm, input: ScheduleInput): void {
  if (alarm.isSet() && !input.parts.erasure.pending()) {
    alarm.bringForward(Object.fromEntries(HASTENED_BY_AN_EVENT.map((p) => [p, DUE[p](input)])));
  } else {
    scheduleAll(alarm, input);
  }
}
