-- Mail per notification type: NULL until the user chooses (then alerts
-- follow their rule's e-mail setting and every other type sends no mail).
ALTER TABLE notification_preferences ADD COLUMN email INTEGER;

-- A user's digest: off, daily or weekly at `hour` (0-23) in `timezone`, on
-- `weekday` (0 = Monday) when weekly. `next_due_at` is the end of the next
-- period, in UTC ms (NULL when off); `sent_through` is the end of the last
-- period a digest covered.
CREATE TABLE notification_digest_settings (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  frequency TEXT NOT NULL CHECK (frequency IN ('off', 'daily', 'weekly')),
  hour INTEGER NOT NULL,
  weekday INTEGER NOT NULL,
  timezone TEXT NOT NULL,
  next_due_at INTEGER,
  sent_through INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE INDEX idx_digest_settings_due ON notification_digest_settings(next_due_at);

-- One row per user and period, written with the digest's outbox row in one
-- transaction: its key is what makes a digest go out once per period, across
-- restarts and replicas. A period with nothing unread gets a row (items = 0)
-- and no mail.
CREATE TABLE notification_digests (
  id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  period_end INTEGER NOT NULL,
  period_start INTEGER NOT NULL,
  items INTEGER NOT NULL,
  mail_id TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, period_end)
);
