// When each part of a task is next due: the times its alarm is set from (see ./alarm). The one
// list of what each part waits for, and the rule for which parts a new event can make due sooner.
import type { AlarmPart } from "./alarm";
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

/** Every part's next due time (null: nothing due). `imagesAt`: the next image copy's. */
export function dueTimes(
  parts: ScheduledParts,
  task: TaskRow | null,
  imagesAt: number | null,
  now: number,
): Record<AlarmPart, number | null> {
  return {
    reconcile: task === null ? null : parts.reconcile.nextPollAt(task),
    images: imagesAt,
    outbox: parts.outbox.nextWakeAt(imagesAt !== null),
    holds: parts.holds.nextCheckAt(),
    "dead-letters": parts.deliveries.listingDue() ? now : null,
    index: parts.index.nextWriteAt(),
    erasure: parts.erasure.dueAt(task, now),
  };
}

/**
 * The due times a new event can have brought sooner: its images', the outbox's, and the index's
 * (`indexAt`: the write its change set, null when one was due already). The others only move
 * later (a poll and a retention erasure count from the latest event, and the alarm finds that
 * when it fires) or not at all (holds, the dead-letter list), so they need not be read.
 */
export function sooner(
  parts: Pick<ScheduledParts, "outbox">,
  imagesAt: number | null,
  indexAt: number | null,
): Partial<Record<AlarmPart, number | null>> {
  return { images: imagesAt, outbox: parts.outbox.nextWakeAt(imagesAt !== null), index: indexAt };
}
