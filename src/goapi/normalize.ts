// Pure parsing of a GoAPI webhook body (either shape) into one normalized TaskEvent.
import type { z } from "zod";
import { type ImageSource, MAX_NAME_CHARS, type TaskEvent, type TaskStatus } from "./events";
import { type V1Payload, type V2Payload, v1PayloadSchema, v2PayloadSchema } from "./schema";

export type ParseResult = { ok: true; value: TaskEvent } | { ok: false; error: string };

// A Map, not an object literal: a status such as "__proto__" must not find a prototype member.
const STATUS = new Map<string, TaskStatus>([
  ["pending", "pending"],
  ["staged", "pending"],
  ["processing", "processing"],
  ["starting", "processing"],
  ["retry", "processing"],
  ["finished", "completed"],
  ["completed", "completed"],
  ["failed", "failed"],
]);

/** Maps GoAPI's status (any case, either API) to the normalized one; unknown → processing. */
export function normalizeStatus(raw: string): { status: TaskStatus; known: boolean } {
  const status = STATUS.get(raw.trim().toLowerCase());
  return status ? { status, known: true } : { status: "processing", known: false };
}

/**
 * Validates a parsed JSON body as a v1 (`{timestamp, data}`) or v2 (fetch object) payload and
 * normalizes it. Unknown fields are allowed; only the task id and status are required.
 */
export function parseGoapiPayload(body: unknown): ParseResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: "body must be a JSON object" };
  }
  if ("data" in body) {
    const v1 = v1PayloadSchema.safeParse(body);
    return v1.success
      ? { ok: true, value: fromV1(v1.data) }
      : { ok: false, error: describe(v1.error) };
  }
  const v2 = v2PayloadSchema.safeParse(body);
  return v2.success
    ? { ok: true, value: fromV2(v2.data) }
    : { ok: false, error: describe(v2.error) };
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid payload";
  const path = issue.path.length > 0 ? issue.path.join(".") : "body";
  return `${path}: ${issue.message}`;
}

function fromV2(p: V2Payload): TaskEvent {
  const result = p.task_result ?? {};
  const { status, known } = normalizeStatus(p.status);
  const taskType = name(p.meta?.task_type) ?? "unknown";
  const errors = strings(result.error_messages);
  return {
    taskId: p.task_id,
    taskType,
    model: "midjourney",
    status,
    rawStatus: p.status,
    statusKnown: known,
    progress: progressOf(status, result.task_progress),
    images: imageSources(result.image_url, result.image_urls, result.temporary_image_urls),
    description: taskType === "describe" ? nonEmpty(result.message) : null,
    seed: scalarText(result.seed),
    error: errors.length > 0 ? errors.join("; ") : null,
    actions: strings(result.actions),
  };
}

function fromV1(p: V1Payload): TaskEvent {
  const data = p.data;
  const output = data.output ?? {};
  const { status, known } = normalizeStatus(data.status);
  return {
    taskId: data.task_id,
    taskType: name(data.task_type) ?? "unknown",
    model: name(data.model) ?? "midjourney",
    status,
    rawStatus: data.status,
    statusKnown: known,
    progress: progressOf(status, output.progress),
    images: imageSources(output.image_url, output.image_urls, output.temporary_image_urls),
    description: nonEmpty(output.description),
    seed: scalarText(output.seed),
    error: v1ErrorText(data.error),
    actions: strings(output.actions),
  };
}

function v1ErrorText(error: V1Payload["data"]["error"]): string | null {
  if (!error || Number(error.code ?? 0) === 0) return null;
  const parts = [nonEmpty(error.message), nonEmpty(error.raw_message)].filter((s) => s !== null);
  return parts.length > 0 ? [...new Set(parts)].join(": ") : `error code ${error.code}`;
}

/** Midjourney returns 4 tiles; a body listing more is cut here so it cannot fan out copies. */
const MAX_TILES = 16;

/** Image names: `image_url` → main; `image_urls[i]` → i+1, or `temporary_image_urls` when it is empty. */
function imageSources(
  imageUrl: string | null | undefined,
  imageUrls: unknown[] | null | undefined,
  temporaryUrls: unknown[] | null | undefined,
): ImageSource[] {
  const sources: ImageSource[] = [];
  const main = nonEmpty(imageUrl);
  if (main) sources.push({ name: "main", url: main });
  const split = strings(imageUrls);
  const tiles = (split.length > 0 ? split : strings(temporaryUrls)).slice(0, MAX_TILES);
  tiles.forEach((url, i) => {
    sources.push({ name: String(i + 1), url });
  });
  return sources;
}

function progressOf(status: TaskStatus, raw: string | number | null | undefined): number {
  if (status === "completed") return 100;
  const value = typeof raw === "number" ? raw : Number.parseFloat(raw ?? "");
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, Math.round(value)));
}

/** A task type or model: trimmed, at most MAX_NAME_CHARS of it; null when empty. */
function name(value: string | null | undefined): string | null {
  return nonEmpty(value)?.slice(0, MAX_NAME_CHARS) ?? null;
}

function nonEmpty(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function scalarText(value: string | number | null | undefined): string | null {
  return value === null || value === undefined ? null : nonEmpty(String(value));
}

function strings(list: unknown[] | null | undefined): string[] {
  return (list ?? []).filter((item): item is string => typeof item === "string" && item !== "");
}
