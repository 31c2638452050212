-- A staff voiceprint made again from the same clips through the telephone band (300-3400 Hz):
-- compared with the voices of 8 kHz recordings, which the wideband print does not match.
-- NULL: enrolled before it existed (enrol again).
ALTER TABLE voiceprints ADD COLUMN IF NOT EXISTS telephone_embedding FLOAT[];
