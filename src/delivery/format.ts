// The bodies POSTed to subscribers: the `midhook` event and GoAPI's own shape (SPEC §5).
import type { EventType, TaskEvent } from "../goapi/events";

/** An image as the admin API shows it; forwarded without `state`. */
export interface ImageView {
  name: string;
  url: string | null;
  source_url: string;
  content_type: string | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  state: "pending" | "stored" | "failed";
}

/** Everything a delivery body is built from, as the task's Durable Object keeps it. */
export interface StoredEvent {
  id: string;
  type: EventType;
  created_at: string;
  event: TaskEvent;
  /** GoAPI's body with secrets removed, as JSON text. */
  payload: string;
  images: ImageView[];
}

/** The default `midhook` format. */
export function formatMidhookEvent(stored: StoredEvent): string {
  const { event } = stored;
  return JSON.stringify({
    id: stored.id,
    type: stored.type,
    created_at: stored.created_at,
    data: {
      task_id: event.taskId,
      task_type: event.taskType,
      status: event.status,
      progress: event.progress,
      images: stored.images.map(({ state: _state, ...image }) => image),
      description: event.description,
      seed: event.seed,
      error: event.error,
      actions: event.actions,
      model: event.model,
      goapi: JSON.parse(stored.payload),
    },
  });
}

/**
 * The `goapi` format: GoAPI's payload as received (secrets removed) with every image URL that
 * midhook archived pointing at the archived copy instead.
 */
export function formatGoapiEvent(stored: StoredEvent): string {
  const archived = new Map<string, string>();
  for (const image of stored.images) {
    if (image.state === "stored" && image.url) archived.set(image.source_url, image.url);
  }
  return JSON.stringify(JSON.parse(stored.payload), (key, value) =>
    URL_FIELDS.has(key) ? replaceUrls(value, archived) : value,
  );
}

const URL_FIELDS = new Set(["image_url", "image_urls", "temporary_image_urls"]);

function replaceUrls(value: unknown, archived: Map<string, string>): unknown {
  if (typeof value === "string") return archived.get(value) ?? value;
  if (Array.isArray(value)) {
    return value.map((item) => (typeof item === "string" ? (archived.get(item) ?? item) : item));
  }
  return value;
}
