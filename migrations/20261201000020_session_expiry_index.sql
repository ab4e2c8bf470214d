-- The scheduled cleanup deletes expired sessions oldest first, in batches.
CREATE INDEX session_expiry ON session (expires_at);
