"""Hold music in the middle of each call of a folder (``bench/calls.py``'s), to measure Parley on
what a contact centre's recordings hold besides two voices: the staff member puts the customer on
hold, and the recording carries the music until they come back.

Each call gets one stretch of music (``--min-s`` to ``--max-s`` seconds, by a seed from the
call's bytes) at the first change from the customer to the staff member after ``--after`` of the
call (a call that ``bench/calls.py --transfer`` made: where it is put through, before the colleague's first
turn, or in a warm transfer the staff member's introduction): the audio from there on moves later, and so do the RTTM's and the STM's turns (the music is
nobody's speech: it is in no turn). The music is made, no recording of it is needed
(``pipeline.synth.hold_music``: chords, bass, melody and hi-hat, drawn per call), at the speech's
loudness (``--level-db`` against the speech's RMS). Telephone-band input (8 kHz or less) keeps
its band (300-3400 Hz) and its G.711 mu-law WAV; a stereo call gets the hold on one channel
(``--channel``, the staff member's by default: what the phone system sends the customer), the
other silent. Sidecars are copied, and each truth file says
where the hold is (``hold_s``).

    python bench/hold.py bench/out/roles-s54 bench/out/roles-s54-hold
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.synth import hold_music, telephone_band  # noqa: E402

ANNOUNCEMENTS = (
    "Thank you for holding. Your call is important to us, and one of our team will be with you shortly.",
    "Did you know you can manage your account online, at any time, on our website?",
    "Thank you for your patience. Please continue to hold, and we will be with you as soon as we can.",
)
"""What a recorded voice says over the music (``--announce``), in turn, every ``ANNOUNCE_EVERY_S``."""
WELCOMES = (
    "Thank you for calling. Calls may be recorded for training and quality purposes. Please hold while we connect you.",
    "Welcome. Please note that calls are recorded and may be monitored. Your call is important to us.",
    "Thank you for calling. To help us improve our service, this call will be recorded. Please hold.",
    "Hello, and thank you for calling. Your call may be recorded. One of our team will be with you shortly.",
)
"""What the phone system's recorded voice says before anyone answers (``--welcome``), one per call."""
ANNOUNCE_FIRST_S = 3.0
ANNOUNCE_EVERY_S = 15.0
DUCK_DB = -12.0
"""The music under an announcement, against its own level."""
EDGE_S = 0.5
"""Silence either side of the music."""


