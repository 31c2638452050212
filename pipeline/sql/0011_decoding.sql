-- What the decoder did for each run: windows decoded, windows decoded again the careful way
-- (a repetition loop, low confidence or lost speech in the fast first pass), windows dropped as
-- text over no speech, loops cut back after both passes (pipeline/whisper.py).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS redecodes INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS decoding JSON;
