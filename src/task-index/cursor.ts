// The task list's cursor: where a page ended, as an opaque string (pure).
import { TASK_ID_PATTERN } from "../goapi/schema";
import { decodeBase64Url, encodeBase64Url } from "../lib/bytes";

/** A task's place in the index's order, (updated_at, task_id): where a page or a sweep stopped. */
export interface ListPosition {
  updated_at: string;
  task_id: string;
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

/** `position` as a URL-safe string (base64url of a small JSON array). */
export function encodeCursor(position: ListPosition): string {
  const json = JSON.stringify([position.updated_at, position.task_id]);
  return encodeBase64Url(new TextEncoder().encode(json));
}

/** The position a cursor names, or null when it is not one this code made. */
export function decodeCursor(cursor: string): ListPosition | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return null;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(decodeBase64Url(cursor)));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [updatedAt, taskId] = value;
  if (typeof updatedAt !== "string" || !ISO_TIME.test(updatedAt)) return null;
  if (typeof taskId !== "string" || !TASK_ID_PATTERN.test(taskId)) return null;
  return { updated_at: updatedAt, task_id: taskId };
}
