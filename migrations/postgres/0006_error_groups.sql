-- Error log: failed steps grouped by fingerprint (agent, error class, message with
-- ids and numbers normalized), kept up to date as steps fail. A resolved group
-- that fails again reopens (reopened_at says when).
CREATE TABLE error_groups (
  team_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  error_class TEXT NOT NULL,
  message TEXT NOT NULL,
  last_error TEXT NOT NULL,
  last_task_id TEXT,
  last_execution_id TEXT,
  workflow_id TEXT,
  occurrences BIGINT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  resolved_at BIGINT,
  resolved_by TEXT,
  reopened_at BIGINT,
  PRIMARY KEY (team_id, fingerprint)
);
CREATE INDEX idx_error_groups_last_seen ON error_groups(team_id, last_seen);
