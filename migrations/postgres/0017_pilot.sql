-- Who viewed which page on which UTC day: one row per user, page and day,
-- added by the telemetry writer in its bulk transaction (and by the roll-up
-- rebuild). The pilot's adoption counts users from it, never rows.
CREATE TABLE rollup_page_viewers_daily (
  team_id TEXT NOT NULL,
  day BIGINT NOT NULL,
  component_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (team_id, day, component_id, user_id)
);

-- A team's pilot: its window (UTC dates, both included), its targets (JSON,
-- pilot::Targets), and the two values no telemetry can know, each with its
-- source and who entered it when. No row: the defaults.
CREATE TABLE pilot_settings (
  team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
  window_start TEXT NOT NULL,
  window_end TEXT NOT NULL,
  targets TEXT NOT NULL,
  build_hours DOUBLE PRECISION,
  build_hours_source TEXT,
  build_hours_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  build_hours_at BIGINT,
  code_reuse DOUBLE PRECISION,
  code_reuse_source TEXT,
  code_reuse_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  code_reuse_at BIGINT,
  updated_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  updated_at BIGINT NOT NULL
);

-- Frozen evaluations: written once, never updated (the JSON is the whole
-- evaluation as it was; decision and passed are repeated for listing).
CREATE TABLE pilot_snapshots (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  frozen_at BIGINT NOT NULL,
  frozen_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  evaluation TEXT NOT NULL,
  decision TEXT NOT NULL,
  passed BIGINT NOT NULL
);
CREATE INDEX idx_pilot_snapshots_team ON pilot_snapshots(team_id, frozen_at);
