-- Staged batches already merged into this database (see pipeline/staging.py): the loader
-- records a batch id in the same transaction as its rows, so a re-run loads nothing twice.
CREATE TABLE IF NOT EXISTS staging_loads (batch_id VARCHAR NOT NULL, loaded_at TIMESTAMP);
