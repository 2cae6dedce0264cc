-- Analytics roll-ups: hourly sums kept up to date as executions and steps finish
-- (and rebuilt by `hummbl rollups rebuild`), so the analytics pages never scan
-- raw rows. hour is the start of the UTC hour the execution was created in;
-- user_id is '' for executions nobody started (schedules, the demo).

CREATE TABLE rollup_executions_hourly (
  team_id TEXT NOT NULL,
  hour BIGINT NOT NULL,
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  executions BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  cost_micros BIGINT NOT NULL,
  PRIMARY KEY (team_id, hour, workflow_id, user_id, status)
);

-- Steps that called a provider (reused outputs of retries are not counted again).
CREATE TABLE rollup_steps_hourly (
  team_id TEXT NOT NULL,
  hour BIGINT NOT NULL,
  workflow_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  user_id TEXT NOT NULL,
  steps BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  cost_micros BIGINT NOT NULL,
  latency_ms BIGINT NOT NULL,
  PRIMARY KEY (team_id, hour, workflow_id, agent_id, model, status, user_id)
);

-- Who was active on which UTC day: console users with telemetry, users who ran executions.
CREATE TABLE rollup_active_users_daily (
  team_id TEXT NOT NULL,
  day BIGINT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (team_id, day, user_id)
);
