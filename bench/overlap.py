"""Does the transcript keep a customer who talks over the staff member?

    python bench/overlap.py OUT [--n 12] [--seed 7] [--pause]

Makes ``--n`` face-to-face conversations (mono, 16 kHz, two held-out voices of
``bench/calls.py`` each) in which the customer cuts in over the end of a long explanation of
the staff member's, starting 1.5-3 s before it ends, with a line of their own ("Stop, I never
agreed to that upgrade."). With ``--pause`` the same conversations have the line after a 0.4 s
pause instead: the control. Each is transcribed and given speakers and roles as ``parley
process`` does for a recording whose sidecar says ``channel: face-to-face`` (transcripts are
cached in OUT). Counted: the line's key words (four letters or more, none the staff member
says), how many of them the transcript has near the line, and whose they are said to be; and
the seconds that the segmentation model heard as two voices at once (``overlap_s``). The issue
asks that the second speaker's words at least not be lost. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CUT_IN = ["Sorry, I already posted the signed form twice.", "Wait, that is not what I asked about.",
          "Hold on, my payment went out yesterday morning.", "No, the address on that letter is wrong.",
          "Excuse me, nobody told me about any charges.", "Stop, I never agreed to that upgrade."]
EXPLANATIONS = [
    "I can see the account here, and what normally happens is that we send the paperwork out first and then wait "
    "for it to come back before anything changes on our side.",
    "Let me just check the notes on the file, because it looks like the request was logged last week and then "
    "passed over to the team who look after these cases.",
    "So the way the policy works is that the cover starts from the first of the month, and any changes you make "
    "part way through are added to the next statement.",
]


def conversation(i: int, overlap_s: float):
    from pipeline.synth import Turn

    return [Turn("staff", "Good morning, thanks for coming in, my name is Sam, how can I help you today?"),
            Turn("customer", "Hi, I wanted to ask about the letter you sent me last week about my account."),
            Turn("staff", EXPLANATIONS[i % len(EXPLANATIONS)]),
            Turn("customer", CUT_IN[i % len(CUT_IN)], gap_s=-overlap_s),
            Turn("staff", "I understand, let me look into that for you right away."),
            Turn("customer", "Thank you, I would really appreciate that."),
            Turn("staff", "Is there anything else I can help you with today?"),
            Turn("customer", "No, that is everything, thanks.")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pause", action="store_true", help="The control: the line after a 0.4 s pause, not over the staff member.")
    args = parser.parse_args()

    from calls import voices_of
    from pipeline.models import same_numbers_everywhere
    from pipeline.settings import Settings
    from pipeline.speakers import SpeakerOptions, attribute_speakers
    from pipeline.speakers_cli import load_recording
    from pipeline.synth import Voice, synthesize
    from pipeline.transcribe import TranscribeOptions, transcribe

    same_numbers_everywhere()
    args.out.mkdir(parents=True, exist_ok=True)
    voices, rng, settings, rows = voices_of("test"), np.random.default_rng(args.seed), Settings(), []
    for i in range(args.n):
        staff, customer = (voices[j] for j in rng.choice(len(voices), 2, replace=False))
        overlap = float(rng.uniform(1.5, 3.0))  # drawn either way, so both runs have the same voices
        turns = conversation(i, -0.4 if args.pause else overlap)
        wav = args.out / f"{'pause' if args.pause else 'over'}-{i:02d}.wav"
        script = synthesize(turns, wav, stereo=False, seed=i, voices={"staff": Voice(staff[0], staff[3], staff[2]),
                                                                        "customer": Voice(customer[0], customer[3], customer[2])})
        audio, meta = load_recording(wav)
        meta = replace(meta, channel="face-to-face")
        cache = wav.with_suffix(".transcript.pkl")
        if cache.exists():
            transcript = pickle.loads(cache.read_bytes())
        else:
            transcript = transcribe(audio, TranscribeOptions.from_settings(settings))
            cache.write_bytes(pickle.dumps(transcript))
        result = attribute_speakers(audio, transcript, meta, SpeakerOptions.from_settings(settings), None)
        line, before = script.turns[3], script.turns[2]
        staff_words = set(re.findall(r"[a-z']+", " ".join(t.text for t in script.turns if t.role == "staff").lower()))
        key = [w for w in re.findall(r"[a-z']+", line.text.lower()) if len(w) >= 4 and w not in staff_words]
        heard = [(re.sub(r"[^a-z']", "", w.word.lower()), u.role) for u in result.utterances for w in u.words
                 if line.start - 0.5 <= w.start <= line.end + 0.5]
        heard = [(w, role) for w, role in heard if w in key]
        row = {"file": wav.name, "staff_voice": staff[0], "customer_voice": customer[0],
               "over_s": round(max(0.0, before.end - line.start), 2), "key_words": len(key),
               "transcribed": len({w for w, _ in heard}), "as_customer": sum(role == "customer" for _, role in heard),
               "as_staff": sum(role == "staff" for _, role in heard),
               "overlap_s": result.rows["role_assignment"][0].get("overlap_s")}
        rows.append(row)
        print(f"  {wav.name}: over the staff member {row['over_s']:.1f} s, key words {row['key_words']}, transcribed "
              f"{row['transcribed']} ({row['as_customer']} said to be the customer's, {row['as_staff']} the staff's); "
              f"heard as two voices at once {row['overlap_s']} s", flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("key_words", "transcribed", "as_customer", "as_staff")}
    print(f"{'pause' if args.pause else 'over'}: key words {total['key_words']}, transcribed {total['transcribed']}, "
          f"said to be the customer's {total['as_customer']}, the staff's {total['as_staff']}; two voices heard at once in "
          f"{sum(bool(r['overlap_s']) for r in rows)} of {len(rows)}")
    print(json.dumps({"pause": args.pause, **total, "n": len(rows), "rows": rows}))


if __name__ == "__main__":
    main()
