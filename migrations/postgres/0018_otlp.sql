-- OpenTelemetry traces from a team's own services (POST /v1/traces).
--
-- otlp_spans is a queue: the telemetry writer inserts each accepted span (the
-- fields HUMMBL keeps, already read from its attributes) in its group commit,
-- and the `otlp` worker folds them into executions, steps and roll-ups, then
-- deletes them. `genai` marks a model call (it becomes a step); other spans
-- only widen their trace's timing frame. Tokens as sent: input includes the
-- cached tokens (the GenAI conventions' rule; see otlp::mapping).
CREATE TABLE otlp_spans (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  service TEXT NOT NULL,
  name TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  failed BIGINT NOT NULL DEFAULT 0,
  error TEXT,
  error_type TEXT,
  genai BIGINT NOT NULL DEFAULT 0,
  provider TEXT,
  model TEXT,
  input_tokens BIGINT NOT NULL DEFAULT 0,
  output_tokens BIGINT NOT NULL DEFAULT 0,
  cache_read_tokens BIGINT NOT NULL DEFAULT 0,
  cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
  received_at BIGINT NOT NULL
);
CREATE INDEX idx_otlp_spans_received ON otlp_spans(received_at, id);

-- Each trace's frame as far as its spans have arrived: the root span (no
-- parent) names it; the earliest start and latest end bound it. Kept so a
-- trace whose model calls arrive after its other spans still gets its frame;
-- pruned by retention once quiet.
CREATE TABLE otlp_traces (
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  trace_id TEXT NOT NULL,
  service TEXT NOT NULL,
  root_name TEXT,
  root_failed BIGINT NOT NULL DEFAULT 0,
  root_error TEXT,
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (team_id, trace_id)
);
CREATE INDEX idx_otlp_traces_updated ON otlp_traces(updated_at);

-- Where a workflow and an execution come from: 'hummbl' (defined and run
-- here) or 'otlp' (a service's traces: the service is the workflow, a trace
-- the execution). External ones are never run, scheduled or edited here.
ALTER TABLE workflows ADD COLUMN source TEXT NOT NULL DEFAULT 'hummbl';
ALTER TABLE executions ADD COLUMN source TEXT NOT NULL DEFAULT 'hummbl';
ALTER TABLE executions ADD COLUMN trace_id TEXT;
CREATE UNIQUE INDEX idx_workflows_service ON workflows(team_id, name) WHERE source = 'otlp';
CREATE UNIQUE INDEX idx_executions_trace ON executions(team_id, trace_id);
