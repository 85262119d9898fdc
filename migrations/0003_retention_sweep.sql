-- Where the retention sweep (src/retention-sweep.ts) goes on from: the last task it asked, oldest
-- first by (updated_at, task_id), and the RETENTION_DAYS it was asking under. At most one row;
-- none between passes.
CREATE TABLE retention_sweep (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  days        INTEGER NOT NULL,
  updated_at  TEXT NOT NULL,
  task_id     TEXT NOT NULL
);
