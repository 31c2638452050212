-- Compliance findings and scorecards (issue 5).
-- findings: replaced per recording. scorecards / scorecard_lines: replaced per
-- (recording_id, rubric_id, rubric_version), so scores under other rubric versions stay.

CREATE TABLE IF NOT EXISTS findings (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    rule            VARCHAR NOT NULL,   -- rule name from data/rules/*.yaml
    category        VARCHAR,            -- compliance, quality, vulnerability, conduct
    passed          BOOLEAN NOT NULL,
    utterance_index INTEGER,            -- evidence: the match, or where it should have been
    start_s         DOUBLE,
    end_s           DOUBLE,
    matched         VARCHAR,            -- matched (redacted) text
    score           DOUBLE,             -- cosine similarity when matched by meaning
    detail          JSON                -- count, matches, window, nearest miss
);

CREATE TABLE IF NOT EXISTS scorecards (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,   -- run whose findings/tags/dynamics were scored
    rubric_id       VARCHAR NOT NULL,
    rubric_version  VARCHAR NOT NULL,
    rubric_hash     VARCHAR,            -- sha256 prefix of the rubric file
    score           DOUBLE,             -- 0-100, 0 when auto-failed, NULL when nothing applied
    raw_score       DOUBLE,             -- before auto-fail
    passed          BOOLEAN NOT NULL,
    auto_failed     BOOLEAN NOT NULL,
    pass_mark       DOUBLE,
    scored_at       TIMESTAMP
);

CREATE TABLE IF NOT EXISTS scorecard_lines (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    rubric_id       VARCHAR NOT NULL,
    rubric_version  VARCHAR NOT NULL,
    section         VARCHAR NOT NULL,
    criterion       VARCHAR NOT NULL,
    fact            VARCHAR NOT NULL,   -- rule:NAME, tag:[ROLE.]KIND, metric:[ROLE.]NAME
    status          VARCHAR NOT NULL,   -- pass, fail, n/a
    weight          DOUBLE,             -- points possible out of 100
    points          DOUBLE,             -- points earned
    auto_fail       BOOLEAN,
    value           VARCHAR,            -- label, metric value or passed/failed
    evidence        JSON                -- utterance index, times, matched text or score
);
