-- Alert rules (page 8). `condition` is the rule's kind and parameters as
-- JSON (alerts::Condition). `state` changes only by a guarded UPDATE
-- (... WHERE state = 'ok' to fire, 'firing' to resolve), so of several
-- replicas checking the same breach exactly one fires it. `next_check_at`
-- is claimed the same way: one replica checks a rule per period.
CREATE TABLE alert_rules (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  condition TEXT NOT NULL,
  email BIGINT NOT NULL DEFAULT 0,
  enabled BIGINT NOT NULL DEFAULT 1,
  state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'firing')),
  state_changed_at BIGINT,
  fired_count BIGINT NOT NULL DEFAULT 0,
  last_value DOUBLE PRECISION,
  last_summary TEXT,
  checked_at BIGINT,
  next_check_at BIGINT NOT NULL,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX idx_alert_rules_team ON alert_rules(team_id, created_at);
CREATE INDEX idx_alert_rules_due ON alert_rules(next_check_at) WHERE enabled = 1;

-- Each firing of a rule: when it fired, what it saw, and when it cleared.
CREATE TABLE alert_events (
  id TEXT PRIMARY KEY,
  rule_id TEXT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL,
  fired_at BIGINT NOT NULL,
  fired_value DOUBLE PRECISION,
  fired_summary TEXT NOT NULL,
  resolved_at BIGINT,
  resolved_summary TEXT
);
CREATE INDEX idx_alert_events_rule ON alert_events(rule_id, fired_at);

-- The error-rate rules count executions finished in a window.
CREATE INDEX idx_executions_team_completed ON executions(team_id, completed_at);
