-- Daily roll-ups: the same sums per UTC day, so a page over 90 days reads a few
-- thousand rows instead of hours' worth. day is the start of the UTC day.

CREATE TABLE rollup_executions_daily (
  team_id TEXT NOT NULL,
  day BIGINT NOT NULL,
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  executions BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  cost_micros BIGINT NOT NULL,
  PRIMARY KEY (team_id, day, workflow_id, user_id, status)
);

-- Steps that called a provider (reused outputs of retries are not counted again).
CREATE TABLE rollup_steps_daily (
  team_id TEXT NOT NULL,
  day BIGINT NOT NULL,
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
  PRIMARY KEY (team_id, day, workflow_id, agent_id, model, status, user_id)
);

