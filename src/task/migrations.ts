// Bringing a task's database to the current tables (./schema): the whole schema for a new task,
// the upgrades in order for an older one (from version 2 on, each safe to run again after a
// rollback).
import { SCHEMA, SCHEMA_VERSION } from "./schema";

/** One upgrade: SQL, or a function of the database. */
type Upgrade = string | ((sql: SqlStorage) => void);

/**
 * UPGRADES[n] brings a database from version n to n + 1.
 * Append only: a deployed upgrade never changes, because millions of task databases may already
 * have run it. Version 1 is the schema of the databases made before versions were recorded.
 * From version 2 on, an upgrade must be safe to run twice: code older than it, run after it (a
 * rollback), writes its own version over the newer one, and the next deploy runs it again.
 */
const UPGRADES: ReadonlyMap<number, Upgrade> = new Map<number, Upgrade>([
  // Every attempt was also logged to an `attempts` table that nothing read, and each event kept
  // a normalized copy of its payload's fields beside the payload (up to twice the body's size).
  // Failed deliveries were listed by a queue consumer; the task now lists them itself. Events
  // say how midhook heard of them, and a silent task is polled at GoAPI.
  [
    1,
    `DROP TABLE IF EXISTS attempts;
     ALTER TABLE events DROP COLUMN event;
     ALTER TABLE deliveries ADD COLUMN listing TEXT NOT NULL DEFAULT 'none';
     UPDATE deliveries SET listing = 'listed' WHERE state = 'failed';
     ALTER TABLE deliveries ADD COLUMN held TEXT;
     ALTER TABLE deliveries ADD COLUMN held_at INTEGER;
     ALTER TABLE deliveries ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';
     CREATE TABLE reconcile (id INTEGER PRIMARY KEY CHECK (id = 1), polls INTEGER NOT NULL,
       streak INTEGER NOT NULL, last_poll_at INTEGER NOT NULL, last_error TEXT);`,
  ],
  // The cross-task index and erasure. A task recorded before the index is written to it at
  // its next alarm (dirty since 0: due at once).
  [
    2,
    `CREATE TABLE IF NOT EXISTS index_sync (
       id          INTEGER PRIMARY KEY CHECK (id = 1),
       dirty_since INTEGER,
       written     TEXT,
       written_at  INTEGER NOT NULL DEFAULT 0,
       version     INTEGER NOT NULL DEFAULT 0
     );
     INSERT OR IGNORE INTO index_sync (id, dirty_since) VALUES (1, 0);
     CREATE TABLE IF NOT EXISTS erasure (task_id TEXT NOT NULL, started_at TEXT NOT NULL);`,
  ],
  // A lease names the queue message that took it, and which delivery of it, so that the queue
  // offering that message again (its attempt failed or died) is attempted, not taken for a
  // duplicate.
  [
    3,
    (sql) => {
      addColumnIfMissing(sql, "deliveries", "lease_holder", "TEXT");
      addColumnIfMissing(sql, "deliveries", "lease_attempts", "INTEGER");
    },
  ],
  // Re-sent messages are counted, so that a delivery whose messages keep failing ends (see
  // TaskDeliveryQueue.enqueueDue). lease_attempts again: an early build of version 4 lacked it.
  [
    4,
    (sql) => {
      addColumnIfMissing(sql, "deliveries", "lease_attempts", "INTEGER");
      addColumnIfMissing(sql, "deliveries", "resends", "INTEGER NOT NULL DEFAULT 0");
    },
  ],
]);

/** Adds a column unless it is there already (an upgrade run again after a rollback). */
function addColumnIfMissing(sql: SqlStorage, table: string, column: string, type: string): void {
  const exists = sql
    .exec("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", table, column)
    .toArray();
  if (exists.length === 0) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
}

/**
 * Brings the task's database to SCHEMA_VERSION: the whole schema when it is new, the upgrades in
 * order when it is older, two small reads when it is current.
 */
export function migrate(sql: SqlStorage): void {
  const tables = sql
    .exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('task', 'schema_version')",
    )
    .toArray()
    .map((row) => row.name);
  if (!tables.includes("task")) {
    sql.exec(SCHEMA);
    sql.exec("INSERT INTO schema_version (version) VALUES (?)", SCHEMA_VERSION);
    return;
  }
  const version = tables.includes("schema_version")
    ? sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version
    : 1;
  // A newer version is left alone: this code is older than the database (a rollback), and the
  // newer code that comes back must find its own version.
  if (version >= SCHEMA_VERSION) return;
  for (let from = version; from < SCHEMA_VERSION; from++) {
    const upgrade = UPGRADES.get(from);
    if (upgrade === undefined) throw new Error(`no upgrade from task schema ${from}`);
    if (typeof upgrade === "string") sql.exec(upgrade);
    else upgrade(sql);
  }
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  sql.exec("DELETE FROM schema_version");
  sql.exec("INSERT INTO schema_version (version) VALUES (?)", SCHEMA_VERSION);
}
