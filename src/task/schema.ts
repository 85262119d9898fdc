// The SQLite tables of one TaskObject (one Durable Object per GoAPI task): the single place where
// what midhook keeps about a task is defined, with the row types (./migrations brings any
// existing task's database up to date). Times in *_at TEXT columns are ISO-8601 UTC; INTEGER
// *_at columns are epoch milliseconds used for scheduling.
import type { DeliveryState, EventSource, ImageState } from "../contract";
import type { EventType, TaskStatus } from "../goapi/events";

/**
 * The version of the tables below; a database made by this code starts at it. Raising it needs
 * the upgrade from the version before in ./migrations.
 */
export const SCHEMA_VERSION = 5;

/** The tables of a new task. */
export const SCHEMA = `
-- One row: the version of these tables (see ./migrations).
CREATE TABLE schema_version (version INTEGER NOT NULL);

-- The task itself: one row. status/progress only ever move forward (see isStale).
-- task and images are WITHOUT ROWID tables. An ordinary table stores its rows under a hidden
-- integer rowid, so a TEXT PRIMARY KEY is a second index, and each insert writes two rows (each
-- billed as a row written). A WITHOUT ROWID table is stored under its primary key: one row.
-- Nothing reads these two tables' rowid, in this code or older code (a rollback). Databases made
-- by earlier code keep their rowid and are not rebuilt (that would write more rows than it saves):
-- both shapes are schema version 5, and behave the same for every statement midhook runs.
CREATE TABLE task (
  task_id     TEXT PRIMARY KEY,
  task_type   TEXT NOT NULL,
  model       TEXT NOT NULL,
  status      TEXT NOT NULL,          -- pending | processing | completed | failed
  progress    INTEGER NOT NULL,       -- highest progress recorded, 0-100
  created_at  TEXT NOT NULL,          -- first delivery received
  updated_at  TEXT NOT NULL,          -- last non-stale event
  base_url    TEXT NOT NULL           -- origin GoAPI called, for archived image URLs
) WITHOUT ROWID;

-- Each distinct event, once. identity = "<status>:<progress>" is unique, which is what makes a
-- redelivery a duplicate. payload is GoAPI's body with secrets removed, kept once: a delivery
-- reads the event's fields from it again, so that a payload of up to 1.5 MiB as stored (see
-- goapi/accept) stays within SQLite's 2 MB row.
-- forward_state is the outbox: 'waiting' until the event's deliveries exist (a completed event
-- waits for its images, every event waits for a valid SUBSCRIPTIONS), then 'released';
-- 'never' for stale events. seq is the rowid: events are only ever deleted all at once, so
-- among a task's events it grows with each insert, without AUTOINCREMENT's extra write to
-- sqlite_sequence. (Databases made by earlier code keep AUTOINCREMENT; both behave the same.)
CREATE TABLE events (
  seq           INTEGER PRIMARY KEY,
  id            TEXT NOT NULL UNIQUE,   -- evt_<32 hex>: the forwarded id and webhook-id
  identity      TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,          -- task.created | task.progress | task.completed | task.failed
  status        TEXT NOT NULL,
  progress      INTEGER NOT NULL,
  stale         INTEGER NOT NULL,       -- 1: arrived after a newer state; kept, never forwarded
  duplicates    INTEGER NOT NULL DEFAULT 0,
  received_at   TEXT NOT NULL,
  forward_state TEXT NOT NULL,          -- waiting | released | never
  payload       TEXT NOT NULL,
  source        TEXT NOT NULL DEFAULT 'webhook'  -- webhook | poll | submit: how midhook heard of it
);

-- Result images of the completed event, copied to R2 at tasks/{task_id}/{name}. WITHOUT ROWID:
-- see task above.
CREATE TABLE images (
  slot         TEXT PRIMARY KEY,        -- main | 1 | 2 ...
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
) WITHOUT ROWID;

-- Polling GoAPI for a task gone silent (one row once it was first polled). streak counts the
-- polls since the last event that was not a poll; the next poll is planned from it.
CREATE TABLE reconcile (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  polls        INTEGER NOT NULL,
  streak       INTEGER NOT NULL,
  last_poll_at INTEGER NOT NULL,
  last_error   TEXT
);

-- One row per (event, subscription): the source of truth for forwarding. series grows with
-- every new attempt series (replay, redeliver, a lost queue message re-sent); queue messages
-- of an older series are dropped. enqueued = 1 once the series' message is on the queue.
-- listing is the outbox of the dead-letter list: a failed delivery is 'add'ed to it, and a
-- restarted one 'remove'd, by the alarm, until the list has it ('listed') or not ('none').
-- deliveries keeps its rowid: the order they were made in is read from it (./deliveries,
-- ./holds), by older code too.
CREATE TABLE deliveries (
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
  listing         TEXT NOT NULL DEFAULT 'none',  -- none | add | listed | remove
  held            TEXT,                 -- 'paused': waits for its subscription to be back
  held_at         INTEGER,              -- when it was held, or its subscription last checked
  probe           INTEGER NOT NULL DEFAULT 0,    -- 1: this series probes a paused subscription
  lease_holder    TEXT,                 -- the queue message whose attempt took the lease
  lease_attempts  INTEGER,              -- which delivery of that message took it (its attempts)
  resends         INTEGER NOT NULL DEFAULT 0,  -- lost series whose message took the lease
  PRIMARY KEY (event_id, subscription)
);

-- The task's row in the cross-task index (D1): whether the index is behind this task, and what
-- was written there last. dirty_since is when the first change not yet written happened (NULL
-- when the index is up to date); version grows with every write (see nextIndexVersion).
CREATE TABLE index_sync (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  dirty_since INTEGER,                  -- epoch ms
  written     TEXT,                     -- the entry last written, as JSON; NULL: never
  written_at  INTEGER NOT NULL DEFAULT 0,
  version     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO index_sync (id) VALUES (1);

-- One row while the task is being erased (DELETE /v1/tasks/{id} or RETENTION_DAYS): its other
-- rows are gone already; what it has outside (R2 objects, its index row, dead letters) is
-- removed next, and the alarm tries again until that is done and the storage is deleted.
CREATE TABLE erasure (
  task_id    TEXT NOT NULL,
  started_at TEXT NOT NULL
);
`;

