"""Benchmark: diarization time against transcription time of the same 10-minute recording.

    python bench/diarization.py [--minutes 10] [--clips DIR] [--phone | --face-to-face] [--speakers N] [--quick-turns] [--telephone]
    python bench/diarization.py --real-call [--telephone] [--stages] [--set KEY=VALUE ...]

Builds a mono conversation from LibriSpeech clips (two speakers at a time taking turns with
short pauses, cycling through the speakers in ``--clips``, default the shared data folder or
``tests/data/librispeech``), then times ``pipeline.diarize.diarize`` on it and
Parley's own transcription (`pipeline.transcribe.transcribe`, the settings in force: batched greedy tiny.en) on the same
audio, transcription first and diarization after it, as the pipeline runs them (diarization then
reuses transcription's VAD probabilities), each ``--repeat`` times keeping the fastest (the
machine may be shared). Target: diarization <= 25% of transcription. Also reports CPU seconds
and the DER against the known turns, and for a two-person call (``--phone --speakers 2``) the
time of the other groupings its words may choose from (``Diarization.offered()``: made only
for a call whose words do not already agree with the turns). ``--face-to-face --speakers 2``: as
``parley process`` diarizes a face-to-face conversation whose words read as one staff member and
one customer (``speakers.two_people_by_words``: two expected, at least two, two-sided).
``--quick-turns``: the clips' own leading and trailing silence trimmed, so that every change of
speaker comes after 0.3-0.9 s, as when people answer at once; where the speech detector is
Silero, the segmentation model then listens for two voices at once around every change
(``diarize.crosstalk_near_changes``: its most costly case; with the clips untrimmed the changes
come after 1.3-1.8 s and it never runs). Also reported: the seconds it heard as two voices at
once (there are none: a false alarm). The last line is one JSON object.

``--real-call``: instead, pyannote's real two-person call (``tests/data/pyannote_sample.wav``, 30 s,
quick turns and four stretches of two voices at once, with its RTTM) repeated to ``--minutes``,
each copy at its own speed (0.95-1.05, seeded) and level, diarized as a phone call. The copies
must differ: exact copies give the speaker encoder the same windows over and over, and the
eigengap then sees one group per kind of window (at CAM++ windows every 1.2 s it counted six
voices, sure, and DER went to 0.62). ``--telephone``: the copies through the telephone band
(``speaker_models.telephone_band``, 300-3400 Hz, then G.711 mu-law at 8 kHz, as ``pipeline.synth`` writes a
telephone call; before round 22, 8 bits on the mu-law curve itself) and diarized as 8 kHz
audio (Silero at 8 kHz, which transcription does not share). DER is scored on the turns Parley
stores (``Diarization.heard_turns``: overlap scored, collar 0.25 s).

``--stages``: one more diarization of the same audio under cProfile, its time split into the
speaker embeddings (features and encoder), speech detection, the listening for two voices at
once, resegmentation, clustering with the count rules, and the rest (``stage_times``): where the
time goes, in the same run as the ratio and the DER.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "audio" / "librispeech-speakers"
BUNDLED = ROOT / "tests" / "data" / "librispeech"
RATE = 16000


def conversation(folder: Path, minutes: float, n_speakers: int | None = None, trim: bool = False) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Alternating turns of two speakers at a time (pairs cycle through all speakers, or the
    first ``n_speakers``) until the recording is ``minutes`` long; returns the audio and the
    reference (start, end, speaker). ``trim``: each clip's leading and trailing silence cut off."""
    import librosa
    from faster_whisper import decode_audio

    speakers = sorted(p.name for p in folder.iterdir() if p.is_dir())[:n_speakers]
    clips = {s: [decode_audio(str(f), sampling_rate=RATE) for f in sorted((folder / s).iterdir())
                 if f.suffix in (".flac", ".opus", ".wav")] for s in speakers}
    if trim:
        clips = {s: [librosa.effects.trim(c, top_db=30)[0] for c in cs] for s, cs in clips.items()}
    rng = np.random.default_rng(0)
    parts, reference, t, turn = [], [], 0.0, 0
    while t < minutes * 60:
        pair = (speakers[(turn // 8) % len(speakers)], speakers[(turn // 8 + 1) % len(speakers)])
        speaker = pair[turn % 2]
        clip = clips[speaker][(turn // 2) % len(clips[speaker])]
        pause = float(rng.uniform(0.3, 0.9))
        parts += [np.zeros(round(pause * RATE), np.float32), clip]
        reference.append((t + pause, t + pause + len(clip) / RATE, speaker))
        t += pause + len(clip) / RATE
        turn += 1
    return np.concatenate(parts)[: round(minutes * 60 * RATE)], reference


def real_call(minutes: float, telephone: bool) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """pyannote's 30 s real call repeated to about ``minutes`` (whole copies), each copy at its own speed and level (so
    that no two copies give the same windows); with ``telephone``, through the telephone band with
    G.711 mu-law at 8 kHz, back at 16 kHz. Returns the audio and the reference (start, end, speaker)."""
    from faster_whisper import decode_audio
    from scipy.signal import resample_poly

    call = decode_audio(str(ROOT / "tests" / "data" / "pyannote_sample.wav"), sampling_rate=RATE)
    turns = [(float(f[3]), float(f[4]), f[7]) for f in (line.split() for line in
             (ROOT / "tests" / "data" / "pyannote_sample.rttm").read_text().splitlines())]
    rng = np.random.default_rng(21)
    parts, reference, t = [], [], 0.0
    for _ in range(max(1, round(minutes * 60 / 30))):  # whole copies of the 30 s call
        down = int(rng.integers(950, 1051))  # this copy's speed: down / 1000 (its times stretched by 1000 / down)
        copy = resample_poly(call, 1000, down).astype(np.float32) * float(10 ** rng.uniform(-0.15, 0.15))
        reference += [(t + start * 1000 / down, t + (start + length) * 1000 / down, who) for start, length, who in turns]
        parts.append(copy)
        t += len(copy) / RATE
    samples = np.concatenate(parts)
    return (narrowband(samples) if telephone else samples), reference


def narrowband(samples: np.ndarray) -> np.ndarray:
    """16 kHz audio through the telephone band with G.711 mu-law at 8 kHz (as ``pipeline.synth``
    writes a telephone call, peak at 0.9 of full scale), back at 16 kHz as Parley decodes it."""
    import io

    import soundfile as sf
    from scipy.signal import resample_poly

    from pipeline.speaker_models import telephone_band

    narrow = resample_poly(telephone_band(samples), 1, 2)
    peak = max(1e-9, float(np.abs(narrow).max()))
    coded = io.BytesIO()
    sf.write(coded, narrow / peak * 0.9, 8000, format="WAV", subtype="ULAW")
    coded.seek(0)
    narrow = sf.read(coded, dtype="float32")[0] / 0.9 * peak
    return resample_poly(narrow, 2, 1).astype(np.float32)


STAGES = (
    ("speaker embeddings", "speaker_models.py", ("features", "embed", "embed_with_frames", "embed_and_pool", "window_voices")),
    ("speech detection", "diarize.py", ("speech_activity", "regions_of", "cut_at_changes")),
    ("listening for two voices at once", "diarize.py", ("crosstalk_near_changes",)),
    ("resegmentation", "diarize.py", ("resegment",)),
    ("clustering and count rules", "diarize.py", ("cluster_count", "joined_by_sound", "unexplained_voice", "split_joined",
                                                    "closest_split", "folded_by_sound")),
)
"""Diarization's stages for ``--stages``: (label, file, functions whose cumulative time is the stage's)."""


def stage_times(run) -> dict[str, float]:
    """Seconds of each of ``STAGES`` in one run of ``run()`` under cProfile (which adds a few
    per cent), ``other`` for the rest and ``total`` for the profiled run's wall time."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    wall = time.perf_counter()
    profile.runcall(run)
    wall = time.perf_counter() - wall
    stats = pstats.Stats(profile).stats  # {(file, line, function): (calls, primitive calls, own, cumulative, callers)}
    out = {label: sum(v[3] for (file, _, name), v in stats.items() if file.endswith(suffix) and name in names)
           for label, suffix, names in STAGES}
    out["other"] = wall - sum(out.values())
    out["total"] = wall
    return out


def fastest(repeat: int, run):
    """(result, wall seconds, CPU seconds) of the fastest of ``repeat`` runs of ``run()``."""
    best = None
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        timing = (result, time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or timing[1] < best[1]:
            best = timing
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clips", type=Path, default=SHARED if SHARED.is_dir() else BUNDLED)
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each side; the fastest counts.")
    parser.add_argument("--model", default=None, help="Speaker encoder: auto (default, the speaker_model setting: CAM++ for a two-person call, resemblyzer otherwise), campplus or resemblyzer.")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--phone", action="store_true",
                      help="Diarize as a two-person phone call (Silero, count 2) instead of a room recording "
                           "(segmentation model, count estimated).")
    kind.add_argument("--face-to-face", action="store_true",
                      help="Diarize as a face-to-face conversation whose words read as two sides (two expected, "
                           "at least two), as the pipeline does since round 16.")
    parser.add_argument("--speakers", type=int, default=None,
                        help="Only the first N speakers of --clips (2 with --phone: a two-person call, whose "
                             "frames diarization also resegments).")
    parser.add_argument("--quick-turns", action="store_true",
                        help="Trim the clips' own silence: every change of speaker after 0.3-0.9 s.")
    parser.add_argument("--real-call", action="store_true",
                        help="pyannote's real call, each copy at its own speed, diarized as a phone call.")
    parser.add_argument("--telephone", action="store_true",
                        help="Through the telephone band at 8 kHz (G.711), diarized as 8 kHz audio: the real call, or the "
                             "conversation (a room recorded at 8 kHz unless --phone or --face-to-face).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="A DiarizeOptions field.")
    parser.add_argument("--stages", action="store_true",
                        help="Also time diarization's stages (embeddings, speech detection, listening for two voices at "
                             "once, resegmentation, clustering) in one more run, under cProfile.")
    args = parser.parse_args()
    if args.real_call and (args.face_to_face or args.quick_turns or args.speakers):
        parser.error("--real-call is a phone call of its own two people: not with --face-to-face, --quick-turns or --speakers")

    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from pipeline.diarize import DiarizeOptions, diarize_full
    from pipeline.models import shared_vad
    from pipeline.records import AudioInfo, DecodedAudio
    from pipeline.settings import Settings
    from pipeline.speaker_models import cpu_has_amx, cpu_info
    from pipeline.transcribe import TranscribeOptions, whisper_model
    from pipeline.transcribe import transcribe as parley_transcribe

    if args.real_call:
        samples, reference = real_call(args.minutes, args.telephone)
        args.phone = True
    else:
        samples, reference = conversation(args.clips, args.minutes, args.speakers, trim=args.quick_turns)
        if args.telephone:
            samples = narrowband(samples)
    duration = len(samples) / RATE
    rate = 8000 if args.telephone else RATE
    from speakers import option_overrides  # bench/speakers.py

    doptions = DiarizeOptions(**{"encoder": args.model, "min_speakers": 2 if args.face_to_face else 1,
                                 **option_overrides(args.set)})
    expected = 2 if args.phone or args.face_to_face else None
    two_sided = args.face_to_face

    def diarized():
        return diarize_full(samples, options=doptions, expected=expected, two_sided=two_sided, source_rate=rate)

    # warm up (models loaded, as in a long-running worker); the encoder that ran (auto: CAM++ for a two-person call)
    encoder_name = diarize_full(samples[: 10 * RATE], options=doptions, expected=expected, two_sided=two_sided,
                                source_rate=rate).encoder

    options = TranscribeOptions.from_settings(Settings())  # Parley's transcription, as configured
    audio = DecodedAudio(info=AudioInfo("wav", "pcm", rate, 1, duration, "mono"), samples=samples[None, :].astype("float32"))
    whisper_model(options)  # loaded once, as in a long-running worker
    vad = shared_vad()

    def transcribe() -> int:
        vad.memo.clear()  # each run pays for its own VAD pass
        return sum(len(u.words) for u in parley_transcribe(audio, options).utterances)

    def transcribe_then_diarize() -> tuple[int, list, float, float]:
        """As the pipeline runs: transcription first; diarization then reuses its VAD probabilities."""
        n_words = transcribe()
        wall, cpu = time.perf_counter(), time.process_time()
        found = diarized()
        return n_words, found, time.perf_counter() - wall, time.process_time() - cpu

    def other_groupings() -> tuple[int, float, float]:
        """The groupings a two-person call's (or a two-sided face-to-face conversation's) words may
        choose from (by voice and by sound), made only when its words do not agree with the turns
        already; timed on their own."""
        found = diarized()
        wall, cpu = time.perf_counter(), time.process_time()
        n = len(found.offered())
        return n, time.perf_counter() - wall, time.process_time() - cpu

    (n_words, _, _, _), transcribe_s, transcribe_cpu = fastest(args.repeat, transcribe_then_diarize)
    runs = [transcribe_then_diarize() for _ in range(max(1, args.repeat))]
    _, found, diarize_s, diarize_cpu = min(runs, key=lambda r: r[2])
    turns = found.turns
    n_other, other_s, other_cpu = min((other_groupings() for _ in range(max(1, args.repeat))), key=lambda r: r[1])
    stages = stage_times(diarized) if args.stages else None

    ref, hyp = Annotation(), Annotation()
    for start, end, speaker in reference:
        if start < duration:
            ref[Segment(start, min(end, duration))] = speaker
    for turn in found.heard_turns():  # as stored and as `parley eval diarization` scores them
        hyp[Segment(turn.start, turn.end)] = turn.speaker
    der = DiarizationErrorRate(collar=0.25, skip_overlap=False)(ref, hyp, uem=Timeline([Segment(0, duration)]))

    ratio = diarize_s / transcribe_s
    cpu, vnni = cpu_info()
    amx = cpu_has_amx()
    print(f"{duration / 60:.1f} min recording: diarization {diarize_s:.1f} s ({diarize_cpu:.1f} s CPU), "
          f"transcription {transcribe_s:.1f} s ({transcribe_cpu:.1f} s CPU, "
          f"{n_words} words); ratio {ratio:.3f} (target <= 0.25); DER {der:.3f}, "
          f"{len({t.speaker for t in turns})} speakers found of {len(ref.labels())}; other groupings for the words "
          f"to choose from, when made: {n_other} in {other_s:.1f} s ({other_cpu:.1f} s CPU), ratio with them "
          f"{(diarize_s + other_s) / transcribe_s:.3f}; heard as two voices at once {found.overlap_s:.1f} s"
          f"{' (none are)' if not args.real_call else ''}; CPU {cpu}, VNNI {vnni}, AMX {amx}")
    if stages:
        print(f"stages (one more run, profiled, {stages['total']:.1f} s): "
              + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in stages.items() if label != "total"))
    print(json.dumps({
        "duration_s": round(duration, 1), "diarize_s": round(diarize_s, 2), "transcribe_s": round(transcribe_s, 2),
        "diarize_cpu_s": round(diarize_cpu, 2), "transcribe_cpu_s": round(transcribe_cpu, 2), "repeat": args.repeat,
        "ratio": round(ratio, 3), "target": 0.25, "other_groupings": n_other, "other_groupings_s": round(other_s, 2),
        "other_groupings_cpu_s": round(other_cpu, 2), "ratio_with_other_groupings": round((diarize_s + other_s) / transcribe_s, 3), "pass": ratio <= 0.25, "der": round(float(der), 4),
        "n_speakers_ref": len(ref.labels()), "n_speakers_hyp": len({t.speaker for t in turns}),
        "clips": "tests/data/pyannote_sample.wav" if args.real_call else str(args.clips), "speakers": args.speakers, "model": encoder_name, "phone": args.phone, "face_to_face": args.face_to_face,
        "quick_turns": args.quick_turns, "crosstalk_s": found.overlap_s, "real_call": args.real_call, "telephone": args.telephone,
        "cpu": cpu, "vnni": vnni, "amx": amx, "stages": stages and {k: round(v, 2) for k, v in stages.items()},
    }))


if __name__ == "__main__":
    main()
