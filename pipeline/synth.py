"""Scripted contact-centre conversations spoken by espeak-ng, with their ground truth.

``synthesize(turns, out_path, stereo=...)`` speaks each ``Turn`` with its role's voice, lays
the turns on a timeline with natural gaps (0.3-1.2 s, now and then a slight overlap), writes
the audio in the format its extension names and returns the ``Script``: who spoke when and
what, exportable as RTTM (diarization truth) and STM (transcript truth).

Stereo puts staff on the LEFT channel and the customer on the RIGHT, as call recorders do;
mono mixes both voices on one channel, as a microphone on a branch counter would.
``python -m pipeline.synth`` rebuilds the scripted samples listed in
``data/samples/scripts.yaml``.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
import yaml
from scipy.signal import butter, resample_poly, sosfiltfilt

from .errors import ConfigError

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
CHANNEL_OF_ROLE = {"staff": 0, "customer": 1, "colleague": 0}
"""Stereo channel of each role: staff left (0), customer right (1); a colleague the call is
transferred to speaks on the staff side, as a phone system records them."""
TELEPHONE_BAND_HZ = (300.0, 3400.0)
"""Pass band of ``telephone=True`` (2nd-order Butterworth, run forwards and back)."""
LEAD_IN_S = 0.5
TAIL_S = 0.6
PEAK = 0.5
"""Peak amplitude of every turn, so two overlapping voices never clip when mixed."""
GAP_RANGE_S = (0.3, 1.2)
OVERLAP_RANGE_S = (0.1, 0.35)
OVERLAP_CHANCE = 0.12
FFMPEG_CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
    ".ogg": ["-c:a", "libopus", "-b:a", "24k"],
    ".opus": ["-c:a", "libopus", "-b:a", "24k"],
    ".m4a": ["-c:a", "aac", "-b:a", "24k"],
}
"""Compressed formats written through the ffmpeg CLI, with their codec and bit rate."""
SUFFIXES = (".wav", ".flac", *FFMPEG_CODECS)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice (``language+variant``), its speed in words per minute and pitch 0-99,
    its level in the recording in dB (``gain_db``: a quieter phone line below 0) and the
    reverberation time of the room between it and the microphone (``reverb_s``, RT60 in
    seconds; 0: dry, as if close to the microphone; see ``room_echo``)."""

    name: str
    speed_wpm: int = 160
    pitch: int = 50
    gain_db: float = 0.0
    reverb_s: float = 0.0


REVERB_DRR_DB = 3.0
"""Direct-to-reverberant ratio of a voice with ``reverb_s``: someone across a desk, 1-2 m from the
microphone, in an office or a branch."""


def room_echo(clip: np.ndarray, rate: int, rt60_s: float, seed: str) -> np.ndarray:
    """``clip`` as heard from across a room: convolved with an impulse response made of the direct
    sound and a tail of noise that decays by 60 dB in ``rt60_s`` seconds, its energy
    ``REVERB_DRR_DB`` under the direct sound's (the usual synthetic room of speech research; no
    early reflections). The result is longer than ``clip`` by the tail. ``seed`` (the voice's
    name) gives the same room every time."""
    from scipy.signal import fftconvolve

    n = int(rt60_s * rate)
    rng = np.random.default_rng(int.from_bytes(seed.encode()[:8].ljust(8, b"\0"), "little"))
    tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(1, n + 1) / n)
    tail *= np.sqrt(10 ** (-REVERB_DRR_DB / 10) / np.sum(tail**2))
    return fftconvolve(clip, np.concatenate([[1.0], tail])).astype(np.float32)


DEFAULT_VOICES = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f4", 165, 70)}


@dataclass(frozen=True)
class Turn:
    """One scripted turn. ``gap_s``: silence before it (negative = overlap); None = random."""

    role: str
    text: str
    gap_s: float | None = None


