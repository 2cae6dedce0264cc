-- Notifications (the seed's table, page 8). `read` is the seed's flag, kept in
-- step with read_at (when it was read; NULL while unread).
ALTER TABLE notifications ADD COLUMN read_at INTEGER;
CREATE INDEX idx_notifications_page ON notifications(user_id, created_at, id);
CREATE INDEX idx_notifications_unread ON notifications(user_id) WHERE read_at IS NULL;

-- One row per user whose notifications changed: `version` goes up by one in
-- every transaction that changes them, taken first (the row lock orders the
-- changes), so the unread count each change reports after it can be ordered:
-- a tab keeps the count of the highest version it saw, and badges never drift.
CREATE TABLE notification_inbox (
  user_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);

-- Who follows a workflow: they hear of its failed runs (not only the starter).
CREATE TABLE workflow_subscriptions (
  workflow_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, user_id),
  FOREIGN KEY (workflow_id) REFERENCES workflows(id) ON DELETE CASCADE,
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_workflow_subscriptions_user ON workflow_subscriptions(user_id);

-- Per user and type: whether it shows in the console. No row: the type's
-- default (on; "execution succeeded" is off until asked for).
CREATE TABLE notification_preferences (
  user_id TEXT NOT NULL,
  type TEXT NOT NULL,
  in_app INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, type),
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);
