-- The cross-task index (D1 database midhook-index, binding INDEX): one row per task with what
-- the task list and the console's gallery show. A view, not the truth: each task's Durable
-- Object writes its own row (src/task/index-sync.ts) and can write it again at any time.
CREATE TABLE tasks (
  task_id     TEXT PRIMARY KEY,
  task_type   TEXT NOT NULL,
  status      TEXT NOT NULL,      -- pending | processing | completed | failed
  progress    INTEGER NOT NULL,   -- 0-100
  created_at  TEXT NOT NULL,      -- ISO-8601 UTC, as the task's object has it
  updated_at  TEXT NOT NULL,      -- the task's last non-stale event: the list's order
  base_url    TEXT NOT NULL,      -- origin GoAPI called, for thumbnail_url (PUBLIC_BASE_URL wins)
  thumbnail   TEXT,               -- name of the archived main image (main.png), or NULL
  version     INTEGER NOT NULL    -- grows with every write: a late write never wins
);

-- Newest first, and newest first within a status, with task_id to break ties (the cursor).
CREATE INDEX tasks_by_update ON tasks (updated_at DESC, task_id DESC);
CREATE INDEX tasks_by_status ON tasks (status, updated_at DESC, task_id DESC);
