// The internal task event every GoAPI payload is normalized to, and the rules that order events.

/** Normalized task statuses: GoAPI's many spellings in both APIs come down to these four. */
export const TASK_STATUSES = ["pending", "processing", "completed", "failed"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Event types sent downstream. */
export const EVENT_TYPES = [
  "task.created",
  "task.progress",
  "task.completed",
  "task.failed",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A result image to archive: `name` is the stored name without its extension (`main`, `1`…). */
export interface ImageSource {
  name: string;
  url: string;
}

/**
 * The most characters of a task's type or model: GoAPI's are a few characters long, and a
 * submission is refused beyond it. A webhook's or a poll's is cut to it, so that a task's row
 * (and its index entry) stays small whatever the payload holds.
 */
export const MAX_NAME_CHARS = 100;

/** One GoAPI delivery, normalized; the original payload is kept beside it. */
export interface TaskEvent {
  taskId: string;
  taskType: string;
  model: string;
  status: TaskStatus;
  rawStatus: string;
  /** Whether midhook knows `rawStatus`; an unknown one reads as processing. */
  statusKnown: boolean;
  /** 0-100; always 100 once completed. */
  progress: number;
  images: ImageSource[];
  description: string | null;
  seed: string | null;
  error: string | null;
  actions: string[];
}

const EVENT_TYPE_OF: Record<TaskStatus, EventType> = {
  pending: "task.created",
  processing: "task.progress",
  completed: "task.completed",
  failed: "task.failed",
};

export function eventTypeOf(status: TaskStatus): EventType {
  return EVENT_TYPE_OF[status];
}

/** Two deliveries with the same identity (status and progress) are the same event. */
export function eventIdentity(event: Pick<TaskEvent, "status" | "progress">): string {
  return `${event.status}:${event.progress}`;
}

export function isTerminal(status: TaskStatus): boolean {
  return status === "completed" || status === "failed";
}

const RANK: Record<TaskStatus, number> = { pending: 0, processing: 1, completed: 2, failed: 2 };

/**
 * Whether `next` would move a task backwards from `current`: nothing follows a terminal state,
 * a status never goes back (processing → pending), and progress never decreases.
 */
export function isStale(
  current: { status: TaskStatus; progress: number },
  next: { status: TaskStatus; progress: number },
): boolean {
  if (isTerminal(current.status)) return true;
  if (RANK[next.status] !== RANK[current.status]) return RANK[next.status] < RANK[current.status];
  return next.progress < current.progress;
}
