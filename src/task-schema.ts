// The SQLite tables of one TaskObject (one Durable Object per GoAPI task): the single place
// where what midhook keeps about a task is defined.

export const TASK_SCHEMA = `
-- The task itself: one row. status/progress only ever move forward (see isStale).
CREATE TABLE IF NOT EXISTS task (
  task_id     TEXT PRIMARY KEY,
  task_type   TEXT NOT NULL,
  model       TEXT NOT NULL,
  status      TEXT NOT NULL,          -- pending | processing | completed | failed
  progress    INTEGER NOT NULL,       -- highest progress recorded, 0-100
  created_at  TEXT NOT NULL,          -- ISO-8601 UTC, first delivery received
  updated_at  TEXT NOT NULL           -- ISO-8601 UTC, last non-stale event
);

-- Each distinct event, once. identity = "<status>:<progress>" (SPEC §3) is unique, which is
-- what makes a redelivery a duplicate. payload is GoAPI's body with secrets removed; event
-- is the normalized TaskEvent as JSON. Archiving and forwarding read from here.
CREATE TABLE IF NOT EXISTS events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL UNIQUE,   -- evt_<32 hex>, stable for the event's lifetime
  identity    TEXT NOT NULL UNIQUE,
  type        TEXT NOT NULL,          -- task.created | task.progress | task.completed | task.failed
  status      TEXT NOT NULL,
  progress    INTEGER NOT NULL,
  stale       INTEGER NOT NULL,       -- 1: arrived after a newer state; recorded, never forwarded
  duplicates  INTEGER NOT NULL DEFAULT 0,
  received_at TEXT NOT NULL,
  event       TEXT NOT NULL,
  payload     TEXT NOT NULL
);
`;
