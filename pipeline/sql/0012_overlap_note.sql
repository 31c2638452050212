-- Why two voices heard at once were not taken (talk in the background), beside overlap_s.
ALTER TABLE role_assignment ADD COLUMN IF NOT EXISTS overlap_note VARCHAR;
