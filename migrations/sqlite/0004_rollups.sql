-- Analytics roll-ups: hourly sums kept up to date as executions and steps finish
-- (and rebuilt by `hummbl rollups rebuild`), so the analytics pages never scan
-- raw rows. hour is the start of the UTC hour the execution was created in;
-- user_id is '' for executions nobody started (schedules, the demo).

CREATE TABLE rollup_executions_hourly (
  team_id TEXT NOT NULL,
  hour INTEGER NOT NULL,
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  executions INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  PRIMARY KEY (team_id, hour, workflow_id, user_id, status)
);

-- Steps that called a provider (reused outputs of retries are not counted again).
CREATE TABLE rollup_steps_hourly (
  team_id TEXT NOT NULL,
  hour INTEGER NOT NULL,
  workflow_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  user_id TEXT NOT NULL,
  steps INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  PRIMARY KEY (team_id, hour, workflow_id, agent_id, model, status, user_id)
);

-- Who was active on which UTC day: console users with telemetry, users who ran executions.
CREATE TABLE rollup_active_users_daily (
  team_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (team_id, day, user_id)
);
