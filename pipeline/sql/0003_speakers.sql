-- Speakers: staff voiceprints, diarization turns, role assignment and conversation dynamics.

CREATE TABLE IF NOT EXISTS voiceprints (
    staff_id VARCHAR NOT NULL,      -- one row per staff member; enrolling again replaces it
    embedding FLOAT[],              -- L2-normalised speaker embedding (256 floats for resemblyzer)
    n_clips INTEGER,                -- clips it was made from
    speech_s DOUBLE,                -- seconds of speech in those clips
    model VARCHAR,                  -- speaker encoder (resemblyzer)
    model_version VARCHAR,
    enrolled_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS speaker_turns (
    recording_id VARCHAR NOT NULL,
    run_id VARCHAR,
    idx INTEGER,                    -- order in the recording, from 0
    speaker VARCHAR,                -- S1, S2, ... by first appearance
    start_s DOUBLE,
    end_s DOUBLE
);

CREATE TABLE IF NOT EXISTS role_assignment (
    recording_id VARCHAR NOT NULL,
    run_id VARCHAR,
    method VARCHAR,                 -- voiceprint, content, channel, none
    staff_speakers VARCHAR[],       -- speakers labelled staff
    matched_staff_id VARCHAR,       -- voiceprint that matched (voiceprint method)
    similarity DOUBLE,              -- cosine similarity of that match
    confidence DOUBLE,              -- 0..1
    flagged BOOLEAN,                -- true: a person should check the roles
    reason VARCHAR,                 -- the evidence, in words
    swapped_channels BOOLEAN,       -- stereo: the channel map looks swapped
    n_speakers INTEGER,
    model VARCHAR,
    model_version VARCHAR
);

CREATE TABLE IF NOT EXISTS dynamics (
    recording_id VARCHAR NOT NULL,
    run_id VARCHAR,
    scope VARCHAR,                  -- all, staff, customer, unknown
    duration_s DOUBLE,              -- length of the recording
    talk_s DOUBLE,                  -- seconds with this scope speaking (overlaps counted once)
    talk_ratio DOUBLE,              -- talk_s / duration_s
    silence_s DOUBLE,               -- all: seconds nobody speaks; role: gaps before this role's turns
    longest_silence_s DOUBLE,
    overtalk_count INTEGER,         -- all: overlaps; role: times this role started over another
    overtalk_s DOUBLE,
    interruptions INTEGER,          -- overtalk after which the other speaker stopped first
    words INTEGER,
    words_per_minute DOUBLE,        -- words / talk minutes
    turns INTEGER                   -- runs of consecutive utterances by one speaker
);