def read_turns(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def hold_point(rttm: list[list[str]], after: float, duration: float) -> float | None:
    """Where the hold goes: the middle of the silence before the first staff turn that follows a
    customer's turn and starts after ``after`` x ``duration`` seconds (None: no such change)."""
    turns = sorted((float(p[3]), float(p[3]) + float(p[4]), p[7]) for p in rttm if p and p[0] == "SPEAKER")
    ended = 0.0
    for (_a, b, who), (c, _d, nxt) in zip(turns, turns[1:]):
        ended = max(ended, b)
        if who == "customer" and nxt == "staff" and c >= after * duration and c > ended:
            return (ended + c) / 2
    return None


def transfer_point(rttm: list[list[str]], transfer_s: float) -> float:
    """Where the hold goes in a transferred call (``bench/calls.py --transfer``): the middle of
    the silence before the turn that starts at ``transfer_s``: the colleague's first (cold), the
    staff member's introduction of the customer to them (warm)."""
    ended = max((float(p[3]) + float(p[4]) for p in rttm if p and p[0] == "SPEAKER" and float(p[3]) < transfer_s - 0.01), default=0.0)
    return (min(ended, transfer_s) + transfer_s) / 2


def spoken(text: str, voice, rate: int, speaker=None) -> np.ndarray:
    """``text`` in the recorded voice ``voice`` (espeak, or ``speaker``'s: ``neural_voices.speak``), at ``rate``."""
    from math import gcd

    from scipy.signal import resample_poly

    from pipeline.synth import speak

    clip, clip_rate = (speaker or speak)(text, voice)
    g = gcd(clip_rate, rate)
    return resample_poly(clip, rate // g, clip_rate // g).astype(np.float32)


def announcements(seconds: float, rate: int, voice, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """The recorded voice's announcements over ``seconds`` of hold (``ANNOUNCEMENTS`` from a
    random one on, every ``ANNOUNCE_EVERY_S``), as one track, and their times and words."""
    track, said = np.zeros(int(seconds * rate), np.float32), []
    first, at = int(rng.integers(len(ANNOUNCEMENTS))), ANNOUNCE_FIRST_S
    while True:
        text = ANNOUNCEMENTS[(first + len(said)) % len(ANNOUNCEMENTS)]
        clip = spoken(text, voice, rate)
        if at + len(clip) / rate > seconds - 1.0:
            return track, said
        a = int(at * rate)
        track[a: a + len(clip)] += clip
        said.append((at, at + len(clip) / rate, text))
        at += len(clip) / rate + ANNOUNCE_EVERY_S


def add_hold(src: Path, dst: Path, min_s: float, max_s: float, after: float, level_db: float,
             announce: bool = False, channel: int = 0, welcome: bool | str = False, tts: str = "espeak") -> tuple[float, float] | None:
    """Write ``src`` with hold music to ``dst`` (and its RTTM and STM moved); returns where the
    music lies in ``dst`` (seconds), None when the call has no change from customer to staff late
    enough (copied unchanged). ``announce``: a recorded voice (an espeak voice neither person
    has) speaks over the music; its turns are in the RTTM and the STM as ``announcement``.
    ``channel``: a stereo recording's channel that carries the hold (the other is silent there).
    ``welcome``: the call opens with the phone system's recorded welcome (one of ``WELCOMES``, or
    the text given, in a recorded voice neither person has, in the RTTM and the STM as ``announcement``), then the
    queue's music (none where ``max_s`` is 0), then the call as it was. ``tts``: "neural" speaks the
    welcome in a neural voice neither person has (``bench/neural_voices.py``; a phone system's
    welcome is recorded by a voice artist or a good synthesiser, not a formant one); the
    announcements over the music stay espeak's."""
    info = sf.info(src)
    audio, rate = sf.read(src, dtype="float32", always_2d=True)
    # seeded by the recording's own bytes: the same call gets the same hold, another call (of any
    # folder, whatever its name) another piece, length and voice
    rng = np.random.default_rng(int(hashlib.sha256(b"hold:" + src.read_bytes()).hexdigest()[:12], 16))
    rttm = read_turns(src.with_suffix(".rttm"))
    truth = src.with_name(f"{src.stem}.truth.json")
    known = json.loads(truth.read_text()) if truth.exists() else {}
    if welcome:  # before anyone answers
        at = 0.0
    elif known.get("transfer_s") is not None:  # a transferred call: on hold while it is put through
        at = transfer_point(rttm, known["transfer_s"])
    else:
        at = hold_point(rttm, after, len(audio) / rate)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if at is None:
        sf.write(dst, audio, rate, subtype=info.subtype)
        for suffix in (".rttm", ".stm"):
            if src.with_suffix(suffix).exists():
                shutil.copy(src.with_suffix(suffix), dst.with_suffix(suffix))
        return None
    seconds = float(rng.uniform(min(min_s, max_s), max_s))  # --max-s 0 under the default --min-s: no music
    music = hold_music(seconds, rate, rng) if seconds >= 1.0 else np.zeros(0, np.float32)
    speech = np.zeros(len(audio), dtype=bool)
    for p in rttm:
        speech[int(float(p[3]) * rate): int((float(p[3]) + float(p[4])) * rate)] = True
    loud = float(np.sqrt(np.mean(audio[speech] ** 2))) if speech.any() else 0.1
    music = music * loud * 10 ** (level_db / 20)
    said: list[tuple[float, float, str]] = []
    welcome_clip = np.zeros(0, np.float32)
    if announce or welcome:
        from pipeline.synth import Voice

        sys.path.insert(0, str(ROOT / "bench"))
        from calls import VOICES

        used = {known.get(k) for k in ("staff_voice", "customer_voice", "companion_voice")}
        free = [v for v in VOICES if v[0] not in used]
        name, _sex, pitch, wpm = free[int(rng.integers(len(free)))]
        recorded = Voice(name, wpm, pitch)
    if welcome:
        text = welcome if isinstance(welcome, str) else WELCOMES[int(rng.integers(len(WELCOMES)))]
        if tts == "neural":
            import neural_voices

            pool = [v for v in neural_voices.NEURAL_VOICES if v[0] not in used]
            name, _sex, pitch, wpm = pool[int(rng.integers(len(pool)))]
            clip = spoken(text, Voice(name, wpm, pitch), rate, neural_voices.speak)
        else:
            clip = spoken(text, recorded, rate)
        welcome_clip = clip * loud / max(float(np.sqrt(np.mean(clip[np.abs(clip) > 1e-4] ** 2))), 1e-9)
        welcome_clip = np.concatenate([welcome_clip, np.zeros(int(0.4 * rate), np.float32)])
        said.append((-len(welcome_clip) / rate, -0.4, text))  # before the music: moved below
    if announce and len(music):
        track, heard = announcements(seconds, rate, recorded, rng)
        if heard:  # music too short for its first announcement: music alone
            said += heard
            track *= loud / max(float(np.sqrt(np.mean(track[track != 0] ** 2))), 1e-9)
            busy = np.convolve(np.abs(track) > 0, np.ones(int(0.2 * rate)), mode="same") > 0
            music = np.where(busy, music * 10 ** (DUCK_DB / 20), music) + track
    if rate <= 8000 and len(music):
        music = telephone_band(music, rate)
    if rate <= 8000 and len(welcome_clip):
        welcome_clip = telephone_band(welcome_clip, rate)
    edge = np.zeros(int(EDGE_S * rate), np.float32)
    inserted = np.concatenate([edge, welcome_clip, music, edge])
    lead = len(welcome_clip) / rate
    said = [(a + lead, b + lead, text) for a, b, text in said]
    cut = int(at * rate)
    shift = len(inserted) / rate
    track = np.zeros((len(inserted), audio.shape[1]), np.float32)  # stereo: on one channel, the other silent
    track[:, channel if audio.shape[1] > 1 else 0] = inserted
    held = np.concatenate([audio[:cut], track, audio[cut:]])
    sf.write(dst, np.clip(held, -1.0, 1.0), rate, subtype=info.subtype)
    lines = []
    uri = rttm[0][1] if rttm else dst.stem
    for p in rttm:
        start = float(p[3])
        p[3] = f"{start + shift if start >= at else start:.3f}"
        lines.append(" ".join(p))
    side = channel + 1 if audio.shape[1] > 1 else 1
    lines += [f"SPEAKER {uri} {side} {at + EDGE_S + a:.3f} {b - a:.3f} <NA> <NA> announcement <NA> <NA>" for a, b, _ in said]
    lines.sort(key=lambda line: float(line.split()[3]))
    dst.with_suffix(".rttm").write_text("".join(f"{line}\n" for line in lines))
    stm = read_turns(src.with_suffix(".stm"))
    if stm:
        out = []
        for p in stm:
            start, end = float(p[3]), float(p[4])
            if start >= at:
                start, end = start + shift, end + shift
            out.append(" ".join(p[:3] + [f"{start:.3f}", f"{end:.3f}"] + p[5:]))
        out += [f"{uri} {side} announcement {at + EDGE_S + a:.3f} {at + EDGE_S + b:.3f} {text}" for a, b, text in said]
        out.sort(key=lambda line: float(line.split()[3]))
        dst.with_suffix(".stm").write_text("".join(f"{line}\n" for line in out))
    return round(at + EDGE_S + lead, 3), round(at + EDGE_S + lead + len(music) / rate, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--min-s", type=float, default=15.0)
    parser.add_argument("--max-s", type=float, default=40.0)
    parser.add_argument("--after", type=float, default=0.4, help="share of the call before the hold at the earliest")
    parser.add_argument("--announce", action="store_true", help="a recorded voice over the music now and then")
    parser.add_argument("--channel", type=int, default=0, help="stereo: the channel the hold is on (0: left, the staff member's)")
    parser.add_argument("--level-db", type=float, default=-3.0, help="the music's RMS against the speech's, in dB")
    parser.add_argument("--welcome", action="store_true",
                        help="the hold at the start: the phone system's recorded welcome, then the queue's music (--max-s 0: none)")
    parser.add_argument("--welcome-tts", choices=["espeak", "neural"], default="espeak",
                        help="with --welcome: who speaks it (neural: bench/neural_voices.py, `make bench-voices`)")
    parser.add_argument("--welcome-texts", type=Path, default=None,
                        help="with --welcome: a file of welcomes, one a line, one drawn per call (default: WELCOMES)")
    args = parser.parse_args()
    wavs = sorted(args.src.glob("*.wav"))
    if not wavs:
        raise SystemExit(f"{args.src}: no .wav recordings; make some with bench/calls.py")
    held = 0
    for wav in wavs:
        welcome: bool | str = args.welcome
        if args.welcome and args.welcome_texts:
            texts = [line.strip() for line in args.welcome_texts.read_text().splitlines() if line.strip()]
            welcome = texts[int(hashlib.sha256(b"welcome:" + wav.read_bytes()).hexdigest()[:8], 16) % len(texts)]
        where = add_hold(wav, args.out / wav.name, args.min_s, args.max_s, args.after, args.level_db, args.announce, args.channel,
                         welcome, args.welcome_tts)
        for suffix in (".json",):
            if wav.with_suffix(suffix).exists():
                shutil.copy(wav.with_suffix(suffix), args.out / (wav.stem + suffix))
        truth = args.src / f"{wav.stem}.truth.json"
        if truth.exists():
            data = json.loads(truth.read_text())
            data["hold_s"] = list(where) if where else None
            if where and data.get("transfer_s") is not None:
                data["transfer_s"] = round(data["transfer_s"] + where[1] - where[0] + 2 * EDGE_S, 3)
            (args.out / truth.name).write_text(json.dumps(data, indent=1) + "\n")
        held += where is not None
        print(f"{wav.name}: " + (f"hold music {where[0]:.1f}-{where[1]:.1f} s" if where else "no hold (no change to the staff late enough)"), file=sys.stderr)
    print(f"{args.out}: {held} of {len(wavs)} recordings put on hold", file=sys.stderr)


if __name__ == "__main__":
    main()
