-- The provider key a step's call used, for usage per key (/api/keys/{id}/usage).
-- The roll-ups are per agent, and an agent's key can change, so a step records
-- the key it actually called with. Steps recorded before this migration are
-- given their agent's key as it is now: the best this history can tell.
ALTER TABLE task_results ADD COLUMN key_id TEXT;
UPDATE task_results SET key_id = (SELECT a.key_id FROM agents a WHERE a.id = task_results.agent_id)
  WHERE agent_id IS NOT NULL;
CREATE INDEX idx_task_results_key ON task_results(key_id, completed_at);
