// What recording one event in its task writes (a webhook, a poll's answer, a submission), in
// one transaction (see TaskObject.recordEvent): the event; for a new current event also the task
// moved forward, its images (a completed event), its deliveries if it can be released, and the
// index mark.
import type { EventSource } from "../contract";
import type { TaskEvent } from "../goapi/events";
import type { Recorded } from "./events";
import type { TaskParts } from "./parts";

/** What was written: a repeat or a stale event, or a new current one and its next copy's time. */
export type Written =
  | Exclude<Recorded, { kind: "current" }>
  | (Extract<Recorded, { kind: "current" }> & { imagesAt: number | null });

/** Writes `event`'s rows through `parts`; run it inside a transaction, so that all or none stay. */
export function writeEvent(
  parts: Pick<TaskParts, "events" | "images" | "outbox" | "index">,
  event: TaskEvent,
  payload: string,
  baseUrl: string,
  source: EventSource,
  now: number,
): Written {
  const recorded = parts.events.record(
    event,
    payload,
    baseUrl,
    source,
    new Date(now).toISOString(),
  );
  if (recorded.kind !== "current") return recorded;
  if (event.status === "completed") parts.images.add(event.images, now);
  const imagesAt = parts.images.nextTryAt();
  parts.outbox.release(recorded.task, imagesAt !== null);
  parts.index.touch(now);
  return { ...recorded, imagesAt };
}
