"""bench/phone_codecs.py: a call through a mobile or VoIP codec, and with packets lost in bursts, stays
an 8 kHz G.711 call of the same length and timing (the README's codec figures rest on it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import phone_codecs as bench_codecs  # noqa: E402

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def call_8k(tmp_path_factory) -> Path:
    samples, rate = sf.read(DATA / "jfk.flac", dtype="float32", always_2d=True)
    assert rate == 44100
    src = tmp_path_factory.mktemp("in") / "jfk.wav"
    sf.write(src, resample_poly(samples[:, 0], 80, 441), 8000, subtype="ULAW")
    return src


def test_packets_are_lost_in_bursts_at_the_share_asked_for() -> None:
    rng = np.random.default_rng(0)
    assert not bench_codecs.lost_packets(1000, 0.0, rng).any()
    lost = bench_codecs.lost_packets(200_000, 0.05, rng)
    assert abs(lost.mean() - 0.05) < 0.005
    starts = np.flatnonzero(np.diff(lost.astype(int)) == 1)
    assert 1.7 < lost.sum() / len(starts) < 2.3  # bursts of two packets on average, not single losses


@pytest.mark.parametrize("codec", ["gsm", "opus", "amr"])
def test_a_call_through_a_codec_keeps_its_length_timing_and_g711_format(call_8k: Path, tmp_path: Path, codec: str) -> None:
    encoder = {"gsm": "libgsm", "opus": "libopus", "amr": "libopencore_amrnb"}[codec]
    if encoder not in bench_codecs.encoders():
        pytest.skip(f"this ffmpeg (or PyAV, for AMR) has no {encoder} encoder")
    out = tmp_path / codec / call_8k.name
    assert bench_codecs.degrade(call_8k, out, codec, bench_codecs.DEFAULT_KBPS.get(codec, 8.0), 0.0) == 0.0
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (8000, 1, "ULAW", sf.info(call_8k).frames)
    clean, coded = sf.read(call_8k, dtype="float32")[0], sf.read(out, dtype="float32")[0]
    assert not np.array_equal(clean, coded)
    # the codec's delay is taken off: the decoded call lines up with the input, not a few ms late
    lags = {lag: float(np.dot(clean[800:-800], np.roll(coded, -lag)[800:-800])) for lag in range(-40, 41)}
    assert abs(max(lags, key=lags.get)) <= 2
    assert np.corrcoef(clean, coded)[0, 1] > 0.7


def test_amr_modes_set_the_bit_rate_and_an_unknown_mode_is_refused(call_8k: Path) -> None:
    if not bench_codecs.pyav_amr():
        pytest.skip("PyAV has no libopencore_amrnb encoder")
    clean = sf.read(call_8k, dtype="float32")[0]
    full, lowest = (bench_codecs.through_codec(clean, "amr", kbps) for kbps in (12.2, 4.75))
    assert len(full) == len(lowest) == len(clean)

    def error(coded: np.ndarray) -> float:
        return float(np.sum((coded - clean) ** 2) / np.sum(clean ** 2))

    assert error(full) < error(lowest) < 1.0  # the 4.75 kbit/s mode keeps less of the waveform than 12.2
    with pytest.raises(SystemExit, match="AMR-NB has no 8 kbit/s mode"):
        bench_codecs.through_codec(clean, "amr", 8.0)


AMR_FRAME_BYTES = {0: 13, 1: 14, 2: 16, 3: 18, 4: 20, 5: 21, 6: 27, 7: 32, 8: 6, 15: 1}
"""RFC 4867's AMR-NB storage format: bytes of a frame (its table-of-contents byte included) by
its frame type: 0-7 the modes 4.75-12.2 kbit/s, 8 a silence description, 15 no data."""


def amr_frame_types(path: Path) -> list[int]:
    data = path.read_bytes()
    assert data.startswith(b"#!AMR\n")
    at, types = 6, []
    while at < len(data):
        kind = (data[at] >> 3) & 0x0F
        types.append(kind)
        at += AMR_FRAME_BYTES[kind]
    assert at == len(data)
    return types


def test_amr_sends_its_mode_in_speech_and_silence_descriptions_in_pauses(call_8k: Path, tmp_path: Path) -> None:
    if not bench_codecs.pyav_amr():
        pytest.skip("PyAV has no libopencore_amrnb encoder")
    clean = sf.read(call_8k, dtype="float32")[0]
    speech = np.concatenate([clean, np.zeros(8000, np.float32), clean])  # a pause of 1 s between two phrases
    for kbps, mode in ((12.2, 7), (4.75, 0)):
        types = amr_frame_types(bench_codecs.encode_amr(speech, kbps, tmp_path / f"{kbps}.amr"))
        assert abs(len(types) - len(speech) / 160) <= 2  # one frame every 20 ms
        assert set(types) <= {mode, 8, 15}  # speech in the mode asked for, nothing else
        assert types.count(mode) > 0.8 * (2 * len(clean) / 160)
        # discontinuous transmission: the pause goes as silence descriptions and empty frames
        assert types.count(8) + types.count(15) >= 40


def test_lost_packets_are_silence_and_the_same_file_loses_the_same_ones(call_8k: Path, tmp_path: Path) -> None:
    out = tmp_path / "loss" / call_8k.name
    share = bench_codecs.degrade(call_8k, out, "g711", 8.0, 0.1)
    assert 0.02 < share < 0.25  # an 11 s call: about 550 packets
    clean, lossy = sf.read(call_8k, dtype="float32")[0], sf.read(out, dtype="float32")[0]
    packet = int(bench_codecs.PACKET_S * 8000)
    n = len(clean) // packet
    silent = np.array([not lossy[i * packet: (i + 1) * packet].any() for i in range(n)])
    was_silent = np.array([not clean[i * packet: (i + 1) * packet].any() for i in range(n)])
    assert abs((silent & ~was_silent).sum() - share * n) <= 2
    kept = ~silent
    assert np.array_equal(lossy[: n * packet].reshape(n, packet)[kept], clean[: n * packet].reshape(n, packet)[kept])
    again = tmp_path / "again" / call_8k.name
    bench_codecs.degrade(call_8k, again, "g711", 8.0, 0.1)
    assert np.array_equal(sf.read(again, dtype="float32")[0], lossy)


def test_concealed_losses_repeat_the_voice_then_fade_and_keep_every_packet_that_came(call_8k: Path, tmp_path: Path) -> None:
    out = tmp_path / "conceal" / call_8k.name
    share = bench_codecs.degrade(call_8k, out, "g711", 8.0, 0.1, concealed=True)
    silent_out = tmp_path / "silent" / call_8k.name
    assert bench_codecs.degrade(call_8k, silent_out, "g711", 8.0, 0.1) == share  # the same packets lost
    clean, filled, silent = (sf.read(p, dtype="float32")[0] for p in (call_8k, out, silent_out))
    packet = int(bench_codecs.PACKET_S * 8000)
    n = len(clean) // packet
    frames = lambda x: x[: n * packet].reshape(n, packet)  # noqa: E731
    lost = np.array([not frames(silent)[i].any() and frames(clean)[i].any() for i in range(n)])
    voiced = lost & (np.abs(frames(clean)).mean(axis=1) > 0.05)
    assert voiced.sum() >= 5
    # a lost packet amid speech is not silence, and sounds more like what was said than silence does
    assert all(frames(filled)[i].any() for i in np.flatnonzero(voiced))
    head = slice(0, int(bench_codecs.CONCEAL_FULL_S * 8000))
    err = lambda x: float(np.sum((frames(x)[voiced][:, head] - frames(clean)[voiced][:, head]) ** 2))  # noqa: E731
    assert err(filled) < err(silent)
    # packets that came are kept (bar the 4 ms cross-fade at the start of each)
    came = ~lost & np.concatenate([[True], ~lost[:-1]])
    assert np.array_equal(frames(filled)[came], frames(silent)[came])
    # after 60 ms of a loss, silence: losses are at most a few packets, so test the fade itself
    burst = np.zeros(n, dtype=bool)
    burst[n // 2: n // 2 + 5] = True  # 100 ms lost
    faded = bench_codecs.conceal(clean, burst, packet, 8000)
    gone = slice((n // 2) * packet + int(0.06 * 8000), (n // 2 + 5) * packet)
    assert not faded[gone].any() and faded[(n // 2) * packet: (n // 2) * packet + 80].any()


def test_concealment_keeps_the_voice_for_10_ms_fades_it_by_60_ms_and_cross_fades_into_what_came() -> None:
    rate, packet = 8000, 160
    t = np.arange(rate) / rate
    voice = (0.5 * np.sin(2 * np.pi * 100.0 * t)).astype(np.float32)  # a 10 ms pitch period
    lost = np.zeros(rate // packet, dtype=bool)
    lost[10:12] = True  # 40 ms lost from 200 ms: the fill has not faded out
    lost[30:35] = True  # 100 ms lost from 600 ms: it has
    out = bench_codecs.conceal(voice, lost, packet, rate)
    a = 10 * packet
    full = int(bench_codecs.CONCEAL_FULL_S * rate)
    assert np.allclose(out[a: a + full], voice[a: a + full], atol=1e-4)  # the period carried on, at full level
    near_20ms = np.arange(a + 150, a + 171)
    near_20ms = near_20ms[np.abs(voice[near_20ms]) > 0.2]
    level = out[near_20ms] / voice[near_20ms]  # 20% less every 10 ms after the first: 0.8 at 20 ms
    assert len(level) >= 5 and np.all((level > 0.77) & (level < 0.83))
    b = 12 * packet
    ramp = out[b: b + 32]  # 4 ms: from the fill (0.6 of the level after 40 ms) into the packet that came
    assert not np.allclose(ramp, voice[b: b + 32], atol=1e-3) and np.allclose(out[b + 32: b + 160], voice[b + 32: b + 160])
    c = 30 * packet
    assert not out[c + int(0.06 * rate): 35 * packet].any()  # silent from 60 ms on
    assert np.array_equal(out[35 * packet: 36 * packet], voice[35 * packet: 36 * packet])  # faded out: no cross-fade
    assert not bench_codecs.conceal(voice, np.eye(1, len(lost), 1, dtype=bool)[0], packet, rate)[160:320].any()  # nothing before it to repeat


def test_a_softphone_call_at_16_khz_stays_16_khz_and_a_narrowband_codec_is_refused(tmp_path: Path) -> None:
    if "g722" not in bench_codecs.encoders():
        pytest.skip("this ffmpeg has no g722 encoder")
    samples, rate = sf.read(DATA / "jfk.flac", dtype="float32", always_2d=True)
    src = tmp_path / "in" / "jfk16.wav"
    src.parent.mkdir()
    sf.write(src, resample_poly(samples[:, 0], 160, 441), 16000, subtype="PCM_16")
    out = tmp_path / "g722" / src.name
    bench_codecs.degrade(src, out, "g722", 8.0, 0.0)
    info = sf.info(out)
    assert (info.samplerate, info.subtype, info.frames) == (16000, "PCM_16", sf.info(src).frames)
    clean, coded = sf.read(src, dtype="float32")[0], sf.read(out, dtype="float32")[0]
    assert np.corrcoef(clean, coded)[0, 1] > 0.9  # G.722 at 64 kbit/s keeps the waveform, in time
    with pytest.raises(SystemExit, match="gsm does not carry 16 kHz calls"):
        bench_codecs.degrade(src, tmp_path / "gsm" / src.name, "gsm", 8.0, 0.0)
