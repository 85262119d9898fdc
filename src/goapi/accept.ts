// A GoAPI body as midhook records it, whichever way it came (webhook, submission, poll): secrets
// removed first, so that no field read from it can carry one, then parsed and normalized.
import type { TaskEvent } from "./events";
import { parseGoapiPayload } from "./normalize";
import { removeSecrets } from "./sanitize";

/**
 * The most a stored payload may take. A Durable Object's SQLite row holds at most 2 MB, and the
 * event's other columns share it. A body under the 1 MiB limit grows when it is re-serialised
 * (`1e20` is written out in 21 digits), so the stored form is what is checked.
 */
const MAX_STORED_PAYLOAD_BYTES = 1.5 * 1024 * 1024;

export type Accepted =
  | { ok: true; event: TaskEvent; payload: string }
  | { ok: false; error: string };

/**
 * A task object from GoAPI's task API (what a submission or a poll is answered) as the unified
 * API's webhook body, `{ timestamp, data }`: it is then recorded as that webhook would be.
 */
export function asWebhookBody(
  data: Record<string, unknown>,
  nowMs: number,
): { timestamp: number; data: Record<string, unknown> } {
  return { timestamp: Math.floor(nowMs / 1000), data };
}

/** `body` cleaned of `secrets` and normalized, with the cleaned payload to store. */
export function acceptGoapiBody(body: unknown, secrets: readonly string[]): Accepted {
  const clean = removeSecrets(body, secrets);
  const parsed = parseGoapiPayload(clean);
  if (!parsed.ok) return parsed;
  const payload = JSON.stringify(clean);
  // At most 3 bytes of UTF-8 per UTF-16 unit: only a payload that might be too large is encoded.
  if (payload.length * 3 > MAX_STORED_PAYLOAD_BYTES) {
    const bytes = new TextEncoder().encode(payload).byteLength;
    if (bytes > MAX_STORED_PAYLOAD_BYTES) {
      return {
        ok: false,
        error: `the payload takes ${bytes} bytes once stored, over ${MAX_STORED_PAYLOAD_BYTES}: numbers in it are written out in full`,
      };
    }
  }
  return { ok: true, event: parsed.value, payload };
}

/** A status GoAPI has not used before is recorded as processing, and said, wherever it is heard. */
export function warnIfUnknownStatus(event: TaskEvent): void {
  if (event.statusKnown) return;
  console.warn("unknown GoAPI status, recorded as processing", {
    task_id: event.taskId,
    status: event.rawStatus.slice(0, 40),
  });
}
