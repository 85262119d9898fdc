// The Worker's JSON answers as tests read them: each parsed against its shape before a test
// reads a field of it, and each shape checked by tsc against the type of src/contract.ts it
// stands for. No Workers imports: the Node-side tests (test/e2e) read answers through it too.
import { z } from "zod";
import type {
  DeadLetter,
  DeadLetterPage,
  DeliveryView,
  EventView,
  ImageView,
  IngestAnswer,
  ReconcileView,
  TaskListItem,
  TaskListPage,
  TaskView,
} from "../../src/contract";
import type { EventType, TaskStatus } from "../../src/goapi/events";

const status: z.ZodType<TaskStatus> = z.enum(["pending", "processing", "completed", "failed"]);
const eventType: z.ZodType<EventType> = z.enum([
  "task.created",
  "task.progress",
  "task.completed",
  "task.failed",
]);
const time = z.iso.datetime();

const image: z.ZodType<ImageView> = z.strictObject({
  name: z.string(),
  url: z.string().nullable(),
  source_url: z.string(),
  content_type: z.string().nullable(),
  bytes: z.number().nullable(),
  sha256: z.string().nullable(),
  error: z.string().nullable(),
  state: z.enum(["pending", "stored", "failed"]),
});

const event: z.ZodType<EventView> = z.strictObject({
  id: z.string(),
  type: eventType,
  status,
  progress: z.number(),
  received_at: time,
  duplicates: z.number(),
  stale: z.boolean(),
  source: z.enum(["webhook", "poll", "submit"]),
});

const delivery: z.ZodType<DeliveryView> = z.strictObject({
  subscription: z.string().nullable(),
  event: z.string(),
  state: z.enum(["pending", "delivered", "failed"]),
  waiting_for: z.string().nullable(),
  attempts: z.number(),
  last_status: z.number().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: time.nullable(),
});

const reconcile: z.ZodType<ReconcileView> = z.strictObject({
  state: z.enum(["idle", "scheduled", "gave_up"]),
  next_poll_at: time.nullable(),
  polls: z.number(),
  last_error: z.string().nullable(),
});

const task: z.ZodType<TaskView> = z.strictObject({
  task_id: z.string(),
  task_type: z.string(),
  model: z.string(),
  status,
  progress: z.number(),
  created_at: time,
  updated_at: time,
  events: z.array(event),
  images: z.array(image),
  deliveries: z.array(delivery),
  reconcile,
});

const deadLetter: z.ZodType<DeadLetter> = z.strictObject({
  id: z.string(),
  task_id: z.string(),
  event: z.string(),
  subscription: z.string(),
  attempts: z.number(),
  last_status: z.number().nullable(),
  last_error: z.string().nullable(),
  failed_at: time,
});

const deadLetters: z.ZodType<DeadLetterPage> = z.strictObject({
  items: z.array(deadLetter),
  next_cursor: z.string().nullable(),
});

const taskListItem: z.ZodType<TaskListItem> = z.strictObject({
  task_id: z.string(),
  task_type: z.string(),
  status,
  progress: z.number(),
  created_at: time,
  updated_at: time,
  thumbnail_url: z.string().nullable(),
});

const taskList: z.ZodType<TaskListPage> = z.strictObject({
  items: z.array(taskListItem),
  next_cursor: z.string().nullable(),
});

/** The ingest's answer to a delivery it accepted (and to a sync). */
const ingest: z.ZodType<IngestAnswer> = z.strictObject({
  ok: z.literal(true),
  task_id: z.string(),
  duplicate: z.boolean(),
  stale: z.boolean(),
  event: z.string().regex(/^evt_/),
});

/** `POST /v1/tasks`'s answer. */
const submission = z.strictObject({
  ok: z.literal(true),
  task_id: z.string(),
  status,
  event: z.string().regex(/^evt_/),
});

/** The error envelope every error answer uses. */
const error = z.strictObject({
  error: z.strictObject({ code: z.string(), message: z.string() }),
});

/** The shapes `readView` reads. */
export const views = {
  task,
  deadLetters,
  taskList,
  ingest,
  submission,
  error,
};

/** `response`'s JSON body as `view`; throws, saying what does not fit, when it is not one. */
export async function readView<T>(response: Response, view: z.ZodType<T>): Promise<T> {
  const body: unknown = await response.json();
  const parsed = view.safeParse(body);
  if (!parsed.success) {
    throw new Error(
      `${response.status} answer is not the expected view: ${z.prettifyError(parsed.error)}\n${JSON.stringify(body).slice(0, 500)}`,
    );
  }
  return parsed.data;
}