export type TaskRow = {
  task_id: string;
  task_type: string;
  model: string;
  status: TaskStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  base_url: string;
};

export type EventRow = {
  seq: number;
  id: string;
  identity: string;
  type: EventType;
  status: TaskStatus;
  progress: number;
  stale: number;
  duplicates: number;
  received_at: string;
  forward_state: "waiting" | "released" | "never";
  payload: string;
  source: EventSource;
};

export type ReconcileRow = {
  polls: number;
  streak: number;
  /** When GoAPI answered the latest poll; when it was asked, if an event came meanwhile. */
  last_poll_at: number;
  last_error: string | null;
};

export type ImageRow = {
  slot: string;
  position: number;
  name: string;
  source_url: string;
  state: ImageState;
  content_type: string | null;
  bytes: number | null;
  sha256: string | null;
  error: string | null;
  attempts: number;
  next_try_at: number;
};

export type DeliveryRow = {
  event_id: string;
  subscription: string;
  state: DeliveryState;
  series: number;
  attempts: number;
  enqueued: number;
  next_attempt_at: number;
  lease_until: number;
  last_status: number | null;
  last_error: string | null;
  finished_at: string | null;
  listing: "none" | "add" | "listed" | "remove";
  held: "paused" | null;
  held_at: number | null;
  probe: number;
  lease_holder: string | null;
  lease_attempts: number | null;
  resends: number;
};

export type IndexSyncRow = {
  dirty_since: number | null;
  written: string | null;
  written_at: number;
  version: number;
};
