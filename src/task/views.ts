// How a task's rows look from outside: the admin view, and the stored event a delivery body is
// built from. Pure projections of the rows in ./schema onto the types in ../contract.
import type {
  DeliveryView,
  EventView,
  HeldEvent,
  ImageView,
  ReconcileView,
  StoredEvent,
  TaskView,
} from "../contract";
import { imageUrl } from "../images/sources";
import type { EventSummary } from "./events";
import type { DeliveryRow, EventRow, ImageRow, TaskRow } from "./schema";

/** Each image with its public URL once stored (`base` is the origin images are served from). */
export function imageViews(taskId: string, rows: readonly ImageRow[], base: string): ImageView[] {
  return rows.map((row) => ({
    name: row.name,
    url: row.state === "stored" ? imageUrl(base, taskId, row.name) : null,
    source_url: row.source_url,
    content_type: row.content_type,
    bytes: row.bytes,
    sha256: row.sha256,
    error: row.error,
    state: row.state,
  }));
}

function eventView(row: EventSummary): EventView {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    progress: row.progress,
    received_at: row.received_at,
    duplicates: row.duplicates,
    stale: row.stale === 1,
    source: row.source,
  };
}

/** Why every pending delivery waits while an earlier erasure of the task is still under way. */
const ERASING = "erasure under way";

function deliveryView(row: DeliveryRow, configError: string | null): DeliveryView {
  const pending = row.state === "pending";
  const waitingFor =
    pending && row.held === "paused"
      ? "subscriber paused"
      : pending && row.enqueued === 0 && configError !== null
        ? `config: ${configError}`
        : null;
  return {
    subscription: row.subscription,
    event: row.event_id,
    state: row.state,
    waiting_for: waitingFor,
    attempts: row.attempts,
    last_status: row.last_status,
    last_error: row.last_error,
    next_attempt_at:
      pending && row.held === null ? new Date(row.next_attempt_at).toISOString() : null,
  };
}

/** The deliveries that do not exist yet because their event waits in the outbox. */
function heldViews(held: readonly HeldEvent[]): DeliveryView[] {
  return held.flatMap(({ event, subscriptions, reason, at }) =>
    (subscriptions ?? [null]).map((subscription) => ({
      subscription,
      event,
      state: "pending" as const,
      waiting_for: reason,
      attempts: 0,
      last_status: null,
      last_error: null,
      next_attempt_at: at === null ? null : new Date(at).toISOString(),
    })),
  );
}

/** Everything `GET /v1/tasks/{id}` shows of a task besides its own row. */
export interface TaskViewParts {
  events: readonly EventSummary[];
  images: readonly ImageView[];
  deliveries: readonly DeliveryRow[];
  /** Events still in the outbox. */
  held: readonly HeldEvent[];
  /** The first setting at fault while SUBSCRIPTIONS is invalid. */
  configError: string | null;
  reconcile: ReconcileView;
  /**
   * An erasure of the task's earlier record is still removing what it had outside (GoAPI
   * recorded the task again meanwhile): the task's work waits for it to end.
   */
  erasing: boolean;
}

/** `GET /v1/tasks/{id}`. */
export function taskView(task: TaskRow, parts: TaskViewParts): TaskView {
  const { events, images, deliveries, held, configError, reconcile, erasing } = parts;
  const all = [...deliveries.map((row) => deliveryView(row, configError)), ...heldViews(held)];
  return {
    task_id: task.task_id,
    task_type: task.task_type,
    model: task.model,
    status: task.status,
    progress: task.progress,
    created_at: task.created_at,
    updated_at: task.updated_at,
    events: events.map(eventView),
    images: [...images],
    deliveries: erasing
      ? all.map((d) => (d.state === "pending" ? { ...d, waiting_for: ERASING } : d))
      : all,
    reconcile,
  };
}

/** The event as the delivery consumer builds its body from it; images only for a completed one. */
export function storedEvent(row: EventRow, images: readonly ImageView[]): StoredEvent {
  return {
    id: row.id,
    type: row.type,
    created_at: row.received_at,
    payload: row.payload,
    images: row.status === "completed" ? [...images] : [],
  };
}
