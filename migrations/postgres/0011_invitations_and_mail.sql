-- Invitations to join a team by e-mail. The link's token is never stored: the
-- mail worker makes one when it sends the invitation and keeps only its
-- SHA-256 (`token_hash`); a resend clears the hash at once, so the old link
-- dies before the new one is made. `accepted_at` set once, by the one accept
-- that wins.
CREATE TABLE invitations (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK(role IN ('owner', 'admin', 'member', 'viewer')),
  token_hash TEXT UNIQUE,
  invited_by TEXT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  accepted_at BIGINT,
  accepted_by TEXT,
  revoked_at BIGINT,
  FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE,
  FOREIGN KEY (invited_by) REFERENCES users(id) ON DELETE SET NULL,
  FOREIGN KEY (accepted_by) REFERENCES users(id) ON DELETE SET NULL
);
-- One open invitation per address and team: a new one replaces the old.
CREATE UNIQUE INDEX idx_invitations_open ON invitations(team_id, email)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- The mail outbox: a message is written here in the transaction of the change
-- that causes it, and the mail worker sends it. Its body is composed when it
-- is sent (an invitation's link is made then), so no secret waits here.
-- status: pending (due at next_attempt_at), sending (leased to lease_owner
-- until lease_expires_at), sent, failed (refused for good, or too old),
-- cancelled (its reason went away: the invitation was revoked or used).
CREATE TABLE mail_outbox (
  id TEXT PRIMARY KEY,
  team_id TEXT,
  kind TEXT NOT NULL,
  subject_id TEXT,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  last_error TEXT,
  server_reply TEXT,
  created_at BIGINT NOT NULL,
  sent_at BIGINT,
  FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE
);
CREATE INDEX idx_mail_outbox_due ON mail_outbox(status, next_attempt_at);
CREATE INDEX idx_mail_outbox_team ON mail_outbox(team_id, created_at);
