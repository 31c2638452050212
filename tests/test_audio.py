from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, telephone_copy, truncated_mp3
from pipeline.audio import decode, encode
from pipeline.errors import TerminalError


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg", ".m4a"])
def test_every_supported_format_decodes_to_16k_channels(tmp_path, suffix):
    path = telephone_copy(tmp_path, DATA / "stereo_diarization.wav", suffix)
    audio = decode(path)
    assert audio.sample_rate == 16000
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape[0] == 2 and audio.info.layout == "stereo"
    assert audio.info.sample_rate == (48000 if suffix == ".ogg" else 8000)
    # AAC adds its encoder priming and padding (1024 samples each end: 0.26 s at 8 kHz)
    assert abs(audio.info.duration_s - 5.0) < (0.3 if suffix == ".m4a" else 0.05)


def test_two_identical_channels_are_one_mono_signal():
    audio = decode(DATA / "jfk.flac")  # the file is stereo with the same signal on both sides
    assert audio.info.channels == 2 and audio.info.layout == "dual-mono"
    assert audio.samples.shape == (1, 176000)


def test_zero_length_file_is_terminal(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(TerminalError, match="empty"):
        decode(empty)


def test_text_named_wav_is_terminal(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("call notes: customer rang about a refund\n")
    with pytest.raises(TerminalError, match="not a readable audio file"):
        decode(fake)


def test_truncated_mp3_is_terminal(tmp_path):
    with pytest.raises(TerminalError, match=r"truncated: it declares 11.0 s but only 4.\d s decode"):
        decode(truncated_mp3(tmp_path))


def test_truncated_wav_is_terminal(tmp_path):
    data = (DATA / "stereo_diarization.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TerminalError, match="WAV file is truncated"):
        decode(cut)


def test_over_long_recording_is_refused(tmp_path):
    with pytest.raises(TerminalError, match="over the 0.0 h limit"):
        decode(DATA / "jfk.flac", max_duration_s=5)


def test_encode_refuses_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write '\.xyz'"):
        encode(tmp_path / "a.xyz", np.zeros(160, np.float32), 16000)


def _two_channels(tmp_path, left, right, name="two.wav"):
    import soundfile as sf

    path = tmp_path / name
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    return path


def test_a_two_channel_file_with_speech_on_one_side_only_is_processed_as_that_side():
    """A call recorder that put the whole call on one channel (the other silent, or steady hiss):
    not one speaker per channel, so the speaking side goes on as mono (to be diarized)."""
    import tempfile

    real = decode(DATA / "stereo_diarization.wav").samples  # real speech, one speaker per channel
    both = real[0] + real[1]
    hiss = np.random.default_rng(0).normal(0, 10 ** (-55 / 20), len(both)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for left, right, layout in [(both, np.zeros_like(both), "one-sided-0"), (hiss, both, "one-sided-1"),
                                    (both, hiss, "one-sided-0")]:
            audio = decode(_two_channels(tmp, left, right))
            assert audio.info.layout == layout and audio.info.channels == 2 and audio.samples.shape == (1, len(both))
            assert np.abs(audio.samples[0] - (left if layout.endswith("0") else right)).max() < 1e-3
        # a person on each side stays stereo: a quiet one (30 dB down), a noisy line (speech 5 dB over white noise)
        quiet = real[1] * 10 ** (-30 / 20)
        power = float(np.mean(real[1][np.abs(real[1]) > 1e-3] ** 2))
        noisy = real[1] + np.random.default_rng(1).normal(0, np.sqrt(power) * 10 ** (-5 / 20), len(both)).astype(np.float32)
        for right in (quiet, noisy):
            audio = decode(_two_channels(tmp, real[0], np.clip(right, -1, 1)))
            assert audio.info.layout == "stereo" and audio.samples.shape[0] == 2
