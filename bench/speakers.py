"""Benchmark: diarization error per recording on the speaker sets, with an honest AMI split.

    python bench/speakers.py [--sets ami,libri16,libri8] [--set KEY=VALUE ...] [--json OUT]
    python bench/speakers.py --compare BEFORE.json AFTER.json

Sets (each scored with pyannote.metrics, collar 0.25 s, overlapped speech scored):

- ``ami``: the ten far-field AMI clips in ``../shared/data/audio/ami-train`` (no sidecar: a room
  recording of unknown count, as a new user would drop them in). Reported all ten and in two
  halves, trn00-trn04 and trn05-trn09, so that a setting tuned on the first half can be checked on
  the second. Note that all ten clips were looked at while the current defaults were chosen, so
  neither half is truly held out for them.
- ``ami8``: the same clips as a room recorded at 8 kHz (decoded at 8 kHz, back at 16 kHz as Parley
  decodes an 8 kHz file, ``source_rate`` 8000, no count), halves as for ``ami``; round 29 measured
  the same with ``parley eval diarization`` and sidecars saying ``channel: face-to-face``.
- ``libri16`` / ``libri8``: the LibriSpeech mixtures of ``tests/speaker_mixtures.py`` (10 pairs,
  10 triples), at 16 kHz and through an 8 kHz telephone band (300-3400 Hz), diarized with no
  metadata (count estimated; ``source_rate`` 8000 for the telephone band).
- ``librix16`` / ``librix8``: mixtures of the other shared LibriSpeech clips (not in the tests).
- ``rooms16`` / ``rooms8``: 30 two-person mono calls of ``bench/calls.py`` with no metadata, so
  diarized as rooms (count estimated): rules that add speakers must not split their voices.
- ``short16`` / ``short8``: two speakers of the tests' clips with two long turns each and a third
  who says 2 s twice (``speaker_mixtures.with_a_short_speaker``; 30 orderings), the case where a
  person with a few words is folded into another voice.
- ``shortx16`` / ``shortx8``: the same kind from the shared clips the tests do not use (made after
  every count rule was chosen, to check them).
- ``shorth16`` / ``shorth8``, ``shorte16`` / ``shorte8`` and ``roomsh16`` / ``roomsh8``: the
  same kinds with other words, pauses and calls, made to check round 13's first count rule
  (bench/SPEAKERS.md, "Round 13"), then in view when its second was chosen.
- ``shortn16`` / ``shortn8`` (a third person's 2 s in another order, A C B A C B) and
  ``roomsn16`` / ``roomsn8`` (two-person calls, seeds 36 and 37): made after round 13's second
  rule was chosen, to check it.
- ``shortz16`` / ``shortz8`` (a third person's last 2 s of two clips, A C B A B C),
  ``pairz16`` / ``pairz8`` (two people only, the same clips) and ``roomsz16`` / ``roomsz8``
  (two-person calls, seeds 38 and 39): made after round 28's folded-voice thresholds were chosen,
  to check them.
- ``shortv16`` / ``shortv8`` (a third person who speaks first, C A B A C B) and ``pairv16`` /
  ``pairv8`` (two people only, the same clips): made after round 36's rule (a folded person
  counted by their sound) was chosen, to check it.
- ``pairw16`` / ``pairw8`` and ``threew16`` / ``threew8``: two or three people whose every turn
  comes from another of their clips (``varied_set``): made after round 36's join (a part split off
  that sounds like another speaker joins them) was chosen, to check it; then in view (tuned on)
  when round 37's join was chosen.
- ``pairy16`` / ``pairy8`` and ``threey16`` / ``threey8`` (five or four turns each, each 3-6 s
  cut from another of the person's clips, ``pieces_set``) and ``roomsy16`` / ``roomsy8``
  (two-person calls, seeds 84 and 85): made after round 37's join (voices the eigengap set
  apart that sound alike joined) was chosen, to check it, and before its cut of speech regions
  where their sound changes was chosen, which they check too.
- ``shortq16`` / ``shortq8`` (a third person's 2 s twice, A B C A B A C B, every turn a piece from
  a random place in a random clip), ``pairq16`` / ``pairq8`` (two people only, the same kind of
  pieces) and ``roomsq16`` / ``roomsq8`` (two-person calls, seeds 90 and 91): made in round 38
  before its rule (a voice split a little alike counted apart where its sound is far apart) was
  chosen, and not looked at until it was, to check it.
- ``shortk16`` / ``shortk8``, ``pairk16`` / ``pairk8`` (``shortq`` and ``pairq`` again with new
  seeds, 111-114) and ``roomsk16`` / ``roomsk8`` (two-person calls, seeds 120 and 121): made in round 45
  after every count rule was chosen, to measure the counts on recordings no rule was chosen on;
  then in view while two changes were measured (bench/SPEAKERS.md, round 45), neither taken, and while a
  doubt of telephone-band counts that rest on a join by sound was chosen.
- ``shortj16`` / ``shortj8`` and ``pairj16`` / ``pairj8``: the same kinds with new seeds (115-118), made
  after that doubt was chosen, to check it once; in view in round 46.
- ``shortm16`` / ``shortm8`` and ``pairm16`` / ``pairm8``: the same kinds again with new seeds
  (123-126), made in round 47 with round 46's code, when ``shortk`` and ``shortj`` no longer counted
  as held out: run once to measure where the counts stand; in view in round 48.
- ``shortp16`` / ``shortp8``, ``pairp16`` / ``pairp8`` (seeds 131-134) and ``roomsp16`` / ``roomsp8``
  (two-person calls, seeds 135 and 136): made in round 48 after its choice (CAM++'s window voices
  in an 8 kHz room's eigengap and labels), to check it once with it and without it.
- ``shortr16`` / ``shortr8`` and ``pairr16`` / ``pairr8`` (seeds 201-204): made in round 60 with
  round 59's code, when every set above had been in view, and run once to measure where the
  counts stand; then in view while a floor on telephone-band joins by sound was chosen (round 60,
  not taken: bench/SPEAKERS.md).
- ``shorts16`` / ``shorts8``, ``pairs16`` / ``pairs8`` (seeds 205-208) and ``roomsr16`` / ``roomsr8``
  (two-person calls, seeds 6100 and 6101): made in round 60 after that floor was chosen, to check it.

Each summary also counts the counts doubted (``speakers.count_doubt``, no count expected) among
the wrong and the right ones.

``--set vad=silero`` (any ``DiarizeOptions`` field) changes a setting for the run. Prints one
line per recording (DER, missed, false alarm, confusion, count), a summary per set (with the
missed speech that faster-whisper's Silero VAD hears as speech too, ``voiced_missed``, and the
missed speech where two or more spoke at once, ``missed_overlap``), and with
``--json`` writes every row. CPU seconds are summed per set (``time.process_time``).

``--compare BEFORE.json AFTER.json`` runs nothing: it reads two ``--json`` files (a change of
code or of ``--set``, the same sets) and prints, per set in both, DER and counts right before ->
after with the counts gained and lost, then every recording whose count went from right to
wrong or back, with both count reasons. A total of counts right can hide as many lost as gained
(round 43: the segmentation model's chunks every 7.5 s gained 2 and lost 13 counts at 8 kHz).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.speaker_models import telephone_band as telephone  # noqa: E402  16 kHz through an 8 kHz telephone band

AMI = ROOT.parent / "shared" / "data" / "audio" / "ami-train"
LIBRI = ROOT.parent / "shared" / "data" / "audio" / "librispeech-speakers"
AMI_TUNE = tuple(f"trn{i:02d}" for i in range(5))
"""AMI clips to tune new settings on; trn05-trn09 to check them (all ten were seen in round 1)."""


def rttm_turns(path: Path, uri: str | None = None) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER" and (uri is None or f[1] == uri):
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def ami_set() -> list[dict]:
    from faster_whisper import decode_audio

    return [
        {"name": f"trn{i:02d}", "set": "ami", "part": "trn00-04" if f"trn{i:02d}" in AMI_TUNE else "trn05-09",
         "samples": decode_audio(str(AMI / f"trn{i:02d}.wav"), sampling_rate=16000),
         "reference": rttm_turns(AMI / "train.rttm", f"trn{i:02d}"), "rate": 16000}
        for i in range(10)
    ]


def ami8_set() -> list[dict]:
    """The AMI clips as a room recorded at 8 kHz: each decoded at 8 kHz (PyAV's resampler, as
    ffmpeg would write it), brought back to 16 kHz as ``parley`` decodes an 8 kHz file, diarized
    with ``source_rate`` 8000 and no count (round 29 measured the same with ``parley eval
    diarization`` and sidecars saying ``channel: face-to-face``)."""
    from faster_whisper import decode_audio
    from scipy.signal import resample_poly

    return [
        {"name": f"trn{i:02d}-8k", "set": "ami8", "part": "trn00-04" if f"trn{i:02d}" in AMI_TUNE else "trn05-09",
         "samples": resample_poly(decode_audio(str(AMI / f"trn{i:02d}.wav"), sampling_rate=8000), 2, 1).astype(np.float32),
         "reference": rttm_turns(AMI / "train.rttm", f"trn{i:02d}"), "rate": 8000}
        for i in range(10)
    ]


def libri_set(rate: int) -> list[dict]:
    from speaker_mixtures import PAIRS, TRIPLES, mixture

    out = []
    for speakers in PAIRS + TRIPLES:
        mix = mixture(speakers)
        samples = mix.samples if rate == 16000 else telephone(mix.samples)
        out.append({"name": f"{rate // 1000}k-" + "-".join(speakers), "set": f"libri{rate // 1000}", "part": "tests",
                    "samples": samples, "reference": list(mix.reference), "rate": rate})
    return out


def librix_set(rate: int) -> list[dict]:
    """Two- and three-speaker mixtures of the shared LibriSpeech clips the tests do not use."""
    clips = other_clips()
    speakers = sorted(clips)
    rng = np.random.default_rng(7)
    out = []
    for combo in list(combinations(speakers, 2)) + list(combinations(speakers, 3)):
        turns = []
        for i in range(6):
            s = combo[i % len(combo)]
            turns.append((s, clips[s][(i // len(combo) + len(combo)) % len(clips[s])]))
        x, reference = spaced(turns, rng)
        out.append({"name": f"x{rate // 1000}k-" + "-".join(combo), "set": f"librix{rate // 1000}", "part": "held out",
                    "samples": x if rate == 16000 else telephone(x), "reference": reference, "rate": rate})
    return out


def spaced(turns: list[tuple[str, np.ndarray]], rng) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """(speaker, 16 kHz clip) turns joined with a pause of 0.25-0.9 s before each (from ``rng``)
    and 0.5 s after the last; the audio and its reference (start, end, speaker)."""
    parts, reference, t = [], [], 0.0
    for who, clip in turns:
        pause = float(rng.uniform(0.25, 0.9))
        parts += [np.zeros(int(pause * 16000), np.float32), clip]
        t += pause
        reference.append((t, t + len(clip) / 16000, who))
        t += len(clip) / 16000
    parts.append(np.zeros(8000, np.float32))
    return np.concatenate(parts), reference


def other_clips() -> dict[str, list[np.ndarray]]:
    """Each shared LibriSpeech speaker's clips that the tests do not use, silences trimmed."""
    import librosa
    from faster_whisper import decode_audio

    used = {p.name.split("-mix")[0].split("-enrol")[0] for p in (ROOT / "tests" / "data" / "librispeech").rglob("*.opus")}
    return {s.name: [librosa.effects.trim(decode_audio(str(f), sampling_rate=16000), top_db=20)[0]
                     for f in sorted(s.glob("*.flac")) if f.stem not in used]
            for s in sorted(p for p in LIBRI.iterdir() if p.is_dir())}


