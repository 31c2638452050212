-- Parley foundation schema. Later migrations only ADD tables or columns.
-- Times are UTC. Ids: recordings.id is the sha256 of the file content; run_id a uuid4.

CREATE TABLE IF NOT EXISTS recordings (
    id VARCHAR NOT NULL,            -- sha256 of the file content
    source_name VARCHAR,            -- file name as dropped
    source_path VARCHAR,            -- folder it was dropped in
    archive_path VARCHAR,           -- where the file is kept now
    size_bytes BIGINT,
    format VARCHAR,                 -- container (wav, mp3, ogg, mov,mp4,m4a,...)
    codec VARCHAR,
    layout VARCHAR,                 -- mono, stereo, dual-mono
    channels INTEGER,               -- channels in the file
    sample_rate INTEGER,            -- original sample rate, Hz
    duration_s DOUBLE,
    staff_id VARCHAR,
    team VARCHAR,
    site VARCHAR,
    channel VARCHAR,                -- phone, face-to-face, video, ...
    direction VARCHAR,              -- inbound, outbound, in-person
    customer_ref VARCHAR,
    started_at TIMESTAMP,
    n_speakers INTEGER,             -- given in metadata (NULL = estimate)
    metadata_source VARCHAR,        -- sidecar, filename or none
    metadata_extra JSON,            -- sidecar keys Parley does not know
    language VARCHAR,
    status VARCHAR,                 -- done
    received_at TIMESTAMP,
    processed_at TIMESTAMP,
    run_id VARCHAR
);

CREATE TABLE IF NOT EXISTS utterances (
    recording_id VARCHAR NOT NULL,
    run_id VARCHAR,
    idx INTEGER,                    -- order in the interaction, from 0
    speaker VARCHAR,                -- S1, S2, ... (stereo: S1 = left channel)
    role VARCHAR,                   -- staff, customer, unknown
    role_confidence DOUBLE,
    channel INTEGER,
    start_s DOUBLE,
    end_s DOUBLE,
    text VARCHAR,
    avg_logprob DOUBLE,
    no_speech_prob DOUBLE,
    n_words INTEGER
);

CREATE TABLE IF NOT EXISTS words (
    recording_id VARCHAR NOT NULL,
    run_id VARCHAR,
    utterance_idx INTEGER,
    idx INTEGER,                    -- order within the utterance
    start_s DOUBLE,
    end_s DOUBLE,
    word VARCHAR,
    probability DOUBLE,
    speaker VARCHAR,
    channel INTEGER
);

CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL,
    recording_id VARCHAR,
    source_name VARCHAR,
    flow_run_id VARCHAR,            -- Prefect flow run, when run through Prefect
    pipeline_version VARCHAR,
    settings_hash VARCHAR,
    settings JSON,
    models JSON,                    -- {"whisper": {"name":..., "version":...}, ...}
    timings JSON,                   -- seconds per stage
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    status VARCHAR,                 -- done, duplicate, quarantined, retry
    host VARCHAR,
    pid INTEGER
);

CREATE TABLE IF NOT EXISTS drops (
    drop_id VARCHAR NOT NULL,
    recording_id VARCHAR,           -- NULL when the file could not be read
    source_name VARCHAR,
    source_path VARCHAR,
    size_bytes BIGINT,
    received_at TIMESTAMP,
    outcome VARCHAR,                -- processed, duplicate, quarantined
    detail VARCHAR,
    metadata JSON,
    run_id VARCHAR
);

CREATE TABLE IF NOT EXISTS errors (
    error_id VARCHAR NOT NULL,
    occurred_at TIMESTAMP,
    recording_id VARCHAR,
    source_name VARCHAR,
    source_path VARCHAR,
    stage VARCHAR,
    kind VARCHAR,                   -- terminal (quarantined), transient (will retry), internal (bug; quarantined)
    message VARCHAR,
    fix VARCHAR,
    quarantine_path VARCHAR,
    run_id VARCHAR
);
