-- Tags from pipeline/tagging: one row per label on an utterance (utterance_index set) or on the
-- whole interaction (utterance_index NULL, evidence = supporting utterance indexes).
-- kind: sentiment, sentiment_start, sentiment_end, sentiment_trajectory, touchpoint,
--       journey_stage, complaint, complaint_topic, nps_band, stated_score.
CREATE TABLE IF NOT EXISTS tags (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    utterance_index INTEGER,
    kind            VARCHAR NOT NULL,
    label           VARCHAR NOT NULL,
    score           DOUBLE,
    role            VARCHAR,
    model           VARCHAR,
    model_version   VARCHAR,
    taxonomy_hash   VARCHAR,
    evidence        INTEGER[],
    detail          JSON
);
