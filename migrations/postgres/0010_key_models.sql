-- The models a provider key's provider listed at its last successful test (a
-- JSON array of model ids), offered by the agent form beside the priced models.
ALTER TABLE api_keys_secure ADD COLUMN models TEXT;