@lru_cache(maxsize=1)
def longest_first() -> dict[str, list[np.ndarray]]:
    """``other_clips``, each speaker's longest first, decoded once for every set that asks."""
    return {s: sorted(c, key=len, reverse=True) for s, c in other_clips().items()}


def third_person_set(rate: int, prefix: str, speakers, seed: int, turns_of) -> list[dict]:
    """Mixtures of every ordered three of ``speakers`` (A < B, any third C): ``turns_of(a, b, c)``
    gives the (speaker, clip) turns, joined by ``spaced`` with pauses from ``seed``; named
    ``PREFIX8k-A-B+C`` in set ``short{x,h,...}8`` (or 16), through the telephone band at 8 kHz."""
    from itertools import permutations

    rng, out = np.random.default_rng(seed), []
    for a, b, c in permutations(speakers, 3):
        if a > b:
            continue
        x, reference = spaced(turns_of(a, b, c), rng)
        out.append({"name": f"s{prefix}{rate // 1000}k-{a}-{b}+{c}", "set": f"short{prefix}{rate // 1000}", "part": "held out",
                    "samples": x if rate == 16000 else telephone(x), "reference": reference, "rate": rate})
    return out


def shortx_set(rate: int) -> list[dict]:
    """As ``short_set`` (two talkers, a third who says up to 2 s twice: A B C A B C), from the
    clips the tests do not use: A and B say their two longest, the third the first 2 s of their
    next two; pauses of 0.25-0.9 s. Made after every count rule was chosen, to check them."""
    clips = longest_first()
    return third_person_set(rate, "x", sorted(clips), 11, lambda a, b, c: [
        (a, clips[a][0]), (b, clips[b][0]), (c, clips[c][2][:32000]),
        (a, clips[a][1]), (b, clips[b][1]), (c, clips[c][3][:32000])])


