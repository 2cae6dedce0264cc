-- Schedules: a workflow run on a cron expression in an IANA time zone.
-- next_slot_at is the next slot's nominal time, next_run_at the same plus
-- this schedule's jitter (when the scheduler fires it); both NULL while no
-- slot is ahead. While a schedule is disabled next_slot_at stays where it was,
-- so enabling it records the slots it passed as skipped.
CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL,
  input TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  pause_note TEXT,
  overlap TEXT NOT NULL CHECK(overlap IN ('skip', 'buffer_one', 'allow_all', 'cancel_running')),
  catch_up TEXT NOT NULL CHECK(catch_up IN ('latest', 'all', 'skip')),
  catch_up_window_secs INTEGER NOT NULL,
  jitter_secs INTEGER NOT NULL,
  next_slot_at INTEGER,
  next_run_at INTEGER,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE,
  FOREIGN KEY (workflow_id) REFERENCES workflows(id) ON DELETE CASCADE,
  FOREIGN KEY (created_by) REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX idx_schedules_due ON schedules(next_run_at) WHERE enabled = 1;
CREATE INDEX idx_schedules_team ON schedules(team_id, created_at);

-- What became of each slot: fired (with its execution), buffered (waiting for
-- the running execution, overlap "buffer one"), or skipped (with the reason).
-- The primary key is the one-fire-per-slot guarantee: a slot is inserted in
-- the transaction that creates its execution and advances next_slot_at, and
-- a second insert of the same slot (another replica, an overlapping tick, a
-- restart) does nothing. Editing a schedule keeps its slots, so the key holds
-- across edits.
CREATE TABLE schedule_slots (
  schedule_id TEXT NOT NULL,
  slot_at INTEGER NOT NULL,
  team_id TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK(outcome IN ('fired', 'buffered', 'skipped')),
  reason TEXT,
  execution_id TEXT,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (schedule_id, slot_at),
  FOREIGN KEY (schedule_id) REFERENCES schedules(id) ON DELETE CASCADE
);
CREATE INDEX idx_schedule_slots_buffered ON schedule_slots(outcome) WHERE outcome = 'buffered';

-- The schedule an execution was fired by (overlap policies look for its
-- running executions).
ALTER TABLE executions ADD COLUMN schedule_id TEXT;
CREATE INDEX idx_executions_schedule ON executions(schedule_id, status);
