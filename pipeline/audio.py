"""Probe and decode recordings with PyAV (bundled with faster-whisper): any common format,
8 kHz telephone to 48 kHz, mono or stereo, resampled to 16 kHz float32, channels kept apart."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np

from .errors import TerminalError
from .records import AudioInfo, DecodedAudio

TARGET_RATE = 16000
_TRUNCATION_TOLERANCE_S = 0.5


def decode(path: str | Path, *, max_duration_s: float | None = None) -> DecodedAudio:
    """Decode ``path`` to 16 kHz float32, shape (channels, samples), 1 or 2 channels.

    Raises ``TerminalError`` for empty, non-audio, unreadable, truncated or over-long files.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise TerminalError("the file is empty (0 bytes)", fix="re-export or re-copy the recording", path=path, stage="decode")
    _check_wav_header(path, size)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise TerminalError(
            f"not a readable audio file ({_reason(exc)})",
            fix="check it is a wav, flac, mp3, ogg/opus or m4a recording and re-export it",
            path=path,
            stage="decode",
        ) from exc
    with container:
        if not container.streams.audio:
            raise TerminalError("the file has no audio stream", fix="export the audio track as wav, flac, mp3, ogg or m4a", path=path, stage="decode")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        layout = "stereo" if channels == 2 else "mono"
        declared = _declared_duration(container, stream)
        if max_duration_s and declared and declared > max_duration_s:
            raise TerminalError(
                f"the recording is {declared / 3600:.1f} h long, over the {max_duration_s / 3600:.1f} h limit",
                fix="split it, or raise PARLEY_MAX_DURATION_S",
                path=path,
                stage="decode",
            )
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=TARGET_RATE)
        chunks: list[np.ndarray] = []
        limit = int(max_duration_s * TARGET_RATE) if max_duration_s else None
        decoded_samples = 0
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    decoded_samples += chunks[-1].shape[1]
                if limit and decoded_samples > limit:  # no declared length: stop before memory runs out
                    raise TerminalError(
                        f"the recording is longer than the {max_duration_s / 3600:.1f} h limit",
                        fix="split it, or raise PARLEY_MAX_DURATION_S",
                        path=path,
                        stage="decode",
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except (av.error.FFmpegError, ValueError) as exc:
            decoded = sum(c.shape[1] for c in chunks) / TARGET_RATE
            raise TerminalError(
                f"the file is damaged or truncated: decoding failed after {decoded:.1f} s ({_reason(exc)})",
                fix="re-copy the complete recording from its source",
                path=path,
                stage="decode",
            ) from exc
        info_format = container.format.name
        codec = stream.codec_context.name
        rate = stream.codec_context.sample_rate or stream.rate
    n_channels = 2 if layout == "stereo" else 1
    samples = np.concatenate(chunks, axis=1).astype(np.float32) if chunks else np.zeros((n_channels, 0), np.float32)
    duration = samples.shape[1] / TARGET_RATE
    if duration == 0:
        raise TerminalError("the file holds no audio samples", fix="re-export the recording", path=path, stage="decode")
    if declared and declared - duration > max(_TRUNCATION_TOLERANCE_S, 0.02 * declared):
        raise TerminalError(
            f"the file is truncated: it declares {declared:.1f} s but only {duration:.1f} s decode",
            fix="re-copy the complete recording from its source",
            path=path,
            stage="decode",
        )
    layout_name = layout
    if n_channels == 2 and _is_dual_mono(samples):
        samples, layout_name = samples[:1].copy(), "dual-mono"
    elif n_channels == 2 and (speaking := one_sided(samples)) is not None:
        samples, layout_name = samples[speaking : speaking + 1].copy(), f"one-sided-{speaking}"
    info = AudioInfo(
        format=info_format, codec=codec, sample_rate=int(rate), channels=n_channels, duration_s=round(duration, 3), layout=layout_name
    )
    return DecodedAudio(info=info, samples=samples)


SPEECH_RANGE_DB = 12.0
"""A channel whose loudest 1% of 50 ms frames is less than this above its quietest 10% carries
no speech (silence, or steady line hiss); speech, even quiet, rises 25 dB and more over its pauses."""
SILENT_DBFS = -65.0
"""... nor does one whose loudest 1% stays under this level."""
QUIETER_DB = 20.0
"""... and to be taken for a side with no one on it, its loudest 1% must also be this much under
the speaking channel's: a noisy line with a person on it is about as loud as the other side."""


def channel_speech_range(channel: np.ndarray) -> tuple[float, float]:
    """(loudest 1% of 50 ms frames, that minus the quietest 10%), in dB full scale."""
    frame = TARGET_RATE // 20
    n = len(channel) // frame
    if n < 20:
        return -120.0, 0.0
    energy = 10 * np.log10(np.mean(channel[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud, quiet = np.percentile(energy, [99, 10])
    return float(loud), float(loud - quiet)


def one_sided(samples: np.ndarray) -> int | None:
    """The channel that carries speech when the other carries none (a two-channel file whose
    recorder put the whole call on one side: silence or hiss on the other), else None. Such a file
    is not one speaker per channel: the speaking channel is processed as mono, so the call is
    diarized (``layout`` one-sided-N) instead of every word taking that channel's role."""
    ranges = [channel_speech_range(samples[c]) for c in (0, 1)]
    speaks = [loud >= SILENT_DBFS and rise >= SPEECH_RANGE_DB for loud, rise in ranges]
    if speaks.count(True) != 1:
        return None
    speaking = speaks.index(True)
    return speaking if ranges[speaking][0] - ranges[1 - speaking][0] >= QUIETER_DB else None


def _is_dual_mono(samples: np.ndarray) -> bool:
    """Both channels carry the same signal (a mono recording saved as stereo)."""
    left, right = samples[0].astype(np.float64), samples[1].astype(np.float64)
    norm = float(np.sqrt((left @ left) * (right @ right)))
    if norm == 0:  # silent on at least one side: dual-mono only if both are silent
        return not (left.any() or right.any())
    return float(left @ right) / norm > 0.98


def _declared_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _check_wav_header(path: Path, size: int) -> None:
    """A WAV's data chunk states its length: fewer bytes on disk means the copy was cut short."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                available = size - pos - 8
                if clen not in (0, 0xFFFFFFFF) and available < clen * 0.98:
                    raise TerminalError(
                        f"the WAV file is truncated: its header promises {clen} bytes of audio, {available} are there",
                        fix="re-copy the complete recording from its source",
                        path=path,
                        stage="decode",
                    )
                return
            pos += 8 + clen + (clen & 1)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() or type(exc).__name__


_ENCODERS = {
    ".wav": ("wav", "pcm_s16le"),
    ".flac": ("flac", "flac"),
    ".mp3": ("mp3", "libmp3lame"),
    ".ogg": ("ogg", "libopus"),
    ".opus": ("ogg", "libopus"),
    ".m4a": ("ipod", "aac"),
}


_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
"""The only input rates libopus takes; others are resampled to 48 kHz."""

_FAST = {"libmp3lame": {"compression_level": "7"}, "libopus": {"compression_level": "5"}, "aac": {"aac_coder": "fast"}}
"""Encoder presets that take ~half the CPU of the defaults (LAME -q 7, Opus complexity 5, FFmpeg
AAC's fast coder) at the same bit rate, for speech: used for redacted archive copies."""


def encode(path: str | Path, samples: np.ndarray, sample_rate: int, *, fast: bool = False, out_rate: int | None = None) -> Path:
    """Write float32 audio (channels x samples, or 1-D mono) in the format the extension names,
    resampled to ``out_rate`` if given; ``fast``: the encoder's faster preset, for speech copies."""
    path = Path(path)
    if path.suffix.lower() not in _ENCODERS:
        raise ValueError(f"{path}: cannot write '{path.suffix}'. Fix: use one of {', '.join(_ENCODERS)}")
    fmt, codec = _ENCODERS[path.suffix.lower()]
    data = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    layout = "stereo" if data.shape[0] == 2 else "mono"
    out_rate = out_rate or sample_rate
    if codec == "libopus" and out_rate not in _OPUS_RATES:
        out_rate = 48000
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=out_rate, options=_FAST.get(codec, {}) if fast else {})
        stream.layout = layout
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=out_rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