@dataclass(frozen=True)
class ScriptTurn:
    """Ground truth of one spoken turn: times in seconds from the start of the recording."""

    index: int
    speaker: str
    role: str
    channel: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Script:
    """What was synthesized: the timeline of turns and the shape of the audio written."""

    turns: tuple[ScriptTurn, ...]
    duration_s: float
    sample_rate: int
    channels: int

    def to_rttm(self, uri: str) -> str:
        """One RTTM ``SPEAKER`` line per turn (channel 1 = left/mono, 2 = right)."""
        return "".join(
            f"SPEAKER {uri} {t.channel + 1} {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
            for t in self.turns
        )

    def to_stm(self, uri: str) -> str:
        """One STM line per turn: ``uri channel speaker start end text``."""
        return "".join(f"{uri} {t.channel + 1} {t.speaker} {t.start:.3f} {t.end:.3f} {t.text}\n" for t in self.turns)


def _require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ConfigError(f"{tool} is not installed", fix=f"sudo apt-get install {package}")
    return found


def speak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; returns mono float32 samples (silence trimmed) and their rate."""
    cmd = [_require("espeak-ng", "espeak-ng"), "-v", voice.name, "-s", str(voice.speed_wpm), "-p", str(voice.pitch), "--stdout"]
    done = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        raise ConfigError(f"espeak-ng failed for voice '{voice.name}': {done.stderr.decode().strip()}", fix="list voices with `espeak-ng --voices=en`")
    samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32")
    return at_peak(samples, f"espeak-ng spoke nothing for {text!r}; give every turn some words"), rate


def at_peak(samples: np.ndarray, silent: str) -> np.ndarray:
    """A spoken turn with the silence before and after it trimmed (under 2% of its peak) and
    scaled to ``PEAK``; ValueError ``silent`` where nothing was spoken."""
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max()) if samples.any() else []
    if len(loud) == 0:
        raise ValueError(silent)
    samples = samples[loud[0] : loud[-1] + 1]
    return samples * (PEAK / np.abs(samples).max())


def _resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def _gap(rng: np.random.Generator, role_changes: bool) -> float:
    if role_changes and rng.random() < OVERLAP_CHANCE:
        return -float(rng.uniform(*OVERLAP_RANGE_S))
    return float(rng.uniform(*GAP_RANGE_S))


def synthesize(
    turns: Sequence[Turn],
    out_path: str | Path,
    *,
    stereo: bool,
    sample_rate: int | None = None,
    voices: dict[str, str | Voice] | None = None,
    telephone: bool = False,
    seed: int = 0,
    speaker: Callable[[str, Voice], tuple[np.ndarray, int]] | None = None,
) -> Script:
    """Speak ``turns`` into ``out_path`` (wav, flac, mp3, ogg, opus or m4a) and return the truth.

    ``sample_rate`` defaults to 8000 Hz for ``telephone`` (which also band-limits to
    300-3400 Hz and writes WAV as G.711 mu-law, as phone systems record) and 16000 Hz otherwise.
    ``voices`` maps a role to an espeak-ng voice; stereo takes the roles staff and
    customer (and colleague, on the staff side). The same ``seed`` gives the same gaps, hence the same audio.
    ``speaker``: what speaks a turn, ``speak`` (espeak-ng) unless given (``bench/neural_voices.py``
    passes its neural voices); it returns mono float32 samples and their rate.
    """
    out_path = Path(out_path)
    voices = {role: Voice(v) if isinstance(v, str) else v for role, v in (voices or DEFAULT_VOICES).items()}
    rate = sample_rate or (8000 if telephone else 16000)
    allowed = set(voices) & set(CHANNEL_OF_ROLE) if stereo else set(voices)
    unknown = {t.role for t in turns} - allowed
    if unknown or not turns:
        raise ValueError(f"{out_path}: turns need roles from {sorted(allowed)}; got {sorted(unknown) or 'no turns'}")
    if out_path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{out_path}: unsupported extension; use one of {', '.join(SUFFIXES)}")
    rng = np.random.default_rng(seed)
    clips: list[np.ndarray] = []
    timeline: list[ScriptTurn] = []
    for i, turn in enumerate(turns):
        voice = voices[turn.role]
        samples, spoken_rate = (speaker or speak)(turn.text, voice)
        clip = _resample(samples, spoken_rate, rate) * np.float32(10 ** (voice.gain_db / 20))
        heard = room_echo(clip, rate, voice.reverb_s, voice.name) if voice.reverb_s > 0 else clip
        if i == 0:
            start = LEAD_IN_S
        else:
            gap = turn.gap_s if turn.gap_s is not None else _gap(rng, turn.role != turns[i - 1].role)
            start = max(max(t.end for t in timeline) + gap, timeline[-1].start + 0.1)
        start = round(start, 3)
        channel = CHANNEL_OF_ROLE[turn.role] if stereo else 0
        timeline.append(ScriptTurn(i, turn.role, turn.role, channel, start, round(start + len(clip) / rate, 3), turn.text))
        clips.append(heard)  # the turn ends where the words end; a room's echo trails into the pause
    audio = np.zeros((2 if stereo else 1, int(round((max(t.end for t in timeline) + TAIL_S) * rate))), np.float32)
    for t, clip in zip(timeline, clips):
        first = int(round(t.start * rate))
        clip = clip[: audio.shape[1] - first]
        audio[t.channel, first : first + len(clip)] += clip
    if telephone:
        audio = telephone_band(audio, rate)
    _write_audio(np.clip(audio, -1.0, 1.0), rate, out_path, mulaw=telephone)
    return Script(tuple(timeline), audio.shape[1] / rate, rate, audio.shape[0])


# -- hold music ------------------------------------------------------------------------------------
PROGRESSIONS = ((0, 7, 9, 5), (0, 5, 7, 0), (9, 5, 0, 7), (0, 9, 5, 7))
"""Chords as semitones above the key (I-V-vi-IV and others), each a bar of four beats."""
PENTATONIC = (0, 2, 4, 7, 9)


def _tone(freq: float, length: int, rate: int, harmonics: list[float], decay_s: float, vibrato: float = 0.0) -> np.ndarray:
    """One note: ``harmonics`` (amplitudes of 1, 2, 3... times ``freq``, those under the band's
    top only), an attack of 10 ms and an exponential decay of ``decay_s``."""
    t = np.arange(length) / rate
    phase = 2 * np.pi * freq * t
    if vibrato:
        phase += vibrato * np.sin(2 * np.pi * 5.0 * t) / 5.0
    note = sum(a * np.sin((h + 1) * phase) for h, a in enumerate(harmonics) if (h + 1) * freq < rate / 2 * 0.9)
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / decay_s)
    return (note * envelope).astype(np.float32)


def hold_music(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``seconds`` of hold music at unit RMS, made here (no recording of music is needed): a
    four-chord progression on an electric-piano tone with a bass line, a melody on a flute-like
    tone with vibrato, and a soft hi-hat, its key, tempo and tones drawn from ``rng``
    (``bench/hold.py``; the tests)."""
    n = int(seconds * rate)
    out = np.zeros(n + rate * 3, np.float32)
    key = 220.0 * 2 ** (int(rng.integers(-3, 6)) / 12)
    beat = 60.0 / float(rng.uniform(84, 124))
    chords = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    piano = [1.0, 0.5 * float(rng.uniform(0.5, 1.2)), 0.3, 0.2 * float(rng.uniform(0.3, 1.0)), 0.1, 0.05]
    flute = [1.0, 0.2 * float(rng.uniform(0.2, 1.0)), 0.1]
    bar, time, step = 4 * beat, 0.0, 0
    while time < seconds:
        root = chords[step % len(chords)]
        minor = root in (9, 4, 2)
        start = int(time * rate)
        for interval in (0, 3 if minor else 4, 7):  # the chord, on beats 1 and 3
            f = key * 2 ** ((root + interval) / 12)
            for b in (0, 2):
                at = start + int(b * beat * rate)
                out[at: at + int(2 * beat * rate)] += 0.25 * _tone(f, int(2 * beat * rate), rate, piano, 0.8)
        bass = key / 2 * 2 ** (root / 12)
        for b in range(4):
            at = start + int(b * beat * rate)
            out[at: at + int(beat * rate)] += 0.35 * _tone(bass, int(beat * rate), rate, [1.0, 0.4, 0.15], 0.5)
        note = int(rng.integers(len(PENTATONIC)))
        t = 0.0
        while t < bar:  # the melody: a walk on the pentatonic scale, quavers and crotchets
            length = beat * (0.5 if rng.random() < 0.6 else 1.0)
            note = int(np.clip(note + rng.integers(-2, 3), 0, 2 * len(PENTATONIC) - 1))
            octave, degree = divmod(note, len(PENTATONIC))
            f = 2 * key * 2 ** ((PENTATONIC[degree] + 12 * octave) / 12)
            at = start + int(t * rate)
            if rng.random() < 0.85:
                out[at: at + int(length * rate)] += 0.3 * _tone(f, int(length * rate), rate, flute, 1.5, vibrato=0.01 * f)
            t += length
        for b in range(8):  # hi-hat on the quavers
            at = start + int(b * beat / 2 * rate)
            hit = rng.standard_normal(int(0.05 * rate)).astype(np.float32) * np.exp(-np.arange(int(0.05 * rate)) / (0.01 * rate))
            out[at: at + len(hit)] += 0.04 * np.diff(hit, prepend=0.0).astype(np.float32)
        time += bar
        step += 1
    music = out[:n]
    fade = min(int(0.3 * rate), n // 2)
    music[:fade] *= np.linspace(0, 1, fade)
    music[n - fade:] *= np.linspace(1, 0, fade)
    return music / max(float(np.sqrt(np.mean(music ** 2))), 1e-9)


def telephone_band(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` (its last axis is time) band-limited to ``TELEPHONE_BAND_HZ`` as a phone line
    does (second-order Butterworth, forwards and backwards), float32."""
    return sosfiltfilt(butter(2, TELEPHONE_BAND_HZ, btype="bandpass", fs=rate, output="sos"), audio, axis=-1).astype(np.float32)


def _write_audio(audio: np.ndarray, rate: int, out_path: Path, *, mulaw: bool = False) -> None:
    """Write ``audio`` (channels x samples, float) in the format named by the file extension."""
    suffix = out_path.suffix.lower()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".wav", ".flac"):
        subtype = "ULAW" if mulaw and suffix == ".wav" else "PCM_16"
        sf.write(out_path, audio.T, rate, subtype=subtype)
        return
    wav = io.BytesIO()
    sf.write(wav, audio.T, rate, format="WAV", subtype="PCM_16")
    cmd = [_require("ffmpeg", "ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-f", "wav", "-i", "pipe:0"]
    cmd += [*FFMPEG_CODECS[suffix], "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", str(out_path)]
    done = subprocess.run(cmd, input=wav.getvalue(), capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"ffmpeg could not write {suffix}: {done.stderr.decode().strip()}", fix="check `ffmpeg -encoders`", path=str(out_path))


def _turns(items: list[dict]) -> list[Turn]:
    """YAML turns: ``- staff: text`` or ``- {customer: text, gap_s: -0.2}``."""
    turns = []
    for item in items:
        gap = item.get("gap_s")
        ((role, text),) = [(k, v) for k, v in item.items() if k != "gap_s"]
        turns.append(Turn(role, " ".join(str(text).split()), gap))
    return turns


def build_samples(spec_path: Path = SAMPLES_DIR / "scripts.yaml", out_dir: Path = SAMPLES_DIR) -> list[Path]:
    """Synthesize every sample in ``spec_path`` into ``out_dir``, with its sidecar JSON (when the
    spec gives ``meta``) and its ground truth in ``out_dir/truth/NAME.rttm`` and ``.stm``."""
    written = []
    for spec in yaml.safe_load(Path(spec_path).read_text())["samples"]:
        audio_path = out_dir / spec["file"]
        voices = {role: Voice(**v) for role, v in spec["voices"].items()}
        script = synthesize(
            _turns(spec["turns"]), audio_path, stereo=spec["stereo"], sample_rate=spec.get("sample_rate"),
            voices=voices, telephone=spec.get("telephone", False), seed=spec.get("seed", 0),
        )
        uri = audio_path.stem
        (out_dir / "truth").mkdir(exist_ok=True)
        (out_dir / "truth" / f"{uri}.rttm").write_text(script.to_rttm(uri))
        (out_dir / "truth" / f"{uri}.stm").write_text(script.to_stm(uri))
        if spec.get("meta"):
            audio_path.with_suffix(".json").write_text(json.dumps(spec["meta"], indent=2) + "\n")
        print(f"{audio_path.name}: {script.duration_s:.1f} s, {len(script.turns)} turns", file=sys.stderr)
        written.append(audio_path)
    return written


if __name__ == "__main__":
    build_samples()
