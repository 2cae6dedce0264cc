-- HUMMBL foundation schema (PostgreSQL). Kept in step with migrations/sqlite.
-- Timestamps are integer milliseconds since the Unix epoch; money is integer
-- micro-dollars; JSON is TEXT. Tables from the pilot plan keep its names and
-- columns; columns were only added.

-- People who log in. Email is stored lower-cased and is unique.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- Teams own everything else. owner_id is the creator (seed column); who owns the
-- team now is told by team_members.role = 'owner' (there may be several).
CREATE TABLE teams (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  is_demo BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE team_members (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK(role IN ('owner', 'admin', 'member', 'viewer')),
  invited_by TEXT,
  joined_at BIGINT,
  FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE,
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
  UNIQUE (team_id, user_id)
);
CREATE INDEX idx_team_members_user ON team_members(user_id);

-- Server-side sessions. id is the SHA-256 of the cookie's token, so a leaked
-- table does not hand out live cookies. team_id is the team the session works in.
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  ip TEXT,
  user_agent TEXT
);
CREATE INDEX idx_sessions_user ON sessions(user_id);
CREATE INDEX idx_sessions_expires ON sessions(expires_at);

-- Personal API tokens (Authorization: Bearer). Only the SHA-256 is kept; prefix
-- is the first characters, shown so people can tell tokens apart.
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  expires_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX idx_api_tokens_user ON api_tokens(user_id);

-- Who did what, per team. detail is JSON.
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  team_id TEXT,
  actor_user_id TEXT,
  action TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  detail TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX idx_audit_team_time ON audit_log(team_id, created_at);

-- BaseN component registry (seed table). enabled is the instance-wide switch;
-- teams may switch a component off for themselves in team_components.
CREATE TABLE basen_components (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  domain TEXT NOT NULL,
  route TEXT NOT NULL,
  transformations TEXT,
  version TEXT NOT NULL,
  enabled BOOLEAN DEFAULT true,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'page'
);

-- Each version a component was registered with, oldest first.
CREATE TABLE component_versions (
  id TEXT PRIMARY KEY,
  component_id TEXT NOT NULL REFERENCES basen_components(id),
  version TEXT NOT NULL,
  previous_version TEXT,
  recorded_at BIGINT NOT NULL
);
CREATE INDEX idx_component_versions_component ON component_versions(component_id);

CREATE TABLE team_components (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  component_id TEXT NOT NULL REFERENCES basen_components(id),
  enabled BOOLEAN NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT,
  PRIMARY KEY (team_id, component_id)
);

-- T4 Observation (seed tables), scoped by team.
CREATE TABLE component_metrics (
  id TEXT PRIMARY KEY,
  component_id TEXT NOT NULL,
  metric_name TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  metadata TEXT,
  user_id TEXT,
  timestamp BIGINT NOT NULL,
  team_id TEXT,
  FOREIGN KEY (component_id) REFERENCES basen_components(id)
);
CREATE INDEX idx_metrics_component ON component_metrics(component_id);
CREATE INDEX idx_metrics_timestamp ON component_metrics(timestamp);

CREATE TABLE user_actions (
  id TEXT PRIMARY KEY,
  user_id TEXT,
  action_type TEXT NOT NULL,
  component_id TEXT,
  payload TEXT,
  timestamp BIGINT NOT NULL,
  team_id TEXT,
  session_id TEXT,
  FOREIGN KEY (component_id) REFERENCES basen_components(id)
);
CREATE INDEX idx_actions_user ON user_actions(user_id);
CREATE INDEX idx_actions_timestamp ON user_actions(timestamp);

-- Workflows, executions and their step results: the seed queries these without
-- defining them. definition is the workflow's JSON (steps and dependencies).
CREATE TABLE workflows (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT,
  definition TEXT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  created_by TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX idx_workflows_team ON workflows(team_id);

CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  workflow_id TEXT NOT NULL REFERENCES workflows(id),
  workflow_version BIGINT NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  input TEXT,
  error TEXT,
  triggered_by TEXT,
  user_id TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  completed_at BIGINT
);
CREATE INDEX idx_executions_team_created ON executions(team_id, created_at);
CREATE INDEX idx_executions_status ON executions(status);

CREATE TABLE task_results (
  id TEXT PRIMARY KEY,
  execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL,
  task_name TEXT NOT NULL,
  agent_id TEXT,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  error TEXT,
  started_at BIGINT,
  completed_at BIGINT
);
CREATE INDEX idx_task_results_execution ON task_results(execution_id);
CREATE INDEX idx_task_results_completed ON task_results(completed_at);

-- Provider keys (seed table); the encryption scheme's columns come with the vault.
CREATE TABLE api_keys_secure (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  key_encrypted TEXT NOT NULL,
  key_last_4 TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE
);

CREATE TABLE scheduled_workflows (
  id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  cron_expression TEXT NOT NULL,
  enabled BOOLEAN DEFAULT true,
  last_run_at BIGINT,
  next_run_at BIGINT,
  created_at BIGINT NOT NULL,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  timezone TEXT NOT NULL DEFAULT 'UTC',
  FOREIGN KEY (workflow_id) REFERENCES workflows(id)
);

CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  type TEXT NOT NULL,
  title TEXT NOT NULL,
  message TEXT,
  link TEXT,
  read BOOLEAN DEFAULT false,
  created_at BIGINT NOT NULL,
  team_id TEXT REFERENCES teams(id) ON DELETE CASCADE
);
CREATE INDEX idx_notifications_user ON notifications(user_id, created_at);
