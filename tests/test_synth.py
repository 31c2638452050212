"""pipeline.synth: real espeak-ng speech, laid out on the timeline its Script reports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import yaml

from pipeline.errors import ConfigError
from pipeline.records import METADATA_FIELDS
from pipeline.synth import (DEFAULT_VOICES, GAP_RANGE_S, LEAD_IN_S, OVERLAP_RANGE_S, SAMPLES_DIR, Turn, Voice, build_samples,
                            synthesize)

CALL = [
    Turn("staff", "Thank you for calling Northfield."),
    Turn("customer", "I was charged twice.", gap_s=0.6),
    Turn("staff", "I am sorry, I will refund it.", gap_s=0.4),
]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


@pytest.fixture(scope="module")
def phone_call(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("synth") / "call.wav"
    return out, synthesize(CALL, out, stereo=True, telephone=True)


def test_stereo_telephone_wav_shape(phone_call):
    out, script = phone_call
    info = sf.info(out)
    assert (info.channels, info.samplerate, info.subtype) == (2, 8000, "ULAW")
    assert (script.channels, script.sample_rate) == (2, 8000)
    assert info.frames == round(script.duration_s * 8000)
    assert script.duration_s == pytest.approx(script.turns[-1].end + 0.6, abs=1e-3)


def test_timeline_follows_the_given_gaps(phone_call):
    _, script = phone_call
    turns = script.turns
    assert [t.role for t in turns] == ["staff", "customer", "staff"]
    assert [t.channel for t in turns] == [0, 1, 0]
    assert turns[0].start == LEAD_IN_S
    assert turns[1].start == pytest.approx(turns[0].end + 0.6, abs=1e-3)
    assert turns[2].start == pytest.approx(turns[1].end + 0.4, abs=1e-3)
    assert all(t.end - t.start > 0.8 for t in turns)
    assert [t.text for t in turns] == [t.text for t in CALL]


def test_each_voice_only_on_its_channel_and_only_while_it_speaks(phone_call):
    out, script = phone_call
    audio, rate = sf.read(out, dtype="float32")
    margin = int(0.03 * rate)
    for turn in script.turns:
        a, b = int(turn.start * rate), int(turn.end * rate)
        speech = rms(audio[a:b, turn.channel])
        assert speech > 0.05
        assert rms(audio[a + margin : b - margin, 1 - turn.channel]) < 0.01 * speech
        # silence was trimmed: speech starts and ends at the reported times
        assert rms(audio[a : a + 4 * margin, turn.channel]) > 0.05 * speech
        assert rms(audio[b - 4 * margin : b, turn.channel]) > 0.05 * speech
        assert rms(audio[a - 4 * margin : a - margin, turn.channel]) < 0.01 * speech
    gap = audio[int((script.turns[0].end + 0.05) * rate) : int((script.turns[1].start - 0.05) * rate)]
    assert rms(gap) < 1e-3


def test_telephone_band_keeps_no_low_rumble(phone_call):
    out, script = phone_call
    audio, rate = sf.read(out, dtype="float32")
    staff = audio[int(script.turns[0].start * rate) : int(script.turns[0].end * rate), 0]
    spectrum = np.abs(np.fft.rfft(staff)) ** 2
    freqs = np.fft.rfftfreq(len(staff), 1 / rate)
    assert spectrum[freqs < 150].sum() < 0.02 * spectrum[(freqs > 300) & (freqs < 3400)].sum()


def test_rttm_and_stm_have_one_line_per_turn(phone_call):
    _, script = phone_call
    rttm = [line.split() for line in script.to_rttm("call").splitlines()]
    assert rttm == [
        ["SPEAKER", "call", str(t.channel + 1), f"{t.start:.3f}", f"{t.end - t.start:.3f}", "<NA>", "<NA>", t.speaker, "<NA>", "<NA>"]
        for t in script.turns
    ]
    stm = script.to_stm("call").splitlines()
    assert stm[1] == f"call 2 customer {script.turns[1].start:.3f} {script.turns[1].end:.3f} I was charged twice."
    assert len(stm) == 3


def test_mono_mixes_both_voices_at_16k(tmp_path):
    out = tmp_path / "branch.flac"
    script = synthesize(CALL[:2], out, stereo=False, seed=3)
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert (audio.shape[1], rate, script.channels) == (1, 16000, 1)
    assert {t.channel for t in script.turns} == {0}
    for turn in script.turns:
        assert rms(audio[int(turn.start * rate) : int(turn.end * rate), 0]) > 0.05


def test_a_voice_gain_makes_that_side_quieter_and_changes_nothing_else(tmp_path):
    quiet = {**DEFAULT_VOICES, "customer": replace(DEFAULT_VOICES["customer"], gain_db=-10.0)}
    loud_script = synthesize(CALL, tmp_path / "loud.flac", stereo=False, voices=DEFAULT_VOICES, seed=5)
    quiet_script = synthesize(CALL, tmp_path / "quiet.flac", stereo=False, voices=quiet, seed=5)
    assert loud_script.turns == quiet_script.turns  # the same words at the same times
    loud, rate = sf.read(tmp_path / "loud.flac", dtype="float32")
    soft, _ = sf.read(tmp_path / "quiet.flac", dtype="float32")
    for turn in loud_script.turns:
        span = slice(int(turn.start * rate), int(turn.end * rate))
        ratio_db = 20 * np.log10(rms(soft[span]) / rms(loud[span]))
        assert ratio_db == pytest.approx(-10.0 if turn.role == "customer" else 0.0, abs=0.2)


def test_a_voice_across_the_room_echoes_into_the_pause_and_keeps_its_times(tmp_path):
    far = {**DEFAULT_VOICES, "customer": replace(DEFAULT_VOICES["customer"], reverb_s=0.5)}
    dry_script = synthesize(CALL, tmp_path / "dry.flac", stereo=False, voices=DEFAULT_VOICES, seed=5)
    far_script = synthesize(CALL, tmp_path / "far.flac", stereo=False, voices=far, seed=5)
    assert dry_script.turns == far_script.turns
    dry, rate = sf.read(tmp_path / "dry.flac", dtype="float32")
    wet, _ = sf.read(tmp_path / "far.flac", dtype="float32")
    end = int(next(t for t in far_script.turns if t.role == "customer").end * rate)
    first, second = slice(end, end + rate // 5), slice(end + rate // 5, end + 2 * rate // 5)  # the 0.4 s pause after
    assert rms(dry[first]) < 1e-4  # a dry voice leaves silence
    assert rms(wet[first]) > 10 * rms(wet[second]) > 0  # the echo trails into the pause and dies away
    staff = next(t for t in far_script.turns if t.role == "staff")
    span = slice(int(staff.start * rate), int(staff.end * rate))
    assert np.abs(wet[span] - dry[span]).max() < 1e-3  # the staff member, close to the microphone, unchanged


def test_random_gaps_are_deterministic_and_in_range(tmp_path):
    turns = [Turn("staff" if i % 2 == 0 else "customer", "Yes.") for i in range(8)]
    first = synthesize(turns, tmp_path / "a.wav", stereo=True, seed=5)
    again = synthesize(turns, tmp_path / "b.wav", stereo=True, seed=5)
    other = synthesize(turns, tmp_path / "c.wav", stereo=True, seed=6)
    assert first == again
    assert np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
    assert first.turns != other.turns
    for before, turn in zip(first.turns, first.turns[1:]):
        gap = round(turn.start - before.end, 3)
        assert GAP_RANGE_S[0] - 1e-3 <= gap <= GAP_RANGE_S[1] + 1e-3 or -OVERLAP_RANGE_S[1] - 1e-3 <= gap <= -OVERLAP_RANGE_S[0] + 1e-3


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".m4a"])
def test_compressed_formats_through_ffmpeg(tmp_path, suffix):
    out = tmp_path / f"call{suffix}"
    script = synthesize(CALL[:2], out, stereo=True, telephone=suffix == ".m4a")
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        decoded = sum(frame.samples for frame in container.decode(stream)) / stream.rate
        assert stream.channels == 2
    assert decoded == pytest.approx(script.duration_s, abs=0.1)


def test_bad_input_fails_with_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="agent"):
        synthesize([Turn("agent", "Hello.")], tmp_path / "x.wav", stereo=True)
    with pytest.raises(ValueError, match="unsupported extension"):
        synthesize(CALL[:1], tmp_path / "x.aiff", stereo=True)
    with pytest.raises(ConfigError, match="espeak-ng --voices"):
        synthesize(CALL[:1], tmp_path / "x.wav", stereo=True, voices={"staff": "xx-nonexistent", "customer": "en-us"})
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        synthesize(CALL[:1], tmp_path / "x.wav", stereo=True)


def test_tiny_en_understands_the_synthesized_disclosure(tmp_path):
    from faster_whisper import WhisperModel

    from pipeline.models import resolve_model

    out = tmp_path / "disclosure.wav"
    text = "This call is recorded for quality and training purposes."
    synthesize([Turn("staff", text)], out, stereo=False, voices={"staff": Voice("en-gb+f2", 160, 60)})
    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8", cpu_threads=1)
    segments, _ = model.transcribe(str(out), beam_size=1, language="en")
    heard = " ".join(s.text for s in segments).lower()
    assert "recorded for quality and training purposes" in heard


def test_build_samples_writes_audio_sidecar_and_truth(tmp_path):
    spec = {
        "samples": [
            {
                "file": "mini.flac",
                "stereo": True,
                "voices": {"staff": {"name": "en-gb+m3"}, "customer": {"name": "en-us+f4", "speed_wpm": 170}},
                "meta": {"staff_id": "S1", "team": "billing"},
                "turns": [{"staff": "Hello,\n  Northfield."}, {"customer": "Hi.", "gap_s": 0.5}],
            }
        ]
    }
    (tmp_path / "scripts.yaml").write_text(yaml.safe_dump(spec))
    assert build_samples(tmp_path / "scripts.yaml", tmp_path) == [tmp_path / "mini.flac"]
    assert json.loads((tmp_path / "mini.json").read_text()) == {"staff_id": "S1", "team": "billing"}
    stm = (tmp_path / "truth" / "mini.stm").read_text().splitlines()
    assert [line.split(" ", 5)[5] for line in stm] == ["Hello, Northfield.", "Hi."]
    rttm = [line.split() for line in (tmp_path / "truth" / "mini.rttm").read_text().splitlines()]
    staff_end = float(rttm[0][3]) + float(rttm[0][4])
    assert float(rttm[1][3]) == pytest.approx(staff_end + 0.5, abs=2e-3)


def test_shipped_samples_match_their_scripts():
    specs = yaml.safe_load((SAMPLES_DIR / "scripts.yaml").read_text())["samples"]
    assert len(specs) == 4
    for spec in specs:
        audio = SAMPLES_DIR / spec["file"]
        stem = audio.stem
        rttm = (SAMPLES_DIR / "truth" / f"{stem}.rttm").read_text().splitlines()
        assert len(rttm) == len(spec["turns"])
        end = max(float(f[3]) + float(f[4]) for f in (line.split() for line in rttm))
        assert 40 <= end <= 90
        assert audio.stat().st_size > 50_000
        sidecar = audio.with_suffix(".json")
        if spec.get("meta"):
            assert sorted(json.loads(sidecar.read_text())) == sorted(METADATA_FIELDS)
        else:
            assert not sidecar.exists() and stem.count("_") == 5
    assert sum(f.stat().st_size for f in SAMPLES_DIR.rglob("*") if f.is_file()) < 3.2e6


def test_another_speaker_speaks_the_turns_at_its_own_rate(tmp_path):
    # bench/neural_voices.py passes its own engine; here a tone per turn stands in for it
    heard: list[tuple[str, str]] = []

    def tone(text: str, voice: Voice) -> tuple[np.ndarray, int]:
        heard.append((text, voice.name))
        seconds = 0.05 * len(text)
        t = np.arange(int(seconds * 24000)) / 24000
        return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 24000

    out = tmp_path / "call.wav"
    script = synthesize(CALL, out, stereo=False, telephone=True, speaker=tone)
    assert heard == [(t.text, DEFAULT_VOICES[t.role].name) for t in CALL]
    assert [round(t.end - t.start, 2) for t in script.turns] == [round(0.05 * len(t.text), 2) for t in CALL]
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 8000
    for turn in script.turns:  # the tone, resampled to 8 kHz, fills each turn
        assert rms(audio[int(turn.start * rate) + 80 : int(turn.end * rate) - 80]) > 0.2
