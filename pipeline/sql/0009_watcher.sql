-- The watcher as a service (issue 18). A transient problem that keeps coming back (the same file,
-- stage and message, e.g. an archive folder that stays read-only) is one errors row: `attempts`
-- counts the tries and `last_attempt_at` is the latest (see Store.record_error).
ALTER TABLE errors ADD COLUMN IF NOT EXISTS attempts INTEGER;
ALTER TABLE errors ADD COLUMN IF NOT EXISTS last_attempt_at TIMESTAMP;
