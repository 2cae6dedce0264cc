-- The agent runtime: the provider key vault, agents, workflow versions, execution
-- leases and step accounting, and the model price table.

-- Provider keys: key_encrypted holds base64(AES-256-GCM ciphertext and tag), nonce
-- the base64 96-bit nonce used for it, key_version the master-key generation it
-- was sealed under. status is 'active' or 'invalid' (the provider refused it).
ALTER TABLE api_keys_secure ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys_secure ADD COLUMN base_url TEXT;
ALTER TABLE api_keys_secure ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys_secure ADD COLUMN key_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE api_keys_secure ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE api_keys_secure ADD COLUMN status_detail TEXT;
ALTER TABLE api_keys_secure ADD COLUMN updated_at BIGINT;
CREATE INDEX idx_api_keys_team ON api_keys_secure(team_id);

-- One row: the master key's generation and a check value computed from it, so a
-- wrong master key stops start-up instead of failing at the first decryption.
CREATE TABLE vault_state (
  id BIGINT PRIMARY KEY CHECK (id = 1),
  key_version BIGINT NOT NULL,
  check_value TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  key_id TEXT REFERENCES api_keys_secure(id) ON DELETE SET NULL,
  instructions TEXT NOT NULL DEFAULT '',
  parameters TEXT NOT NULL DEFAULT '{}',
  created_by TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  archived_at BIGINT
);
CREATE INDEX idx_agents_team ON agents(team_id);

-- Every saved definition of a workflow; workflows.version is the latest.
CREATE TABLE workflow_versions (
  workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version BIGINT NOT NULL,
  definition TEXT NOT NULL,
  created_by TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, version)
);
ALTER TABLE workflows ADD COLUMN archived_at BIGINT;

-- Executions: the runner holding one (lease_owner) and until when; how often it
-- was recovered from a dead runner; the execution it retries and from where
-- ('failed_step' or 'start'); who cancelled it; running totals of its steps.
ALTER TABLE executions ADD COLUMN lease_owner TEXT;
ALTER TABLE executions ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE executions ADD COLUMN recoveries BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN retry_of TEXT;
ALTER TABLE executions ADD COLUMN retry_from TEXT;
ALTER TABLE executions ADD COLUMN cancelled_by TEXT;
ALTER TABLE executions ADD COLUMN steps_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN steps_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN updated_at BIGINT;
CREATE INDEX idx_executions_claim ON executions(status, lease_expires_at);
CREATE INDEX idx_executions_team_status ON executions(team_id, status, created_at);
CREATE INDEX idx_executions_team_workflow ON executions(team_id, workflow_id, created_at);

-- One row per step of an execution (task_name is the step id). Tokens as the
-- provider reported them: input excludes cached input; cost in micro-dollars from
-- the price table; reused_from names the row a retry copied a finished output from.
ALTER TABLE task_results ADD COLUMN provider TEXT;
ALTER TABLE task_results ADD COLUMN model TEXT;
ALTER TABLE task_results ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_results ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_results ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_results ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_results ADD COLUMN latency_ms BIGINT;
ALTER TABLE task_results ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_results ADD COLUMN error_class TEXT;
ALTER TABLE task_results ADD COLUMN provider_response TEXT;
ALTER TABLE task_results ADD COLUMN reused_from TEXT;
CREATE UNIQUE INDEX idx_task_results_step ON task_results(execution_id, task_name);
CREATE INDEX idx_task_results_team_status ON task_results(team_id, status, completed_at);

-- Admin overrides of the built-in model prices (src/prices.rs), per team, in
-- micro-dollars per million tokens, each valid from effective_from on.
CREATE TABLE model_prices (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  input_micros_per_mtok BIGINT NOT NULL,
  output_micros_per_mtok BIGINT NOT NULL,
  cached_micros_per_mtok BIGINT NOT NULL,
  effective_from BIGINT NOT NULL,
  note TEXT,
  created_by TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX idx_model_prices_lookup ON model_prices(team_id, provider, model, effective_from);
