"""Compare ways of decoding with faster-whisper on a corpus with references (transcription only).

    python bench/decoding.py bench/out/dev --strategies bare,parley [--model tiny.en] [--threads 1]

Every strategy transcribes each channel of each recording (decoded to 16 kHz as Parley decodes
it) on one CTranslate2 replica; per strategy it prints the word error rate against the references
(lost words, substitutions and deletions, apart from insertions), the transcripts with a
repetition loop, the CPU seconds and the wall seconds. ``bare`` is faster-whisper with its
defaults and ``vad_filter=True`` (beam 5, temperature fallback, previous text as prompt);
``parley`` is ``pipeline.transcribe`` as configured; the others are single changes to study. The
last line is one JSON object. Used to choose Parley's decoding defaults (see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from wer import Errors, reference_for, score_channels  # noqa: E402

from pipeline.audio import decode  # noqa: E402
from pipeline.loops import has_loop  # noqa: E402

AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus")
DECODING: dict[str, dict[str, int]] = {}
"""What ``pipeline.whisper.decode`` did, per ``parley*`` strategy (windows, re-decodes by reason)."""


def _texts(segments) -> str:
    return " ".join(s.text.strip() for s in segments)


def strategy(name: str, model, options):
    """A function: channel samples -> text."""
    from faster_whisper import BatchedInferencePipeline

    if name == "bare":
        return lambda x: _texts(model.transcribe(x, language="en", vad_filter=True)[0])
    if name == "bare-words":
        return lambda x: _texts(model.transcribe(x, language="en", vad_filter=True, word_timestamps=True)[0])
    if name.startswith("batched"):  # batched-B-BEAM[-ts][-sil2000], e.g. batched-16-1
        parts = name.split("-")
        batch, beam = int(parts[1]), int(parts[2])
        kw = {"without_timestamps": "ts" not in parts}
        sil = [p for p in parts if p.startswith("sil")]
        if sil:
            kw["vad_parameters"] = {"min_silence_duration_ms": int(sil[0][3:])}
        pipe = BatchedInferencePipeline(model)
        return lambda x: _texts(pipe.transcribe(x, language="en", vad_filter=True, batch_size=batch, beam_size=beam, word_timestamps=True, **kw)[0])
    if name.startswith("seq"):  # seq-BEAM[-words][-noprev]: sequential decoding with the fallback
        parts = name.split("-")
        kw = {"beam_size": int(parts[1]), "word_timestamps": "words" in parts, "condition_on_previous_text": "noprev" not in parts}
        return lambda x: _texts(model.transcribe(x, language="en", vad_filter=True, **kw)[0])
    if name.startswith("parley"):  # parley[-ts][-silN][-bBEAM][-batchN][-lostTENTHS][-unsureTENTHS][-splitN][-noguard][-novocab]: pipeline.transcribe with these changes
        import dataclasses

        DECODING[name] = {}
        parts = name.split("-")[1:]
        changes = {"timestamps": "ts" in parts, "guard": "noguard" not in parts}
        if "novocab" in parts:
            changes["hotwords"] = None
        for p in parts:
            if p.startswith("sil"):
                changes["min_silence_ms"] = int(p[3:])
            if p.startswith("b") and p[1:].isdigit():
                changes["beam_size"] = int(p[1:])
            if p.startswith("batch") and p[5:].isdigit():
                changes["batch_size"] = int(p[5:])
            if p.startswith("lost"):  # lost15: 1.5 s
                changes["lost_speech_s"] = int(p[4:]) / 10
            if p.startswith("unsure"):  # unsure6: -0.6
                changes["unsure_logprob"] = -int(p[6:]) / 10
            if p.startswith("split"):  # split1: halves only, not halved again
                changes["split_depth"] = int(p[5:])
        decode_options = dataclasses.replace(options.decode_options(), **changes)

        from pipeline import transcribe as tr
        from pipeline.records import DecodedAudio

        def run(x):
            audio = DecodedAudio(info=None, samples=x[None, :])  # type: ignore[arg-type]
            transcript = tr.transcribe(audio, options, model=model, decode_options=decode_options)
            for k, v in transcript.decoding.items():
                DECODING[name][k] = DECODING[name].get(k, 0) + v
            return " ".join(u.text for u in transcript.utterances)

        return run
    raise SystemExit(f"unknown strategy {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--strategies", default="bare,parley")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="only the first N recordings")
    parser.add_argument("--every", type=int, default=1, help="only every Nth recording")
    parser.add_argument("--show", action="store_true", help="print each transcript that differs from bare's or loops")
    parser.add_argument("--save", type=Path, help="write each strategy's per-file results to SAVE/NAME.json")
    parser.add_argument("--vocabulary", type=Path, help="the vocabulary file the parley strategies use (default: the configured one)")
    args = parser.parse_args()

    from pipeline.models import load_whisper, shared_vad
    from pipeline.settings import Settings
    from pipeline.transcribe import TranscribeOptions

    shared_vad()
    overrides = {"vocabulary": args.vocabulary} if args.vocabulary else {}
    options = TranscribeOptions.from_settings(Settings(whisper_model=args.model, cpu_threads=args.threads, transcribe_workers=1, **overrides))
    model = load_whisper(args.model, "cpu", "int8", args.threads, 1)
    files = [p for p in sorted(args.folder.iterdir()) if p.suffix in AUDIO and reference_for(p) is not None]
    files = files[:: args.every]
    if args.limit:
        files = files[: args.limit]
    audio = {p: decode(p) for p in files}
    results = {}
    for name in args.strategies.split(","):
        run = strategy(name, model, options)
        total, loops, per_file = Errors(), [], {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for p in files:
            texts = [run(channel) for channel in audio[p].samples]
            errors = score_channels(reference_for(p), texts)
            total += errors
            per_file[p.name] = {"texts": texts, **errors.as_dict()}
            if any(has_loop(t) for t in texts):
                loops.append(p.name)
        results[name] = {**total.as_dict(), "loops": len(loops), "loop_files": loops, "decoding": DECODING.get(name, {}),
                         "cpu_s": round(time.process_time() - cpu0, 1), "wall_s": round(time.perf_counter() - wall0, 1), "files": per_file}
        r = results[name]
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{name}.json").write_text(json.dumps(r, indent=1))
        print(f"{name:<18} WER {r['wer']:.3f}  lost {r['lost']:.3f} (sub {r['sub']}, del {r['del']})  ins {r['ins']}  "
              f"loops {r['loops']}  cpu {r['cpu_s']} s  wall {r['wall_s']} s  {r['decoding'] or ''}", flush=True)
    if args.show and "bare" in results:
        for name, r in results.items():
            for f, v in r["files"].items():
                b = results["bare"]["files"][f]
                if name != "bare" and (v["wer"] > b["wer"] + 0.05 or any(has_loop(t) for t in v["texts"])):
                    print(f"--- {name} {f}: {v['wer']:.3f} vs bare {b['wer']:.3f}\n  {v['texts']}\n  bare: {b['texts']}")
    audio_s = sum(a.info.duration_s for a in audio.values())
    print(json.dumps({"audio_s": round(audio_s, 1), "files": len(files),
                      "strategies": {k: {kk: vv for kk, vv in v.items() if kk != "files"} for k, v in results.items()}}))


if __name__ == "__main__":
    main()
