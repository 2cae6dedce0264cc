-- The hashes of invitation links that a newer link replaced (resend, or a
-- link made for copying). Kept so an old link answers "replaced, use the
-- latest mail" (410) instead of "unknown" (404). A hash is never reused.
CREATE TABLE invitation_retired_links (
  token_hash TEXT PRIMARY KEY,
  invitation_id TEXT NOT NULL,
  retired_at BIGINT NOT NULL,
  FOREIGN KEY (invitation_id) REFERENCES invitations(id) ON DELETE CASCADE
);
