"""Does the transcript keep a customer who talks over the staff member?

    python bench/overlap.py OUT [--n 12] [--seed 7] [--pause] [--telephone] [--babble DB] [--separate] [--tts neural]

Makes ``--n`` face-to-face conversations (mono, 16 kHz, two held-out voices of
``bench/calls.py`` each; ``--tts neural``: two of ``bench/neural_voices.py``'s) in which the customer cuts in over the end of a long explanation of
the staff member's, starting 1.5-3 s before it ends, with a line of their own ("Stop, I never
agreed to that upgrade."). With ``--pause`` the same conversations have the line after a 0.4 s
pause instead: the control. ``--telephone``: the same at 8 kHz through the telephone band.
``--babble DB``: with office babble and line hiss DB under the conversation (its power over the whole recording; ``bench/noisy.py``). Each is transcribed and given speakers and roles as ``parley
process`` does for a recording whose sidecar says ``channel: face-to-face`` (transcripts are
cached in OUT). Counted: the line's key words (four letters or more, none the staff member
says), how many of them the transcript has near the line, and whose they are said to be; and
the seconds that the segmentation model heard as two voices at once (``overlap_s``). The issue
asks that the second speaker's words at least not be lost. With ``--separate``, also what
separating the voices could give at best without a separation model: the line's span is split
by non-negative matrix factorisation (``nmf_separated``) with each voice's spectra learnt from
its own speech at the true times (an oracle no recording offers), and the customer's part is
transcribed alone. Also, per conversation, how the two voices at once were recorded
(``crosstalk_heard``): the seconds heard as two voices within the true overlap and elsewhere, the
seconds of the overlap in the customer's speaker turns, and the customer's overtalk and
interruptions in the dynamics (and from the words alone, as before round 18). The last line is
one JSON object.
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


NFFT, HOP = 512, 128  # 32 ms windows, 8 ms steps at 16 kHz


def _nmf(spectra: np.ndarray, bases: np.ndarray | None, k: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """KL-divergence NMF by multiplicative updates: spectra ~ bases @ activations. With
    ``bases`` given only the activations are learnt."""
    rng = np.random.default_rng(0)
    fixed = bases is not None
    w = bases if fixed else rng.random((spectra.shape[0], k)) + 1e-3
    h = rng.random((w.shape[1], spectra.shape[1])) + 1e-3
    for _ in range(iterations):
        h *= (w.T @ (spectra / (w @ h + 1e-9))) / (w.sum(axis=0)[:, None] + 1e-9)
        if not fixed:
            w *= ((spectra / (w @ h + 1e-9)) @ h.T) / (h.sum(axis=1)[None, :] + 1e-9)
            norm = w.sum(axis=0)
            w, h = w / norm, h * norm[:, None]
    return w, h


def nmf_separated(samples: np.ndarray, own: list[tuple[float, float]], other: list[tuple[float, float]],
                  span: tuple[float, float], k: int = 80, rate: int = 16000) -> np.ndarray:
    """The part of ``samples[span]`` that sounds like the speaker heard alone at ``own`` (seconds)
    rather than the one at ``other``: 16 kHz audio, ``k`` spectra learnt for each voice, a soft
    (Wiener) mask over the span's short-time spectrum."""
    from scipy.signal import istft, stft

    spectrum = stft(samples, rate, nperseg=NFFT, noverlap=NFFT - HOP)[2]
    power = np.abs(spectrum)
    frames = np.arange(power.shape[1]) * HOP / rate

    def heard(spans):
        return power[:, np.any([(frames >= a) & (frames < b) for a, b in spans], axis=0)]

    mine, theirs = _nmf(heard(own), None, k, 150)[0], _nmf(heard(other), None, k, 150)[0]
    inside = (frames >= span[0]) & (frames < span[1])
    _, h = _nmf(power[:, inside], np.hstack([mine, theirs]), 2 * k, 200)
    wanted, unwanted = mine @ h[:k], theirs @ h[k:]
    return istft(wanted / (wanted + unwanted + 1e-9) * spectrum[:, inside], rate, nperseg=NFFT,
                 noverlap=NFFT - HOP)[1].astype(np.float32)


