"""Rebuild tests/data/card_call.opus: a card payment read by espeak-ng (here 1.51, Debian 12).

Greedy decoding turns this audio's card number into a repetition loop ("It's 4-1-1-1-1-...");
tests/test_redact.py and tests/test_whisper.py keep it as a fixture, so that they do not depend
on the espeak-ng version of the machine they run on (another version speaks other waveforms).

    python tests/data/make_card_call.py    # needs espeak-ng and ffmpeg
"""

import subprocess
import tempfile
from pathlib import Path

SCRIPT = (
    "Can I take the long number on the card please? Yes. It's four one one one, one one one one, "
    "one one one one, one one one one. Thank you. And the expiry date? Oh nine, twenty seven. "
    "And the three digit security code on the back? Seven three seven."
)

if __name__ == "__main__":
    out = Path(__file__).with_name("card_call.opus")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "card_call.wav"
        subprocess.run(["espeak-ng", "-s", "140", "-g", "8", "-w", str(wav), SCRIPT], check=True)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", "24k",
                        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", str(out)], check=True)
    print(out)
