-- The last validity test of a provider key, shown on /settings/api-keys: when,
-- its result ('ok', 'refused': the provider answered 401/403, 'failed': no
-- answer about the key, e.g. a network error or an outage), how long the
-- provider took, and its message (shown to admins and owners only).
ALTER TABLE api_keys_secure ADD COLUMN last_tested_at INTEGER;
ALTER TABLE api_keys_secure ADD COLUMN last_test_result TEXT;
ALTER TABLE api_keys_secure ADD COLUMN last_test_latency_ms INTEGER;
ALTER TABLE api_keys_secure ADD COLUMN last_test_message TEXT;