def crosstalk_heard(result, line, before) -> dict:
    """How the two voices at once were recorded: the seconds heard as two voices within the true
    overlap (the line's start to the explanation's end) and elsewhere, the seconds of that overlap
    in the customer's speaker turns, and the customer's overtalk and interruptions (dynamics)."""
    from pipeline.dynamics import conversation_dynamics, union_seconds

    def within(spans, a, b):
        return union_seconds([(max(s, a), min(e, b)) for s, e in spans if min(e, b) > max(s, a)])

    customer = {u.speaker for u in result.utterances if u.role == "customer"}
    theirs = [(t["start_s"], t["end_s"]) for t in result.rows["speaker_turns"] if t["speaker"] in customer]
    heard = result.crosstalk
    by_scope = {r["scope"]: r for r in result.rows["dynamics"]}
    dynamics, staff = by_scope.get("customer", {}), by_scope.get("staff", {})
    duration = max([u.end for u in result.utterances] + [b for _, b in heard], default=0.0)
    words_only = {r["scope"]: r for r in conversation_dynamics(result.utterances, duration)}.get("customer", {})
    over = (line.start, max(line.start, before.end))
    return {"heard_at_overlap_s": round(within(heard, *over), 2),
            "heard_elsewhere_s": round(union_seconds(heard) - within(heard, *over), 2),
            "customer_turns_at_overlap_s": round(within(theirs, *over), 2),
            "customer_overtalk": dynamics.get("overtalk_count", 0), "customer_interruptions": dynamics.get("interruptions", 0),
            "customer_overtalk_by_words": words_only.get("overtalk_count", 0),
            "staff_overtalk": staff.get("overtalk_count", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pause", action="store_true", help="The control: the line after a 0.4 s pause, not over the staff member.")
    parser.add_argument("--telephone", action="store_true", help="The conversations at 8 kHz through the telephone band (G.711).")
    parser.add_argument("--babble", type=float, default=None, metavar="DB",
                        help="Office babble and line hiss this many dB under the conversation (its power over the whole recording; bench/noisy.py).")
    parser.add_argument("--separate", action="store_true",
                        help="Also the line separated with each voice's spectra learnt at its true times (an oracle), transcribed alone.")
    parser.add_argument("--tts", choices=["espeak", "neural"], default="espeak",
                        help="who speaks: espeak-ng's held-out voices, or neural ones (bench/neural_voices.py, `make bench-voices`)")
    args = parser.parse_args()

    from calls import voices_for
    from pipeline.models import same_numbers_everywhere
    from pipeline.settings import Settings
    from pipeline.speakers import SpeakerOptions, attribute_speakers
    from pipeline.speakers_cli import load_recording
    from pipeline.synth import Voice, synthesize
    from pipeline.transcribe import TranscribeOptions, transcribe, whisper_model

    same_numbers_everywhere()
    args.out.mkdir(parents=True, exist_ok=True)
    (voices, speaker), rng, settings, rows = voices_for(args.tts, "test"), np.random.default_rng(args.seed), Settings(), []
    options = TranscribeOptions.from_settings(settings)
    for i in range(args.n):
        staff, customer = (voices[j] for j in rng.choice(len(voices), 2, replace=False))
        overlap = float(rng.uniform(1.5, 3.0))  # drawn either way, so both runs have the same voices
        turns = conversation(i, -0.4 if args.pause else overlap)
        wav = args.out / f"{'tel-' if args.telephone else ''}{'pause' if args.pause else 'over'}-{i:02d}.wav"
        script = synthesize(turns, wav, stereo=False, seed=i, telephone=args.telephone, voices={"staff": Voice(staff[0], staff[3], staff[2]),
                                                                        "customer": Voice(customer[0], customer[3], customer[2])},
                            speaker=speaker)
        if args.babble is not None:  # the same conversation with an open-plan office behind it
            from noisy import add_noise

            noisy = wav.with_name(f"babble{args.babble:g}-{wav.name}")
            add_noise(wav, noisy, args.babble)
            wav.unlink()
            wav = noisy
        audio, meta = load_recording(wav)
        meta = replace(meta, channel="face-to-face")
        cache = wav.with_suffix(".transcript.pkl")
        if cache.exists():
            transcript = pickle.loads(cache.read_bytes())
        else:
            transcript = transcribe(audio, options)
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
        row.update(crosstalk_heard(result, line, before))
        if args.separate:
            span = (line.start - 0.3, line.end + 0.3)
            customer_alone = [(t.start, t.end) for t in script.turns if t.role == "customer" and t is not line] + [(before.end, line.end)]
            staff_alone = [(t.start, t.end) for t in script.turns if t.role == "staff" and t is not before] + [(before.start, line.start)]
            alone = nmf_separated(audio.samples[0], customer_alone, staff_alone, span)
            segments, _ = whisper_model(options).transcribe(alone, language="en", beam_size=5)
            said = set(re.findall(r"[a-z']+", " ".join(s.text for s in segments).lower()))
            row["separated"] = sum(w in said for w in set(key))
        rows.append(row)
        print(f"  {wav.name}: over the staff member {row['over_s']:.1f} s, key words {row['key_words']}, transcribed "
              f"{row['transcribed']} ({row['as_customer']} said to be the customer's, {row['as_staff']} the staff's); "
              f"heard as two voices at once {row['overlap_s']} s ({row['heard_at_overlap_s']} s of the true overlap, "
              f"{row['heard_elsewhere_s']} s elsewhere), in the customer's turns {row['customer_turns_at_overlap_s']} s; "
              f"customer overtalk {row['customer_overtalk']} (interruptions {row['customer_interruptions']}; "
              f"by the words alone {row['customer_overtalk_by_words']}), staff overtalk {row['staff_overtalk']}", flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("key_words", "transcribed", "as_customer", "as_staff", "heard_at_overlap_s",
                                                    "heard_elsewhere_s", "customer_turns_at_overlap_s", "customer_overtalk",
                                                    "customer_interruptions", "customer_overtalk_by_words", "staff_overtalk")
             + (("separated",) if args.separate else ())}
    print(f"{'pause' if args.pause else 'over'}: key words {total['key_words']}, transcribed {total['transcribed']}, "
          f"said to be the customer's {total['as_customer']}, the staff's {total['as_staff']}; two voices heard at once in "
          f"{sum(bool(r['overlap_s']) for r in rows)} of {len(rows)} ({total['heard_at_overlap_s']:.1f} s of "
          f"{sum(r['over_s'] for r in rows):.1f} s of true overlap, {total['heard_elsewhere_s']:.1f} s elsewhere; in the customer's "
          f"turns {total['customer_turns_at_overlap_s']:.1f} s); customer overtalk {total['customer_overtalk']} "
          f"(interruptions {total['customer_interruptions']}; by the words alone {total['customer_overtalk_by_words']}), "
          f"staff overtalk {total['staff_overtalk']}"
          + (f"; separated with each voice's own spectra (oracle) and transcribed alone: {total['separated']}" if args.separate else ""))
    print(json.dumps({"pause": args.pause, **total, "n": len(rows), "rows": rows}))


if __name__ == "__main__":
    main()
