// The bodies POSTed to subscribers: the `midhook` event and GoAPI's own shape.
import type { StoredEvent } from "../contract";
import { parseGoapiPayload } from "../goapi/normalize";

/**
 * The default `midhook` format. The event's fields are read from the stored payload again;
 * a payload that no longer parses throws, and the attempt is recorded as failed.
 */
export function formatMidhookEvent(stored: StoredEvent): string {
  const goapi: unknown = JSON.parse(stored.payload);
  const parsed = parseGoapiPayload(goapi);
  if (!parsed.ok) throw new Error(`the stored payload does not parse: ${parsed.error}`);
  const event = parsed.value;
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
      goapi,
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
