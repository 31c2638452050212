-- Records governance (issue 17): the tamper-evident chain, archived files, legal holds and
-- tombstones. See pipeline/governance/. The chain, holds and tombstones name a recording in a
-- column called `recording` (not recording_id) on purpose: tables with a recording_id column are
-- a recording's own rows, cleared when it is reprocessed and removed when it is erased.

-- One entry per change Parley makes to a recording's rows (stored, re-tagged, re-scored, archived,
-- deleted by retention or erasure). `tables` holds, per table, the row count and the sha256 of
-- the recording's rows after the change (canonical serialisation: pipeline/governance/chain.py);
-- content_sha256 is the sha256 of `tables`; entry_sha256 covers every other column and
-- prev_sha256 (the entry before: 64 zeros for the first), so editing, removing or inserting an
-- entry, or a row it covers, is detected by `parley verify`.
CREATE TABLE IF NOT EXISTS record_chain (
    seq             BIGINT NOT NULL,     -- 1, 2, 3, ... with no gaps
    sealed_at       TIMESTAMP NOT NULL,  -- UTC
    recording       VARCHAR NOT NULL,    -- recording id (sha256 of the file as dropped)
    kind            VARCHAR NOT NULL,    -- store, update, rescore, archive, retention, erasure, baseline
    actor           VARCHAR,             -- OS user@host of the process that made the change
    run_id          VARCHAR,
    tables          JSON NOT NULL,       -- {"utterances": {"rows": 12, "sha256": "..."}, ...}; {} once deleted
    content_sha256  VARCHAR NOT NULL,
    prev_sha256     VARCHAR NOT NULL,
    entry_sha256    VARCHAR NOT NULL
);

-- The files Parley keeps for a recording in the archive, with their hashes (chained with the
-- recording's other rows, so a replaced or edited audio file is detected).
CREATE TABLE IF NOT EXISTS archived_files (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR,
    role            VARCHAR NOT NULL,    -- audio (the archived, redacted copy), original, sidecar
    path            VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,
    size_bytes      BIGINT,
    archived_at     TIMESTAMP
);

-- Legal holds: a held customer's or recording's records are never deleted by retention or erasure.
CREATE TABLE IF NOT EXISTS legal_holds (
    hold_id         INTEGER NOT NULL,
    scope           VARCHAR NOT NULL,    -- customer or recording
    target          VARCHAR NOT NULL,    -- the customer_ref or the recording id
    reason          VARCHAR NOT NULL,
    placed_by       VARCHAR,
    placed_at       TIMESTAMP NOT NULL,
    released_by     VARCHAR,
    released_at     TIMESTAMP,           -- NULL while the hold is in force
    release_reason  VARCHAR
);

-- What was deleted, when, by whom and why: never the content. One row per deletion (a whole
-- recording, or part of it when the retention policy keeps audio or transcripts for less time,
-- or a staff voiceprint).
CREATE TABLE IF NOT EXISTS tombstones (
    tombstone_id        VARCHAR NOT NULL,
    deleted_at          TIMESTAMP NOT NULL,
    recording           VARCHAR,             -- recording id (sha256 of the file as dropped): a re-drop is recognised by it
    staff_id            VARCHAR,             -- a removed voiceprint's staff member (kind voiceprint)
    kind                VARCHAR NOT NULL,    -- erasure, retention or voiceprint
    parts               VARCHAR[] NOT NULL,  -- record (everything), audio, transcript, analysis; voiceprint
    actor               VARCHAR,             -- OS user@host
    reason              VARCHAR,             -- erasure: the reason given; retention: the policy rule
    customer_ref_sha256 VARCHAR,             -- erasure by customer: sha256 of the ref (the ref itself is not kept)
    period_from         DATE,                -- retention: the day the period ran from
    rows_deleted        JSON,                -- {"utterances": 12, ...}
    files_deleted       INTEGER,
    pending_files       JSON,                -- files still to remove: set in the deleting transaction, NULL once removed
    files_removed_at    TIMESTAMP,
    chain_seq           BIGINT               -- the record_chain entry of this deletion
);
