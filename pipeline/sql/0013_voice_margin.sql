-- How much more each utterance's voice is like its own speaker's than the nearest other's
-- (cosine, own minus other; under 0: it sounds like another speaker). NULL: no voices compared.
ALTER TABLE utterances ADD COLUMN IF NOT EXISTS voice_margin DOUBLE;
-- Its voice is nearer a speaker of the other role (staff against customer): its role is in doubt.
ALTER TABLE utterances ADD COLUMN IF NOT EXISTS role_unsure BOOLEAN;
