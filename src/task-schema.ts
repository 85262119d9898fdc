// The SQLite tables of one TaskObject (one Durable Object per GoAPI task): the single place
// where what midhook keeps about a task is defined. Times in *_at TEXT columns are ISO-8601
// UTC; INTEGER *_at columns are epoch milliseconds used for scheduling.

export const TASK_SCHEMA = `
-- The task itself: one row. status/progress only ever move forward (see isStale).
CREATE TABLE IF NOT EXISTS task (
  task_id     TEXT PRIMARY KEY,
  task_type   TEXT NOT NULL,
  model       TEXT NOT NULL,
  status      TEXT NOT NULL,          -- pending | processing | completed | failed
  progress    INTEGER NOT NULL,       -- highest progress recorded, 0-100
  created_at  TEXT NOT NULL,          -- first delivery received
  updated_at  TEXT NOT NULL,          -- last non-stale event
  base_url    TEXT NOT NULL           -- origin GoAPI called, for archived image URLs
);

-- Each distinct event, once. identity = "<status>:<progress>" (SPEC §3) is unique, which is
-- what makes a redelivery a duplicate. payload is GoAPI's body with secrets removed; event is
-- the normalized TaskEvent as JSON. Archiving and forwarding read from here.
-- forward_state is the outbox: 'waiting' until the event's deliveries exist (a completed
-- event waits for its images, every event waits for a valid SUBSCRIPTIONS), then 'released';
-- 'never' for stale events.
CREATE TABLE IF NOT EXISTS events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT NOT NULL UNIQUE,   -- evt_<32 hex>: the forwarded id and webhook-id
  identity      TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,          -- task.created | task.progress | task.completed | task.failed
  status        TEXT NOT NULL,
  progress      INTEGER NOT NULL,
  stale         INTEGER NOT NULL,       -- 1: arrived after a newer state; kept, never forwarded
  duplicates    INTEGER NOT NULL DEFAULT 0,
  received_at   TEXT NOT NULL,
  forward_state TEXT NOT NULL,          -- waiting | released | never
  event         TEXT NOT NULL,
  payload       TEXT NOT NULL
);

-- Result images of the completed event, copied to R2 at tasks/{task_id}/{name}.
CREATE TABLE IF NOT EXISTS images (
  slot         TEXT PRIMARY KEY,        -- main | 1 | 2 ... (SPEC §4)
  position     INTEGER NOT NULL,
  name         TEXT NOT NULL,           -- slot.extension once the content type is known
  source_url   TEXT NOT NULL,
  state        TEXT NOT NULL,           -- pending | stored | failed
  content_type TEXT,
  bytes        INTEGER,
  sha256       TEXT,
  error        TEXT,
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_try_at  INTEGER NOT NULL
);

-- One row per (event, subscription): the source of truth for forwarding. series grows with
-- every new attempt series (replay, redeliver, a lost queue message re-sent); queue messages
-- of an older series are dropped. enqueued = 1 once the series' message is on the queue.
CREATE TABLE IF NOT EXISTS deliveries (
  event_id        TEXT NOT NULL,
  subscription    TEXT NOT NULL,
  state           TEXT NOT NULL,        -- pending | delivered | failed
  series          INTEGER NOT NULL DEFAULT 1,
  attempts        INTEGER NOT NULL DEFAULT 0,  -- in the current series
  enqueued        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER NOT NULL DEFAULT 0,  -- an attempt is in flight until then
  last_status     INTEGER,
  last_error      TEXT,
  finished_at     TEXT,                 -- delivered or failed
  PRIMARY KEY (event_id, subscription)
);

-- Every delivery attempt, for the record.
CREATE TABLE IF NOT EXISTS attempts (
  event_id     TEXT NOT NULL,
  subscription TEXT NOT NULL,
  series       INTEGER NOT NULL,
  attempt      INTEGER NOT NULL,
  at           TEXT NOT NULL,
  status       INTEGER,                 -- HTTP status, null when no answer
  error        TEXT,
  duration_ms  INTEGER NOT NULL
);
`;