def shorth_set(rate: int) -> list[dict]:
    """As ``short_set``, other words and pauses: A and B say the tests' third and second clips,
    the third person seconds 3-5 and 8-10 of their longest clip that the tests do not use;
    pauses of 0.25-0.9 s from another seed. Made to check round 13's first rule (speech the
    segmentation model heard apart, judged by its voice), then in view when its second (judged
    by its sound) was chosen; neither was taken (bench/SPEAKERS.md, "Round 13")."""
    from speaker_mixtures import SPEAKERS, clips as test_clips

    longest = {s: c[0] for s, c in longest_first().items()}
    return third_person_set(rate, "h", SPEAKERS, 29, lambda a, b, c: [
        (a, test_clips(a, "mix")[2]), (b, test_clips(b, "mix")[2]), (c, longest[c][48000:80000]),
        (a, test_clips(a, "mix")[1]), (b, test_clips(b, "mix")[1]), (c, longest[c][128000:160000])])


def shorte_set(rate: int) -> list[dict]:
    """As ``short_set`` (the third person's words from the tests' enrolment clips), other words
    and pauses: A and B say the tests' third and first clips, the third person the last 2 s of
    their two enrolment clips (for one clip of 2.0 s, the same 2 s as ``short``); pauses of
    0.25-0.9 s from another seed. Made after ``shorth`` had shown no third person folded in
    before or after that rule, to check it once more; then in view when the second was chosen."""
    from speaker_mixtures import SPEAKERS, clips as test_clips

    return third_person_set(rate, "e", SPEAKERS, 31, lambda a, b, c: [
        (a, test_clips(a, "mix")[2]), (b, test_clips(b, "mix")[2]), (c, test_clips(c, "enrol")[0][-32000:]),
        (a, test_clips(a, "mix")[0]), (b, test_clips(b, "mix")[0]), (c, test_clips(c, "enrol")[1][-32000:])])


def shortn_set(rate: int) -> list[dict]:
    """Two talkers and a third who says 2 s twice, in another order (A C B A C B): A and B say
    the tests' second and third clips, the third person seconds 1-3 of their enrolment clips
    (the first 2 s of a clip shorter than 3 s); pauses of 0.25-0.9 s from another seed. Made
    after round 13's second rule was chosen, to check it once (bench/SPEAKERS.md, "Round 13")."""
    from speaker_mixtures import SPEAKERS, clips as test_clips

    def said(c: str, i: int) -> np.ndarray:
        e = test_clips(c, "enrol")[i]
        return e[16000:48000] if len(e) >= 48000 else e[:32000]

    return third_person_set(rate, "n", SPEAKERS, 37, lambda a, b, c: [
        (a, test_clips(a, "mix")[1]), (c, said(c, 0)), (b, test_clips(b, "mix")[1]),
        (a, test_clips(a, "mix")[2]), (c, said(c, 1)), (b, test_clips(b, "mix")[2])])


