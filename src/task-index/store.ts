// The cross-task index in D1 (binding INDEX, schema in migrations/): each task's row, written
// only by the task's own object, and the task list read from it, newest first.
import { publicBaseUrl } from "../config";
import type { TaskIndexEntry, TaskListItem } from "../contract";
import type { TaskStatus } from "../goapi/events";
import { imageUrl } from "../images/sources";
import type { ListPosition } from "./cursor";

const COLUMNS = "task_id, task_type, status, progress, created_at, updated_at, base_url, thumbnail";

/**
 * Writes the task's row, unless the row already holds a write of a newer `version`: a write that
 * lands late (a retry racing the one before it) never overwrites what came after it.
 */
export async function upsertIndexEntry(
  db: D1Database,
  entry: TaskIndexEntry,
  version: number,
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO tasks (${COLUMNS}, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (task_id) DO UPDATE SET task_type = excluded.task_type,
         status = excluded.status, progress = excluded.progress,
         created_at = excluded.created_at, updated_at = excluded.updated_at,
         base_url = excluded.base_url, thumbnail = excluded.thumbnail, version = excluded.version
       WHERE excluded.version > tasks.version`,
    )
    .bind(
      entry.task_id,
      entry.task_type,
      entry.status,
      entry.progress,
      entry.created_at,
      entry.updated_at,
      entry.base_url,
      entry.thumbnail,
      version,
    )
    .run();
}

/**
 * Up to `limit` tasks last updated before `before` (ISO), the oldest first, from after `after`
 * (a position in that order; null for the start).
 */
export async function listUpdatedBefore(
  db: D1Database,
  before: string,
  after: ListPosition | null,
  limit: number,
): Promise<ListPosition[]> {
  const from = after === null ? "" : "AND (updated_at, task_id) > (?, ?)";
  const { results } = await db
    .prepare(
      `SELECT updated_at, task_id FROM tasks WHERE updated_at < ? ${from}
       ORDER BY updated_at, task_id LIMIT ?`,
    )
    .bind(before, ...(after === null ? [] : [after.updated_at, after.task_id]), limit)
    .all<ListPosition>();
  return results;
}

/** Removes the task's row (an erased task). */
export async function deleteIndexEntry(db: D1Database, taskId: string): Promise<void> {
  await db.prepare("DELETE FROM tasks WHERE task_id = ?").bind(taskId).run();
}

/** One page of the list: newest first (by last update), optionally of one status. */
export interface ListQuery {
  status: TaskStatus | null;
  /** The previous page's last row; null for the first page. */
  after: ListPosition | null;
  limit: number;
}

export interface IndexPage {
  entries: TaskIndexEntry[];
  /** Where the next page starts; null on the last page. */
  next: ListPosition | null;
}

/** A page of the index, one query (it reads `limit + 1` rows to know whether more follow). */
export async function listIndexEntries(db: D1Database, query: ListQuery): Promise<IndexPage> {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (query.status !== null) {
    where.push("status = ?");
    params.push(query.status);
  }
  if (query.after !== null) {
    where.push("(updated_at, task_id) < (?, ?)");
    params.push(query.after.updated_at, query.after.task_id);
  }
  const { results } = await db
    .prepare(
      `SELECT ${COLUMNS} FROM tasks ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY updated_at DESC, task_id DESC LIMIT ?`,
    )
    .bind(...params, query.limit + 1)
    .all<TaskIndexEntry>();
  const entries = results.slice(0, query.limit);
  const last = entries.at(-1);
  return {
    entries,
    next:
      results.length > query.limit && last
        ? { updated_at: last.updated_at, task_id: last.task_id }
        : null,
  };
}

/** A row as `GET /v1/tasks` shows it, its thumbnail an absolute URL as in the task's view. */
export function listItem(entry: TaskIndexEntry, env: { PUBLIC_BASE_URL?: string }): TaskListItem {
  const base = publicBaseUrl(env, entry.base_url);
  return {
    task_id: entry.task_id,
    task_type: entry.task_type,
    status: entry.status,
    progress: entry.progress,
    created_at: entry.created_at,
    updated_at: entry.updated_at,
    thumbnail_url: entry.thumbnail === null ? null : imageUrl(base, entry.task_id, entry.thumbnail),
  };
}
