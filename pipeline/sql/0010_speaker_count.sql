-- Diarization's speaker count and how it was found, beside the role assignment.
ALTER TABLE role_assignment ADD COLUMN IF NOT EXISTS speaker_count_confidence DOUBLE;  -- 0..1
ALTER TABLE role_assignment ADD COLUMN IF NOT EXISTS speaker_count_reason VARCHAR;     -- the evidence, in words
ALTER TABLE role_assignment ADD COLUMN IF NOT EXISTS vad VARCHAR;                      -- silero or segmentation
ALTER TABLE role_assignment ADD COLUMN IF NOT EXISTS overlap_s DOUBLE;                 -- seconds of two voices at once