def shortz_set(rate: int) -> list[dict]:
    """Two talkers and a third who says 2 s twice (A C B A B C), from the clips the tests do not
    use: A and B say their second-longest clip, then their longest, the third the last 2 s of
    their longest and of their second-longest; pauses of 0.25-0.9 s from seed 41. Made after
    round 28's folded-voice thresholds were chosen, to check them."""
    clips = longest_first()
    return third_person_set(rate, "z", sorted(clips), 41, lambda a, b, c: [
        (a, clips[a][1]), (c, clips[c][0][-32000:]), (b, clips[b][1]), (a, clips[a][0]), (b, clips[b][0]),
        (c, clips[c][1][-32000:])])


def two_person_set(rate: int, prefix: str, seed: int, turns_of) -> list[dict]:
    """Mixtures of every two of the shared speakers (A < B): ``turns_of(a, b)`` gives the
    (speaker, clip) turns, joined by ``spaced`` with pauses from ``seed``; named
    ``pPREFIX8k-A-B`` in set ``pair{z,v}8`` (or 16), through the telephone band at 8 kHz."""
    rng, out = np.random.default_rng(seed), []
    for a, b in combinations(sorted(longest_first()), 2):
        x, reference = spaced(turns_of(a, b), rng)
        out.append({"name": f"p{prefix}{rate // 1000}k-{a}-{b}", "set": f"pair{prefix}{rate // 1000}", "part": "held out",
                    "samples": x if rate == 16000 else telephone(x), "reference": reference, "rate": rate})
    return out


def pairz_set(rate: int) -> list[dict]:
    """Every two of the shared speakers alone (A B A B: their second-longest clips, then their
    longest, of the clips the tests do not use; pauses from seed 43): right counts of two that a
    rule doubting two (``DiarizeOptions.folded_below``) must leave alone. Made with ``shortz``."""
    clips = longest_first()
    return two_person_set(rate, "z", 43, lambda a, b: [(a, clips[a][1]), (b, clips[b][1]), (a, clips[a][0]), (b, clips[b][0])])


