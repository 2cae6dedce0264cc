-- Daily roll-ups: the same sums per UTC day, so a page over 90 days reads a few
-- thousand rows instead of hours' worth. day is the start of the UTC day.

CREATE TABLE rollup_executions_daily (
  team_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  executions INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  cost_micros INTEGER NOT NULL,
  PRIMARY KEY (team_id, day, workflow_id, user_id, status)
);

-- Steps that called a provider (reused outputs of retries are not counted again).
CREATE TABLE rollup_steps_daily (
  team_id TEXT NOT NULL,
  day INTEGER NOT NULL,
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
  PRIMARY KEY (team_id, day, workflow_id, agent_id, model, status, user_id)
);

