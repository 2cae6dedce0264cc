-- T4 Observation: where each event came from, and ingestion keys for other apps.

-- user_id stays the console user (cookie-authenticated events); external_user_id is
-- what a sending app calls its user (the payload's userId), kept as an attribute.
-- source is 'console' or 'key:<ingestion key id>'; received_at is the server's clock.
ALTER TABLE user_actions ADD COLUMN external_user_id TEXT;
ALTER TABLE user_actions ADD COLUMN source TEXT;
ALTER TABLE user_actions ADD COLUMN received_at BIGINT;

-- The metrics endpoint reads one component of one team, newest first.
CREATE INDEX idx_metrics_component_team_time ON component_metrics(component_id, team_id, timestamp);

-- Write-only keys other apps send telemetry with. Only the SHA-256 is kept.
-- allowed_origins is a JSON array of browser origins allowed to use the key
-- (e.g. ["https://app.example.com"]); an empty array means server-side use only.
CREATE TABLE ingestion_keys (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  allowed_origins TEXT NOT NULL,
  created_by TEXT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX idx_ingestion_keys_team ON ingestion_keys(team_id);