def longest_half(speaker: str, i: int) -> np.ndarray:
    """The first (``i`` 0) or second (1) half of ``speaker``'s longest clip that the tests do not use."""
    x = longest_first()[speaker][0]
    return x[: len(x) // 2] if i == 0 else x[len(x) // 2:]


def shortv_set(rate: int) -> list[dict]:
    """Two talkers and a third who speaks first and says 2 s twice (C A B A C B), from the clips
    the tests do not use: A and B say the two halves of their longest clip, the third person the
    middle 2 s of their longest and the first 2 s of their second-longest; pauses of 0.25-0.9 s
    from seed 53. Made after round 36's rule (a folded person counted by their sound) was chosen,
    to check it."""
    clips = longest_first()

    def middle(s: str) -> np.ndarray:
        x = clips[s][0]
        return x[len(x) // 2 - 16000: len(x) // 2 + 16000]

    half = longest_half
    return third_person_set(rate, "v", sorted(clips), 53, lambda a, b, c: [
        (c, middle(c)), (a, half(a, 0)), (b, half(b, 0)), (a, half(a, 1)), (c, clips[c][1][:32000]), (b, half(b, 1))])


def pairv_set(rate: int) -> list[dict]:
    """Every two of the shared speakers alone, as ``shortv`` without its third person (A B A B:
    the two halves of each one's longest clip; pauses from seed 59): right counts of two that
    round 36's rule must leave alone. Made with ``shortv``."""
    half = longest_half
    return two_person_set(rate, "v", 59, lambda a, b: [(a, half(a, 0)), (b, half(b, 0)), (a, half(a, 1)), (b, half(b, 1))])


def varied_set(rate: int, n: int) -> list[dict]:
    """Every two (``n`` 2: A B A B A B A B) or three (``n`` 3: A B C A B C A B C) of the shared
    speakers, each of a person's turns another of their clips the tests do not use (their
    clips by length, the longest left out, round again where they have fewer); pauses from seed
    61 (pairs) or 67 (threes). One person's turns from many recordings sound less alike than
    one recording's: the rules that add a speaker must not make two of one person. Made after
    round 36's join (a part split off that sounds like another speaker joins them) was chosen,
    to check it."""
    clips = longest_first()
    rng, out = np.random.default_rng(61 if n == 2 else 67), []
    for combo in combinations(sorted(clips), n):
        turns = [(who, clips[who][1:][i % (len(clips[who]) - 1)]) for i in range(4 if n == 2 else 3) for who in combo]
        x, reference = spaced(turns, rng)
        out.append({"name": f"w{rate // 1000}k-" + "-".join(combo), "set": f"{'pair' if n == 2 else 'three'}w{rate // 1000}",
                    "part": "held out", "samples": x if rate == 16000 else telephone(x), "reference": reference, "rate": rate})
    return out


def piece(rng, clip: np.ndarray, low_s: float, high_s: float) -> np.ndarray:
    """A piece of ``clip`` of ``low_s``-``high_s`` seconds (the whole clip when shorter) from a random place."""
    length = min(len(clip), int(rng.uniform(low_s, high_s) * 16000))
    start = int(rng.integers(0, len(clip) - length + 1))
    return clip[start : start + length]


def pieces_set(rate: int, n: int) -> list[dict]:
    """Every two (``n`` 2) or three of the shared speakers, taking five (pairs: A B A B ...) or
    four (threes) turns each; each turn 3-6 s cut at a random place from the next of the
    person's clips the tests do not use (the longest too, round again). Pauses and cuts from
    seed 83 (pairs) or 89 (threes). Made after round 37's join (voices that sound alike joined)
    was chosen, to check it: one person's turns from different clips, as in ``varied_set``,
    shorter and more of them."""
    clips = longest_first()
    rng, out = np.random.default_rng(83 if n == 2 else 89), []
    for combo in combinations(sorted(clips), n):
        turns = []
        for i in range(5 if n == 2 else 4):
            for who in combo:
                turns.append((who, piece(rng, clips[who][i % len(clips[who])], 3.0, 6.0)))
        x, reference = spaced(turns, rng)
        out.append({"name": f"y{rate // 1000}k-" + "-".join(combo), "set": f"{'pair' if n == 2 else 'three'}y{rate // 1000}",
                    "part": "held out", "samples": x if rate == 16000 else telephone(x), "reference": reference, "rate": rate})
    return out


def random_pieces_third(rate: int, prefix: str, seed: int, pause_seed: int) -> list[dict]:
    """Two talkers and a third who says 2 s twice (A B C A B A C B), every turn a piece from a
    random place in a random one of the person's clips the tests do not use (A and B 3-6 s, the
    third exactly 2 s); pieces from ``seed``, pauses from ``pause_seed`` (``third_person_set``)."""
    clips = longest_first()
    rng = np.random.default_rng(seed)

    def turns(a: str, b: str, c: str) -> list:
        said = {who: (3.0, 6.0) for who in (a, b)} | {c: (2.0, 2.0)}
        return [(who, piece(rng, clips[who][int(rng.integers(len(clips[who])))], *said[who])) for who in (a, b, c, a, b, a, c, b)]

    return third_person_set(rate, prefix, sorted(clips), pause_seed, turns)


def random_pieces_pair(rate: int, prefix: str, seed: int, pause_seed: int) -> list[dict]:
    """Every two of the shared speakers alone (A B A B A B), each turn a 3-6 s piece from a random
    place in a random one of the person's clips the tests do not use; pieces from ``seed``,
    pauses from ``pause_seed`` (``two_person_set``)."""
    clips = longest_first()
    rng = np.random.default_rng(seed)
    return two_person_set(rate, prefix, pause_seed, lambda a, b: [
        (who, piece(rng, clips[who][int(rng.integers(len(clips[who])))], 3.0, 6.0)) for who in (a, b, a, b, a, b)])


def shortq_set(rate: int) -> list[dict]:
    """``random_pieces_third``, pieces from seed 97, pauses from 98. Made in round 38 before its
    rule (a voice split a little alike counted apart where its sound is far apart) was chosen, and
    not looked at until it was, to check it."""
    return random_pieces_third(rate, "q", 97, 98)


def pairq_set(rate: int) -> list[dict]:
    """``random_pieces_pair``, pieces from seed 101, pauses from 102. Made with ``shortq``, to
    check that its rule leaves a right two alone."""
    return random_pieces_pair(rate, "q", 101, 102)


def shortk_set(rate: int) -> list[dict]:
    """As ``shortq`` with new seeds: pieces from 111, pauses from 112. Made in round 45 after every
    count rule was chosen, and run once, to measure the counts on mixtures no rule was chosen on."""
    return random_pieces_third(rate, "k", 111, 112)


def pairk_set(rate: int) -> list[dict]:
    """As ``pairq`` with new seeds: pieces from 113, pauses from 114. Made with ``shortk``, for
    the right twos a rule must leave alone."""
    return random_pieces_pair(rate, "k", 113, 114)


def shortj_set(rate: int) -> list[dict]:
    """As ``shortk`` with new seeds (pieces from 115, pauses from 116): made in round 45 after its
    doubt of a telephone-band count that rests on a join by sound was chosen, to check it once."""
    return random_pieces_third(rate, "j", 115, 116)


def pairj_set(rate: int) -> list[dict]:
    """As ``pairk`` with new seeds (pieces from 117, pauses from 118), made with ``shortj``."""
    return random_pieces_pair(rate, "j", 117, 118)


def shortm_set(rate: int) -> list[dict]:
    """As ``shortj`` with new seeds (pieces from 123, pauses from 124): made in round 47, when
    ``shortk`` and ``shortj`` had been in view for two rounds, to measure the counts once more on
    mixtures no rule was chosen on or looked at."""
    return random_pieces_third(rate, "m", 123, 124)


def pairm_set(rate: int) -> list[dict]:
    """As ``pairj`` with new seeds (pieces from 125, pauses from 126), made with ``shortm``."""
    return random_pieces_pair(rate, "m", 125, 126)


def shortp_set(rate: int) -> list[dict]:
    """As ``shortm`` with new seeds (pieces from 131, pauses from 132): made in round 48 after its
    choice (CAM++'s window voices in an 8 kHz room's eigengap), to check it once, with and without."""
    return random_pieces_third(rate, "p", 131, 132)


def pairp_set(rate: int) -> list[dict]:
    """As ``pairm`` with new seeds (pieces from 133, pauses from 134), made with ``shortp``."""
    return random_pieces_pair(rate, "p", 133, 134)


def shortr_set(rate: int) -> list[dict]:
    """As ``shortp`` with new seeds (pieces from 201, pauses from 202): made in round 60 with
    round 59's code, when every earlier LibriSpeech set had been in view, and run once to measure
    where the counts stand."""
    return random_pieces_third(rate, "r", 201, 202)


def pairr_set(rate: int) -> list[dict]:
    """As ``pairp`` with new seeds (pieces from 203, pauses from 204), made with ``shortr``."""
    return random_pieces_pair(rate, "r", 203, 204)


def shorts_set(rate: int) -> list[dict]:
    """As ``shortr`` with new seeds (pieces from 205, pauses from 206): made in round 60 after a
    floor on telephone-band joins by sound was chosen (not taken), to check it."""
    return random_pieces_third(rate, "s", 205, 206)


def pairs_set(rate: int) -> list[dict]:
    """As ``pairr`` with new seeds (pieces from 207, pauses from 208), made with ``shorts``."""
    return random_pieces_pair(rate, "s", 207, 208)


def short_set(rate: int) -> list[dict]:
    """Two talkers and a third with 2 s twice, every ordering of the tests' five speakers."""
    from itertools import permutations

    from speaker_mixtures import SPEAKERS, with_a_short_speaker

    out = []
    for a, b, c in permutations(SPEAKERS, 3):
        if a < b:
            mix = with_a_short_speaker(a, b, c)
            out.append({"name": f"s{rate // 1000}k-{a}-{b}+{c}", "set": f"short{rate // 1000}", "part": "held out",
                        "samples": mix.samples if rate == 16000 else telephone(mix.samples),
                        "reference": list(mix.reference), "rate": rate})
    return out


ROOM_SETS = {"": ((5, 6), "measured after"), "h": ((34, 35), "held out"), "n": ((36, 37), "held out"),
             "z": ((38, 39), "held out"), "y": ((84, 85), "made after"), "q": ((90, 91), "made after"),
             "k": ((120, 121), "made after"), "p": ((135, 136), "held out"), "r": ((6100, 6101), "held out")}
"""``rooms_set`` kinds: ``bench/calls.py`` seeds (16 kHz, 8 kHz) and status. ``roomsh`` was made to
check round 13's first rule, then in view when its second was chosen; ``roomsn`` was made after
its second was chosen (bench/SPEAKERS.md, "Round 13"); ``roomsy`` after round 37's join was chosen; ``roomsq``
in round 38, before its rule was chosen and not looked at until it was; ``roomsk`` in round 45,
after every count rule was chosen, run once; ``roomsp`` in round 48, after its choice, to check it;
``roomsr`` in round 60, after a floor on telephone-band joins was chosen (not taken), to check it."""


def rooms_set(rate: int, n: int = 30, kind: str = "") -> list[dict]:
    """Two-person calls of ``bench/calls.py`` (held-out voices and rows, mono, the seeds of
    ``ROOM_SETS[kind]``) diarized with no metadata, as a room recording of unknown count: the
    case where a rule that adds speakers could split one voice. Made once into bench/out/."""
    from calls import make_calls
    from faster_whisper import decode_audio

    (seed16, seed8), part = ROOM_SETS[kind]
    name = f"rooms{kind}{rate // 1000}"
    folder = ROOT / "bench" / "out" / name
    if len(list(folder.glob("*.rttm"))) < n:
        make_calls(folder, n, split="test", layout="mono", rate=rate, seed=seed16 if rate == 16000 else seed8)
    out = []
    for rttm in sorted(folder.glob("*.rttm"))[:n]:
        wav = rttm.with_suffix(".wav")
        out.append({"name": wav.stem, "set": name, "part": part,
                    "samples": decode_audio(str(wav), sampling_rate=16000), "reference": rttm_turns(rttm), "rate": rate})
    return out


def score(samples: np.ndarray, reference, turns, collar: float = 0.25) -> dict:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for a, b, s in reference:
        ref[Segment(a, b)] = s
    for t in turns:
        if t.end > t.start:
            hyp[Segment(t.start, t.end)] = t.speaker
    uem = Timeline([Segment(0, max(len(samples) / 16000, max(b for _, b, _ in reference)))])
    d = DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=uem, detailed=True)
    from pipeline.speakers_cli import missed_in_overlap

    return {"missed_s": d["missed detection"], "missed_overlap_s": missed_in_overlap(ref, hyp, uem, collar)[0],
            "false_alarm_s": d["false alarm"], "confusion_s": d["confusion"],
            "scored_s": d["total"], "missed_voiced_s": voiced_missed(samples, reference, turns, collar)}


def voiced_missed(samples: np.ndarray, reference, turns, collar: float = 0.25, step: float = 0.01) -> float:
    """Seconds of reference speech outside the collars (``collar`` / 2 each side of every
    reference boundary, as pyannote.metrics scores) that no turn covers and that
    faster-whisper's Silero VAD hears as speech too. A reference that marks a whole read clip as
    speech counts its pauses and breaths as missed when they are not found; this keeps the misses
    that another model also calls speech. Speech, not speakers: a second voice missed in
    overlapped speech is not counted (the LibriSpeech mixtures have none)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    t = np.arange(0, len(samples) / 16000, step)
    ref, edge, hyp, voiced = (np.zeros(len(t), bool) for _ in range(4))
    for a, b, _ in reference:
        ref[(t >= a) & (t < b)] = True
        edge[(np.abs(t - a) < collar / 2) | (np.abs(t - b) < collar / 2)] = True
    for turn in turns:
        hyp[(t >= turn.start) & (t < turn.end)] = True
    for span in get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=300, speech_pad_ms=30)):
        voiced[(t >= span["start"] / 16000) & (t < span["end"] / 16000)] = True
    return float((ref & ~edge & ~hyp & voiced).sum() * step)


def summary(rows: list[dict]) -> dict:
    total = sum(r["scored_s"] for r in rows) or 1e-9
    parts = {k: sum(r[k + "_s"] for r in rows) / total for k in ("missed", "false_alarm", "confusion")}
    return {"n": len(rows), "der": sum(parts.values()), **parts,
            "missed_overlap": sum(r["missed_overlap_s"] for r in rows) / total,
            "missed_voiced": sum(r["missed_voiced_s"] for r in rows) / total,
            "count_right": sum(r["n_ref"] == r["n_hyp"] for r in rows), "worst": max(r["der"] for r in rows),
            "wrong_counts_doubted": sum(r["count_doubted"] and r["n_ref"] != r["n_hyp"] for r in rows),
            "right_counts_doubted": sum(r["count_doubted"] and r["n_ref"] == r["n_hyp"] for r in rows),
            "cpu_s": sum(r["cpu_s"] for r in rows)}


def compare(before: list[dict], after: list[dict]) -> tuple[list[dict], list[dict]]:
    """Two runs' rows (``--json``'s ``rows``) set by set: for each set in both (in the first run's
    order), its recordings in both, DER before and after (``summary``) and counts right before
    and after with how many were ``gained`` (wrong -> right) and ``lost`` (right -> wrong); and
    each recording whose count changed from right to wrong or back, with both counts and reasons.
    A recording is known by its set and name."""
    def keyed(rows: list[dict]) -> dict:
        return {(r["set"], r["name"]): r for r in rows}

    old, new = keyed(before), keyed(after)
    shared = [k for k in old if k in new]
    sets, changed = [], []
    for name in dict.fromkeys(k[0] for k in shared):
        keys = [k for k in shared if k[0] == name]
        right = [(old[k]["n_ref"] == old[k]["n_hyp"], new[k]["n_ref"] == new[k]["n_hyp"]) for k in keys]
        a, b = summary([old[k] for k in keys]), summary([new[k] for k in keys])
        sets.append({"set": name, "n": len(keys), "der_before": a["der"], "der_after": b["der"],
                     "right_before": a["count_right"], "right_after": b["count_right"],
                     "gained": sum(not x and y for x, y in right), "lost": sum(x and not y for x, y in right)})
        for k, (x, y) in zip(keys, right):
            if x != y:
                changed.append({"set": name, "name": k[1], "n_ref": old[k]["n_ref"], "before": old[k]["n_hyp"],
                                "after": new[k]["n_hyp"], "reason_before": old[k]["count_reason"],
                                "reason_after": new[k]["count_reason"]})
    return sets, changed


def print_comparison(before: Path, after: Path) -> None:
    """``compare`` of two ``--json`` files, printed: a line per set, a total, then the recordings.
    A file that cannot be read as one ends the run with a line naming it and the fix."""
    def rows_of(path: Path) -> list[dict]:
        try:
            rows = json.loads(path.read_text())["rows"]
            if not isinstance(rows, list):
                raise TypeError("its rows are not a list")
            return rows
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"bench/speakers.py --compare: {path}: not a file that --json wrote ({type(exc).__name__}: {exc}); "
                             f"write one with `python bench/speakers.py --sets ... --json {path.name}`") from None

    sets, changed = compare(rows_of(before), rows_of(after))
    for s in sets:
        print(f"{s['set']:14s} DER {s['der_before']:.4f} -> {s['der_after']:.4f}  count right {s['right_before']} -> "
              f"{s['right_after']} of {s['n']} ({s['gained']} gained, {s['lost']} lost)")
    print(f"{'all':14s} count right {sum(s['right_before'] for s in sets)} -> {sum(s['right_after'] for s in sets)} of "
          f"{sum(s['n'] for s in sets)} ({sum(s['gained'] for s in sets)} gained, {sum(s['lost'] for s in sets)} lost)")
    for c in changed:
        print(f"  {c['set']} {c['name']}: {c['n_ref']} people, counted {c['before']} -> {c['after']}\n"
              f"      before: {c['reason_before']}\n      after:  {c['reason_after']}")


def option_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` items (``--set``) as ``DiarizeOptions`` fields of their own types."""
    from pipeline.diarize import DiarizeOptions

    types = {f.name: f.type for f in fields(DiarizeOptions)}
    overrides = {}
    for item in items:
        key, value = item.split("=", 1)
        kind = types[key] if isinstance(types[key], type) else eval(types[key].split("|")[0].strip())  # noqa: S307
        overrides[key] = value if kind is str else (value.lower() in ("1", "true", "yes") if kind is bool else kind(value))
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="ami,libri16,libri8")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="A DiarizeOptions field.")
    parser.add_argument("--only", default="", help="Comma-separated recording names to run (default: all).")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="Compare two --json files set by set and recording by recording; runs nothing.")
    args = parser.parse_args()
    if args.compare:
        print_comparison(*args.compare)
        return

    from pipeline.diarize import DiarizeOptions, diarize_full
    from pipeline.speakers import count_doubt

    overrides = option_overrides(args.set)
    loaders = {"ami": ami_set, "ami8": ami8_set, "libri16": lambda: libri_set(16000), "libri8": lambda: libri_set(8000),
               "librix16": lambda: librix_set(16000), "librix8": lambda: librix_set(8000),
               "short16": lambda: short_set(16000), "short8": lambda: short_set(8000),
               "shortx16": lambda: shortx_set(16000), "shortx8": lambda: shortx_set(8000),
               "rooms16": lambda: rooms_set(16000), "rooms8": lambda: rooms_set(8000),
               "shorth16": lambda: shorth_set(16000), "shorth8": lambda: shorth_set(8000),
               "shorte16": lambda: shorte_set(16000), "shorte8": lambda: shorte_set(8000),
               "roomsh16": lambda: rooms_set(16000, kind="h"), "roomsh8": lambda: rooms_set(8000, kind="h"),
               "shortn16": lambda: shortn_set(16000), "shortn8": lambda: shortn_set(8000),
               "roomsn16": lambda: rooms_set(16000, kind="n"), "roomsn8": lambda: rooms_set(8000, kind="n"),
               "shortz16": lambda: shortz_set(16000), "shortz8": lambda: shortz_set(8000),
               "pairz16": lambda: pairz_set(16000), "pairz8": lambda: pairz_set(8000),
               "shortv16": lambda: shortv_set(16000), "shortv8": lambda: shortv_set(8000),
               "pairv16": lambda: pairv_set(16000), "pairv8": lambda: pairv_set(8000),
               "pairw16": lambda: varied_set(16000, 2), "pairw8": lambda: varied_set(8000, 2),
               "threew16": lambda: varied_set(16000, 3), "threew8": lambda: varied_set(8000, 3),
               "roomsz16": lambda: rooms_set(16000, kind="z"), "roomsz8": lambda: rooms_set(8000, kind="z"),
               "pairy16": lambda: pieces_set(16000, 2), "pairy8": lambda: pieces_set(8000, 2),
               "threey16": lambda: pieces_set(16000, 3), "threey8": lambda: pieces_set(8000, 3),
               "roomsy16": lambda: rooms_set(16000, kind="y"), "roomsy8": lambda: rooms_set(8000, kind="y"),
               "shortq16": lambda: shortq_set(16000), "shortq8": lambda: shortq_set(8000),
               "pairq16": lambda: pairq_set(16000), "pairq8": lambda: pairq_set(8000),
               "roomsq16": lambda: rooms_set(16000, kind="q"), "roomsq8": lambda: rooms_set(8000, kind="q"),
               "shortk16": lambda: shortk_set(16000), "shortk8": lambda: shortk_set(8000),
               "pairk16": lambda: pairk_set(16000), "pairk8": lambda: pairk_set(8000),
               "roomsk16": lambda: rooms_set(16000, kind="k"), "roomsk8": lambda: rooms_set(8000, kind="k"),
               "shortj16": lambda: shortj_set(16000), "shortj8": lambda: shortj_set(8000),
               "pairj16": lambda: pairj_set(16000), "pairj8": lambda: pairj_set(8000),
               "shortm16": lambda: shortm_set(16000), "shortm8": lambda: shortm_set(8000),
               "pairm16": lambda: pairm_set(16000), "pairm8": lambda: pairm_set(8000),
               "shortp16": lambda: shortp_set(16000), "shortp8": lambda: shortp_set(8000),
               "pairp16": lambda: pairp_set(16000), "pairp8": lambda: pairp_set(8000),
               "roomsp16": lambda: rooms_set(16000, kind="p"), "roomsp8": lambda: rooms_set(8000, kind="p"),
               "shortr16": lambda: shortr_set(16000), "shortr8": lambda: shortr_set(8000),
               "pairr16": lambda: pairr_set(16000), "pairr8": lambda: pairr_set(8000),
               "shorts16": lambda: shorts_set(16000), "shorts8": lambda: shorts_set(8000),
               "pairs16": lambda: pairs_set(16000), "pairs8": lambda: pairs_set(8000),
               "roomsr16": lambda: rooms_set(16000, kind="r"), "roomsr8": lambda: rooms_set(8000, kind="r")}
    only = set(filter(None, args.only.split(",")))
    rows = []
    for name in args.sets.split(","):
        for item in loaders[name]():
            if only and item["name"] not in only:
                continue
            options = DiarizeOptions(**overrides)
            cpu = time.process_time()
            result = diarize_full(item["samples"], options=options, source_rate=item["rate"])
            cpu = time.process_time() - cpu
            s = score(item["samples"], item["reference"], result.heard_turns())
            row = {"name": item["name"], "set": item["set"], "part": item["part"], **s,
                   "der": (s["missed_s"] + s["false_alarm_s"] + s["confusion_s"]) / max(s["scored_s"], 1e-9),
                   "n_ref": len({r[2] for r in item["reference"]}), "n_hyp": len({t.speaker for t in result.turns}),
                   "count_confidence": result.count.confidence, "count_reason": result.count.reason,
                   "count_doubted": bool(count_doubt(result.count, None)), "cpu_s": cpu}
            rows.append(row)
            if not args.quiet:
                total = max(s["scored_s"], 1e-9)
                print(f"  {row['name']:34s} DER {row['der']:.3f} missed {s['missed_s'] / total:.3f} "
                      f"false alarm {s['false_alarm_s'] / total:.3f} confusion {s['confusion_s'] / total:.3f} "
                      f"count {row['n_hyp']}/{row['n_ref']} ({result.count.reason})", flush=True)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["set"], []).append(r)
        if r["set"] in ("ami", "ami8"):
            groups.setdefault(f"{r['set']} {r['part']}", []).append(r)
    out = {}
    for key, group in groups.items():
        s = out[key] = summary(group)
        print(f"{key:14s} DER {s['der']:.4f} (missed {s['missed']:.4f}, of it where two or more spoke at once "
              f"{s['missed_overlap']:.4f} and speech to Silero too {s['missed_voiced']:.4f}, "
              f"false alarm {s['false_alarm']:.4f}, "
              f"confusion {s['confusion']:.4f}) count {s['count_right']}/{s['n']} (doubted: {s['wrong_counts_doubted']} of "
              f"{s['n'] - s['count_right']} wrong, {s['right_counts_doubted']} of {s['count_right']} right) worst {s['worst']:.3f} "
              f"CPU {s['cpu_s']:.1f} s", flush=True)
    print(json.dumps({"settings": overrides, "summary": out}))
    if args.json:
        args.json.write_text(json.dumps({"settings": overrides, "summary": out, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
