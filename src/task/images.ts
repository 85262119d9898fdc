// A task's result images: which are to be copied into R2, the copies themselves (run by the
// alarm) with their retries, and where each one stands.
import { imageLimits } from "../config";
import type { ImageSource } from "../goapi/events";
import { archiveImage } from "../images/archive";
import { IMAGE_COPY_TIMEOUT_MS, imageError, imageRetry } from "../images/policy";
import { fallbackName } from "../images/sources";
import type { ImageRow } from "./schema";

/**
 * Copies run at once per task: a copy holds at most 9 MiB in memory (one 8 MiB part and the
 * 1 MiB it reads into), and an isolate has 128 MB, so four leave room where seventeen (a grid
 * and 16 tiles) would not.
 */
const COPIES_AT_ONCE = 4;

export class TaskImages {
  readonly #sql: SqlStorage;
  readonly #env: Env;

  constructor(sql: SqlStorage, env: Env) {
    this.#sql = sql;
    this.#env = env;
  }

  /** Queues the completed event's images for copying, once each (a repeat is ignored). */
  add(sources: readonly ImageSource[], now: number): void {
    sources.forEach((image, position) => {
      this.#sql.exec(
        `INSERT OR IGNORE INTO images (slot, position, name, source_url, state, next_try_at)
         VALUES (?, ?, ?, ?, 'pending', ?)`,
        image.name,
        position,
        fallbackName(image.name, image.url),
        image.url,
        now,
      );
    });
  }

  /** Whether any image is still to be copied (the completed event waits for them). */
  anyPending(): boolean {
    return this.nextTryAt() !== null;
  }

  /** When the next copy is due, or null when every image is settled. */
  nextTryAt(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(
        "SELECT MIN(next_try_at) AS t FROM images WHERE state = 'pending'",
      )
      .one().t;
  }

  /** Every image, in the order of the event's list. */
  list(): ImageRow[] {
    return this.#sql.exec<ImageRow>("SELECT * FROM images ORDER BY position").toArray();
  }

  /**
   * Copies every image that is due, recording each result or scheduling its next try; once the
   * task's erasure has begun (`erasing`), starts no copy and records none. Calls `stored` as
   * each image (the main one or a tile) is recorded as stored, right after its row is written
   * and never once erasure has begun, while the others may still copy; it must not throw.
   */
  async copyDue(taskId: string, erasing: () => boolean, stored: () => void): Promise<void> {
    const due = this.#sql
      .exec<ImageRow>(
        "SELECT * FROM images WHERE state = 'pending' AND next_try_at <= ? ORDER BY position",
        Date.now(),
      )
      .toArray();
    if (due.length === 0) return;
    const limits = { ...imageLimits(this.#env), timeoutMs: IMAGE_COPY_TIMEOUT_MS };
    await eachWithLimit(due, COPIES_AT_ONCE, async (image) => {
      if (erasing()) return;
      const result = await archiveImage(
        this.#env.IMAGES,
        taskId,
        image.slot,
        image.source_url,
        limits,
      );
      // Erased while it copied: its row is gone, and one of the same slot may be a later
      // event's, not this copy's (the object it stored goes with the erasure).
      if (erasing()) return;
      const attempts = image.attempts + 1;
      if (result.ok) {
        this.#sql.exec(
          `UPDATE images SET state = 'stored', name = ?, content_type = ?, bytes = ?, sha256 = ?,
             error = NULL, attempts = ? WHERE slot = ?`,
          result.name,
          result.contentType,
          result.bytes,
          result.sha256,
          attempts,
          image.slot,
        );
        stored();
        return;
      }
      const next = imageRetry(attempts, result.retryable, Date.now());
      const error = imageError(result.error, attempts, next, result.retryable);
      console.warn(`task ${taskId}: image ${image.slot}: ${error}`);
      this.#sql.exec(
        "UPDATE images SET state = ?, name = ?, error = ?, attempts = ?, next_try_at = ? WHERE slot = ?",
        next.state,
        result.name,
        error,
        attempts,
        next.state === "pending" ? next.nextTryAt : Date.now(),
        image.slot,
      );
    });
  }
}

/** Runs `work` on every item, at most `limit` at a time. */
async function eachWithLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i];
      if (item !== undefined) await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
