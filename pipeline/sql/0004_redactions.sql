-- PII/PCI redaction spans (issue 5): where something was redacted and its type, never the
-- content. Replaced per recording. char offsets are into the utterance text as transcribed.

CREATE TABLE IF NOT EXISTS redactions (
    recording_id    VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    utterance_index INTEGER NOT NULL,
    type            VARCHAR NOT NULL,   -- CARD, CVV, EXPIRY, ACCOUNT, SORT_CODE, IBAN, NI_NUMBER, SSN, EMAIL, PHONE, POSTCODE, NAME
    start_s         DOUBLE,             -- audio span (from word timestamps), seconds
    end_s           DOUBLE,
    channel         INTEGER,            -- audio channel of the words
    char_start      INTEGER,
    char_end        INTEGER
);
