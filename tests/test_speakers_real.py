"""Speakers on real audio: a far-field AMI room clip, a synthesised 8 kHz mono phone call, the
speaker count and its flags, roles split by content, and the eval commands."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from pipeline.diarize import DiarizeOptions, diarize_full
from pipeline.errors import ConfigError
from pipeline.records import AudioInfo, DecodedAudio, RecordingMeta, Utterance, Word
from pipeline.roles import assign_roles, call_shape
from pipeline.speaker_models import encoder, kaldi_fbank
from pipeline.speakers import expected_speakers, face_to_face_pair, flag_count, two_people_by_words
from pipeline.speakers_cli import (evaluate_diarization, evaluate_roles, load_recording, missed_in_overlap, register, role_accuracy,
                                   role_spans)
from pipeline.synth import Turn, Voice, synthesize

DATA = Path(__file__).resolve().parent / "data"
AMI = DATA / "ami_trn06_20s.flac"


def cli():
    app = typer.Typer()
    register(app)
    return app


@lru_cache(maxsize=1)
def ami() -> dict:
    return evaluate_diarization(AMI, AMI.with_suffix(".rttm"))


def test_room_speech_is_found_and_told_apart() -> None:
    result = ami()
    assert result["vad"] == "segmentation"  # no metadata: a room recording gets the segmentation model
    # measured: missed 0.12 (0.18 before the overlapped stretches became a second voice's), no false alarm
    assert result["missed_s"] / result["scored_s"] <= 0.30
    assert result["false_alarm_s"] / result["scored_s"] <= 0.10
    assert result["der"] <= 0.40
    # resemblyzer, with CAM++ beside it for the count rules (auto, a count to estimate)
    assert result["model"]["name"] == f"{encoder().name}+campplus" and result["model"]["version"].count("+") == 1


def test_missed_speech_where_two_spoke_at_once_is_told_apart() -> None:
    from pyannote.core import Annotation, Segment, Timeline

    def annotation(*turns):
        out = Annotation()
        for a, b, who in turns:
            out[Segment(a, b)] = who
        return out

    ref = annotation((0, 10, "A"), (8, 14, "B"))  # two at once from 8 to 10 s
    uem = Timeline([Segment(0, 20)])
    # B's voice left out where both spoke and after A stopped: by hand, 8.125-9.875 s (the collars
    # at 8 and 10 s taken off) is missed in the overlap, 12-13.875 s elsewhere
    missed, over = missed_in_overlap(ref, annotation((0, 10, "x"), (10, 12, "y")), uem, 0.25)
    assert missed == pytest.approx(1.75) and over == pytest.approx(3.5)  # both voices of 1.75 s scored
    missed, _ = missed_in_overlap(ref, annotation((0, 10, "x"), (8, 14, "y")), uem, 0.25)
    assert missed == 0.0  # both voices there: nothing missed
    assert missed_in_overlap(annotation((0, 5, "A"), (6, 9, "B")), annotation((0, 5, "x")), uem, 0.25) == (0.0, 0.0)
    # The AMI clip: its overlapped stretches hold part of what is missed, never more than all of it
    result = ami()
    assert result["overlap_ref_s"] > 1.0 and 0.0 < result["missed_overlap_s"] <= result["missed_s"]


def test_overlapped_speech_gives_the_second_voice_a_turn() -> None:
    from faster_whisper import decode_audio

    found = diarize_full(decode_audio(str(AMI), sampling_rate=16000), n_speakers=3)  # as a sidecar's n_speakers gives it
    assert found.overlap_s > 0.5
    overlapping = [(a, b) for a in found.turns for b in found.turns if a.speaker != b.speaker and a.start < b.end and b.start < a.end]
    assert overlapping  # two speakers' turns cover the same moment


def test_two_voices_at_once_are_two_people() -> None:
    # The clip's far-field voices cluster as one; the segmentation model hears two at once, so the
    # overlapped stretches become a second speaker's instead of being lost (measured: missed 3.4 s
    # of 18.5 before, 2.3 s after; the main voice keeps its turns).
    # (With CAM++ beside resemblyzer, the default, a 1 s region like neither is the second voice
    # first, and the overlapped stretches then go to it: the same turns and DER.)
    result = ami()
    assert (result["n_speakers_hyp"], result["count_right"]) == (2, False)  # three in the reference
    assert result["overlap_s"] >= 0.5 and result["missed_s"] / result["scored_s"] <= 0.15
    alone = evaluate_diarization(AMI, AMI.with_suffix(".rttm"), options=DiarizeOptions(room_campplus_weight=0))
    assert alone["n_speakers_hyp"] == 2 and "second voice" in alone["count_reason"] and alone["overlap_s"] >= 0.5
    assert alone["missed_s"] / alone["scored_s"] <= 0.15
    # One voice alone gets no second speaker.
    from faster_whisper import decode_audio

    alone = diarize_full(decode_audio(str(DATA / "jfk.flac"), sampling_rate=16000))
    assert (alone.vad, alone.count.n, {t.speaker for t in alone.turns}) == ("segmentation", 1, {"S1"})


# -- a synthesised mono 8 kHz phone call --------------------------------------------------------
CALL = [
    Turn("staff", "Good morning, thank you for calling Castlegate Bank, my name is Megan."),
    Turn("staff", "Please note that calls are recorded for quality purposes. How can I help?", gap_s=0.3),
    Turn("customer", "Hi, I'm calling about my card, the payment I made last week was taken twice."),
    Turn("staff", "I'm sorry to hear that. For security, could you confirm your full name and date of birth?"),
    Turn("customer", "Yes, it's Daniel Mensah, born on the fourth of May nineteen eighty one."),
    Turn("staff", "Thanks, I've found your account. I can see the two payments, let me refund the second one now."),
    Turn("customer", "Thank you, that's a relief, I was worried about my rent this month."),
    Turn("staff", "That's all done, and you'll see it within two working days. Is there anything else I can help with?"),
    Turn("customer", "No, that's everything, thank you."),
    Turn("staff", "Thanks for calling, have a lovely day. Goodbye."),
]


@pytest.fixture(scope="module")
def phone_call(tmp_path_factory) -> Path:
    """Two male voices (the harder case), mixed on one channel at 8 kHz, G.711 mu-law."""
    folder = tmp_path_factory.mktemp("call")
    path = folder / "mono-call.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+m1", 160, 45)}
    script = synthesize(CALL, path, stereo=False, voices=voices, telephone=True, seed=3)
    path.with_suffix(".rttm").write_text(script.to_rttm(path.stem))
    path.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    return path


def at_16k(path: Path, sidecar: dict | None = None) -> Path:
    """The same call at 16 kHz on one channel at ``path``, its RTTM beside it, and ``sidecar``."""
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+m1", 160, 45)}
    script = synthesize(CALL, path, stereo=False, voices=voices, sample_rate=16000, seed=3)
    path.with_suffix(".rttm").write_text(script.to_rttm(path.stem))
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="module")
def call_without_metadata(tmp_path_factory) -> Path:
    """The same call at 16 kHz, with no sidecar: nothing but its words says it is a call."""
    return at_16k(tmp_path_factory.mktemp("bare") / "mono-call.wav")


def test_a_mono_recording_whose_words_are_a_call_is_diarized_as_a_call(call_without_metadata: Path) -> None:
    result = evaluate_roles(call_without_metadata, call_without_metadata.with_suffix(".rttm"))
    assert "taken as a two-person call" in result["reason"] and "call's shape" in result["reason"]
    assert result["n_speakers"] == 2 and result["method"] == "content"
    assert result["share"] >= 0.85  # robust to espeak-ng and Whisper versions; 98.7% on 40 held-out 16 kHz calls


@pytest.fixture(scope="module")
def face_to_face(tmp_path_factory) -> Path:
    """The same conversation at 16 kHz, with a sidecar that says face-to-face (a branch's desk)."""
    return at_16k(tmp_path_factory.mktemp("desk") / "desk.wav", {"channel": "face-to-face"})


def test_a_face_to_face_conversation_whose_words_are_two_sided_is_two_people(face_to_face: Path) -> None:
    result = evaluate_roles(face_to_face, face_to_face.with_suffix(".rttm"))
    assert "taken as two people, as a call is" in result["reason"] and "face-to-face conversation" in result["reason"]
    assert result["n_speakers"] == 2 and result["method"] == "content"
    # robust to espeak-ng and Whisper versions; held-out seed 43 (8 kHz) and 44 (16 kHz): bench/SPEAKERS.md, round 16
    assert result["share"] >= 0.85
    # diarized as a call is: Silero's speech detection, CAM++ for the two voices, and the row
    # says which of its builds ran: their numbers differ by machine (bench/SPEAKERS.md, round 51)
    from pipeline.models import describe
    from pipeline.speaker_models import reduce_range

    assert result["model"]["name"] == "campplus"
    build = "int8, 7-bit" if reduce_range() else "int8"
    assert result["model"]["version"] == f"{describe('campplus', kind='speaker')['version']} ({build})"


@pytest.mark.parametrize("where, sidecar, rate, customer", [
    ("phone", {"channel": "phone"}, 8000, Voice("en-us+m1", 160, 45, gain_db=-20.0)),  # a poor line
    ("desk", {"channel": "face-to-face"}, 16000, Voice("en-us+m1", 160, 45, gain_db=-12.0, reverb_s=0.9)),  # across the room
])
def test_a_customer_far_quieter_than_the_staff_member_keeps_their_role(tmp_path: Path, where, sidecar, rate, customer) -> None:
    """The staff member close to the microphone, the customer 20 dB down a poor phone line, or
    12 dB down across a reverberant room (RT60 0.9 s): still two people, each with their role."""
    path = tmp_path / f"{where}.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": customer}
    script = synthesize(CALL, path, stereo=False, voices=voices, telephone=rate == 8000, sample_rate=rate, seed=3)
    path.with_suffix(".rttm").write_text(script.to_rttm(path.stem))
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    result = evaluate_roles(path, path.with_suffix(".rttm"))
    assert result["n_speakers"] == 2 and result["method"] == "content"
    # robust to espeak-ng and Whisper versions; 40 held-out 8 kHz calls with the customer 20 dB down
    # 98.4% (98.5% at equal levels), 20 desks across a room 98.7% (98.6% dry): bench/SPEAKERS.md, round 40
    assert result["share"] >= 0.85


@pytest.mark.parametrize("codec", ["gsm", "amr"])
def test_a_mobile_caller_keeps_their_role(tmp_path: Path, codec: str) -> None:
    """The customer on a mobile phone: the call through GSM 06.10 (13 kbit/s) or AMR-NB at its
    lowest mode (4.75 kbit/s, with discontinuous transmission) as a recorder gets it
    (``bench/phone_codecs.py``): two people, each with their role."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import phone_codecs

    encoder_name = {"gsm": "libgsm", "amr": "libopencore_amrnb"}[codec]
    if encoder_name not in phone_codecs.encoders():
        pytest.skip(f"this ffmpeg (or PyAV, for AMR) has no {encoder_name} encoder")
    clean, path = tmp_path / "line.wav", tmp_path / "mobile" / "call.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+m1", 160, 45)}
    script = synthesize(CALL, clean, stereo=False, voices=voices, telephone=True, seed=3)
    phone_codecs.degrade(clean, path, codec, 8.0 if codec == "gsm" else 4.75, 0.0)
    path.with_suffix(".rttm").write_text(script.to_rttm(path.stem))
    path.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    result = evaluate_roles(path, path.with_suffix(".rttm"))
    assert result["n_speakers"] == 2 and result["method"] == "content"
    # robust to espeak-ng, ffmpeg and Whisper versions: this call 94.8% through GSM here and 92.0%
    # through AMR at 4.75 kbit/s (89.3-98.5% at four other synthesis seeds), 98.5% on the line as
    # made; 40 held-out 8 kHz calls through GSM 97.3%: README, "Codecs and lost packets" (rounds 41 and 44, AMR)
    assert result["share"] >= 0.85


def test_face_to_face_words_with_only_the_staff_script_make_two_people() -> None:
    """The customer says no cue phrase: face to face, the staff script alone makes two people (as a
    call, and the reason says so); the same words with no channel are not a call (nobody answers)."""
    from pipeline.records import Transcript
    from pipeline.speakers import SpeakerOptions, attribute_speakers

    audio = DecodedAudio(AudioInfo("wav", "pcm", 16000, 1, 10.0, "mono"), np.zeros((1, 16000), np.float32))
    words = Transcript(spoken(MERGED[:2] + ["For security purposes please have your account number ready."]))
    off = SpeakerOptions(diarization=False)  # the decision, not the voices
    desk = attribute_speakers(audio, words, RecordingMeta(channel="Face-to-Face"), off).roles
    assert desk.reason.startswith("taken as two people, as a call is") and "said face to face" in desk.reason
    assert desk.method == "content split" and desk.flagged  # one voice where two were expected: split by the words
    bare = attribute_speakers(audio, words, RecordingMeta(), off).roles
    assert "taken as" not in bare.reason and bare.method != "content split"
    counted = attribute_speakers(audio, words, RecordingMeta(channel="face-to-face", n_speakers=2), off).roles
    assert "taken as" not in counted.reason and counted.method != "content split"


def test_a_mono_phone_call_is_two_people_with_the_staff_member_found(phone_call: Path) -> None:
    result = evaluate_roles(phone_call, phone_call.with_suffix(".rttm"))
    assert result["n_speakers"] == 2
    assert result["share"] >= 0.85  # robust to espeak-ng and Whisper versions; measured ~0.98 on 40 calls
    assert result["method"] == "content"
    # every utterance weighed against the two voices (a window meets each one), the marks counted
    assert result["voices_compared"] >= 0.9 * result["utterances"] > 0
    assert result["unsure_and_wrong"] <= min(result["unsure_utterances"], result["wrong_utterances"])


def test_a_voice_nearer_another_of_its_own_side_or_with_no_role_is_not_doubted() -> None:
    # three voices as a room's diarization gives them (unit vectors per window: the clustering's
    # own numbers stand in for CAM++'s here): the staff member, the customer and a companion of
    # the customer's side. An utterance given to the customer whose voice is the companion's is
    # nearer a voice of its own side: its margin is under 0 but its role is not doubted; one given
    # to the customer whose voice is the staff member's is
    from pipeline.diarize import Diarization, SpeakerCount
    from pipeline.roles import RoleResult
    from pipeline.speakers import doubt_by_voice

    voice = {"staff": [1.0, 0.0, 0.0], "customer": [0.0, 1.0, 0.0], "companion": [0.0, 0.0, 1.0]}
    said = [("S1", "staff", "staff"), ("S2", "customer", "customer"), ("S3", "customer", "companion"), ("S1", "staff", "staff"),
            ("S2", "customer", "customer"), ("S3", "customer", "companion"), ("S2", "customer", "companion"), ("S2", "customer", "staff")]
    windows = [(i * 200 + 20, i * 200 + 160) for i in range(len(said))]  # 10 ms frames: one window in each 2 s utterance
    found = Diarization([], SpeakerCount(3, 0.9, ""), "test", "", "segmentation", windows=windows,
                        voices=np.array([voice[v] for _, _, v in said], dtype=np.float32))
    utterances = [Utterance(i, spk, role, 2.0 * i, 2.0 * i + 1.9, "", role_confidence=0.9) for i, (spk, role, _) in enumerate(said)]
    out = doubt_by_voice(utterances, RoleResult("content", ["S1"], confidence=0.9), found)
    assert out[6].voice_margin < 0 and not out[6].role_unsure and out[6].role_confidence == 0.9  # the companion's voice
    assert out[7].voice_margin < 0 and out[7].role_unsure and out[7].role_confidence == 0.5  # the staff member's voice
    assert not any(u.role_unsure for u in out[:6])
    # no roles found (every utterance unknown): margins, but no side to doubt
    unknown = [replace(u, role="unknown", role_confidence=0.0) for u in utterances]
    out = doubt_by_voice(unknown, RoleResult("none", [], confidence=0.0), found)
    assert out[7].voice_margin < 0 and not any(u.role_unsure for u in out)


def test_a_call_recorded_on_one_channel_of_two_is_diarized_not_given_that_channels_role(phone_call: Path, tmp_path: Path) -> None:
    """The mono call on the customer's channel of a two-channel file, the staff channel silent: by
    the channel map every word would be the customer's (about 60% of the speech time wrong)."""
    import soundfile as sf

    samples, rate = sf.read(phone_call, dtype="float32")
    path = tmp_path / "one-sided.wav"
    sf.write(path, np.stack([np.zeros_like(samples), samples], axis=1), rate, subtype="PCM_16")
    path.with_suffix(".rttm").write_text(phone_call.with_suffix(".rttm").read_text())
    assert load_recording(path)[0].info.layout == "one-sided-1"
    result = evaluate_roles(path, path.with_suffix(".rttm"))
    assert result["method"] == "content" and result["n_speakers"] == 2
    assert "speech on channel 1 only" in result["reason"]
    assert result["share"] >= 0.85  # as the mono call itself (robust to espeak-ng and Whisper versions)


def test_eval_roles_counts_the_utterances_marked_unsure_against_the_wrong_ones() -> None:
    from pipeline.speakers_cli import unsure_scores

    reference = [(0.0, 4.0, "staff"), (4.0, 6.0, "Customer"), (6.0, 9.0, "staff")]
    said = [("staff", 0.0, 4.0, 0.2, 0.9), ("staff", 4.1, 5.9, -0.1, 0.5), ("customer", 6.0, 7.0, -0.05, 0.5),
            ("staff", 7.0, 9.0, -0.02, 0.9), ("customer", 9.5, 10.0, None, 0.9)]
    utterances = [Utterance(i, role, role, a, b, "", role_confidence=conf, voice_margin=margin, role_unsure=conf == 0.5)
                  for i, (role, a, b, margin, conf) in enumerate(said)]
    # wrong: 1 (the customer's time given to the staff) and 2 (staff time given to the customer);
    # marked: 1 and 2, not 3 (its margin is under 0 but it was not marked: a voice of its own
    # side was nearer) nor 4 (no reference speech under it: not counted wrong)
    assert unsure_scores(utterances, reference) == {"utterances": 5, "voices_compared": 4, "wrong_utterances": 2, "unsure_utterances": 2,
                                                    "unsure_and_wrong": 2}
    utterances[2] = replace(utterances[2], voice_margin=0.1, role_confidence=0.9, role_unsure=False)
    assert unsure_scores(utterances, reference)["unsure_utterances"] == 1 and unsure_scores(utterances, reference)["unsure_and_wrong"] == 1


CUT_IN = [
    Turn("staff", "Good morning, thank you for calling Castlegate Bank, my name is Megan, how can I help?"),
    Turn("customer", "Hi, I wanted to ask about the letter you sent me last week about my account."),
    Turn("staff", "I can see the account here, and what normally happens is that we send the paperwork out first and "
                  "then wait for it to come back before anything changes on our side."),
    Turn("customer", "Stop, I never agreed to that upgrade, nobody told me about any charges."),
    Turn("staff", "I understand, let me look into that for you right away."),
    Turn("customer", "Thank you, I would really appreciate that."),
    Turn("staff", "Is there anything else I can help you with today?"),
    Turn("customer", "No, that is everything, thanks."),
]


@pytest.mark.parametrize("gap_s, crosstalk", [(-2.5, True), (0.4, True), (-2.5, False)])
def test_a_customer_talking_over_the_staff_member_in_a_mono_call_is_heard(tmp_path: Path, gap_s: float, crosstalk: bool) -> None:
    # An 8 kHz mono phone call in which the customer cuts in 2.5 s before the staff member's long
    # explanation ends (and the control: after a 0.4 s pause). The transcript holds at most one of
    # two voices at once, but the segmentation model hears both: the customer's voice gets turns
    # there and the dynamics count the overtalk (measured on 12 such conversations at 16 kHz:
    # 23.3 s of 28.5 s of overlap heard, every one; bench/overlap.py).
    from pipeline.dynamics import union_seconds
    from pipeline.settings import Settings
    from pipeline.speakers import SpeakerOptions, attribute_speakers
    from pipeline.transcribe import TranscribeOptions, transcribe

    turns = [replace(t, gap_s=gap_s) if i == 3 else t for i, t in enumerate(CUT_IN)]
    path = tmp_path / "cut-in.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f2", 200, 45)}
    script = synthesize(turns, path, stereo=False, voices=voices, telephone=True, seed=5)
    path.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    audio, meta = load_recording(path)
    settings = Settings(crosstalk=crosstalk)  # PARLEY_CROSSTALK=false: not listened for
    result = attribute_speakers(audio, transcribe(audio, TranscribeOptions.from_settings(settings)), meta,
                                SpeakerOptions.from_settings(settings))
    line, before = script.turns[3], script.turns[2]
    over = (line.start - 0.3, max(line.start, before.end) + 0.3)

    def within(spans) -> float:
        return union_seconds([(max(a, over[0]), min(b, over[1])) for a, b in spans if min(b, over[1]) > max(a, over[0])])

    customer = {u.speaker for u in result.utterances if u.role == "customer"}
    staff = {u.speaker for u in result.utterances if u.role == "staff"}
    assert len(customer) == 1 and len(staff) == 1 and customer != staff
    turns_of = {who: [(t["start_s"], t["end_s"]) for t in result.rows["speaker_turns"] if t["speaker"] in speakers]
                for who, speakers in (("customer", customer), ("staff", staff))}
    dynamics = {r["scope"]: r for r in result.rows["dynamics"]}
    row = result.rows["role_assignment"][0]
    both = union_seconds([(max(a, c), min(b, d)) for a, b in turns_of["customer"] for c, d in turns_of["staff"]
                          if min(b, d) > max(a, c) and over[0] <= max(a, c) < over[1]])
    assert row["overlap_note"] is None  # nothing heard was left out
    if not crosstalk:
        assert result.crosstalk == [] and row["overlap_s"] == 0 and both == 0
        assert dynamics["customer"]["overtalk_count"] == 0  # the words alone never overlap
    elif gap_s < 0:
        assert within(result.crosstalk) >= 0.5 and row["overlap_s"] >= 0.5
        assert both >= 0.5  # both voices' turns cover the moment
        # the customer talked over the staff member, who stopped first (not the other way round)
        assert dynamics["customer"]["overtalk_s"] >= 0.5 and dynamics["customer"]["interruptions"] >= 1
        assert dynamics["staff"]["overtalk_s"] < dynamics["customer"]["overtalk_s"]
    else:
        assert within(result.crosstalk) == 0 and both == 0


def test_talk_in_the_background_is_not_taken_for_a_customer_talking_over_the_staff_member(tmp_path: Path) -> None:
    # The cut-in call above with office babble 8 dB under the speech (background level 0.14 here, 0.01
    # clean, 0.05 at 12 dB; the rule takes nothing over 0.05): the segmentation model hears
    # two voices at once all through it, away from the changes of speaker too (on 40 phone calls
    # with babble at 15 dB, 89 s heard where nobody overlapped; customer overtalk 9 -> 62). None
    # of it is taken, and the row says why; overtalk comes from the words alone, as before round 18.
    import sys

    sys.path.insert(0, str(DATA.parent.parent / "bench"))
    from noisy import add_noise

    from pipeline.settings import Settings
    from pipeline.speakers import SpeakerOptions, attribute_speakers
    from pipeline.transcribe import TranscribeOptions, transcribe

    turns = [replace(t, gap_s=-2.5) if i == 3 else t for i, t in enumerate(CUT_IN)]
    clean = tmp_path / "clean.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f2", 200, 45)}
    script = synthesize(turns, clean, stereo=False, voices=voices, telephone=True, seed=5)
    clean.with_suffix(".rttm").write_text("".join(f"SPEAKER clean 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.role} <NA> <NA>\n"
                                                  for t in script.turns))  # the SNR is measured over the speech
    path = tmp_path / "babble.wav"  # three of the tests' LibriSpeech readers at once, and line hiss
    add_noise(clean, path, 8.0, DATA / "librispeech")
    path.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    audio, meta = load_recording(path)
    settings = Settings()
    result = attribute_speakers(audio, transcribe(audio, TranscribeOptions.from_settings(settings)), meta,
                                SpeakerOptions.from_settings(settings))
    row = result.rows["role_assignment"][0]
    assert result.crosstalk == [] and row["overlap_s"] == 0
    assert "talk in the background" in row["overlap_note"]
    assert len({t["speaker"] for t in result.rows["speaker_turns"]}) == 2
    starts = sorted((t["start_s"], t["end_s"]) for t in result.rows["speaker_turns"])
    assert all(b[0] >= a[1] - 1e-6 for a, b in zip(starts, starts[1:]))  # no turns of a voice heard at once


def test_a_real_phone_call_gets_its_two_voices_at_once(tmp_path: Path) -> None:
    # pyannote's real two-person telephone sample, with a sidecar that says phone: Silero finds the
    # speech, and the segmentation model, listening around the quick changes of speaker, hears
    # where both talk (measured: 10.48-10.92, 14.28-14.72 and 27.83-28.49 s against the reference's
    # 10.57-11.03, 14.49-14.70 and 27.85-28.50; DER 0.102 -> 0.071, missed 0.80 -> 0.19 s).
    from pipeline.dynamics import union_seconds

    wav = tmp_path / "call.wav"
    wav.write_bytes((DATA / "pyannote_sample.wav").read_bytes())
    wav.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    rttm = DATA / "pyannote_sample.rttm"
    reference = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in (line.split() for line in rttm.read_text().splitlines())]
    both = [(max(a[0], b[0]), min(a[1], b[1])) for i, a in enumerate(reference) for b in reference[i + 1:]
            if a[2] != b[2] and min(a[1], b[1]) - max(a[0], b[0]) >= 0.2]
    audio, meta = load_recording(wav)
    found = diarize_full(audio.samples.mean(axis=0), expected=expected_speakers(meta, audio), source_rate=audio.info.sample_rate)
    assert found.vad == "silero" and found.count.n == 2
    heard = [(a, b) for a, b in both if union_seconds([(max(a, c), min(b, d)) for c, d in found.crosstalk if min(b, d) > max(a, c)]) > 0]
    assert len(heard) >= 2 and found.overlap_s <= 2 * union_seconds(both)
    with_voices = evaluate_diarization(wav, rttm)
    without = evaluate_diarization(wav, rttm, options=DiarizeOptions(crosstalk_gap_s=0))
    assert without["overlap_s"] == 0 and with_voices["missed_s"] < without["missed_s"] and with_voices["der"] < without["der"]


def test_an_utterance_whose_voice_is_the_other_sides_has_its_role_doubted() -> None:
    # pyannote's real two-person call: utterances cut at the reference's turns, each voice given a
    # role; weighed against the diarization's window voices, they sound like their own speaker.
    # The first speaker's surest turn given to the other side sounds like the first:
    # its margin is under 0 and its role confidence drops to 0.5; the others keep theirs
    from pipeline.roles import RoleResult
    from pipeline.speakers import DOUBT_CONFIDENCE, doubt_by_voice, voice_margins

    audio, _ = load_recording(DATA / "pyannote_sample.wav")
    found = diarize_full(audio.samples.mean(axis=0), expected=2)
    assert len(found.windows) == len(found.voices) > 10
    rttm = [line.split() for line in (DATA / "pyannote_sample.rttm").read_text().splitlines()]
    first = rttm[0][7]
    role = {first: "staff", next(f[7] for f in rttm if f[7] != first): "customer"}
    utterances = [Utterance(index=i, speaker=f[7], role=role[f[7]], start=float(f[3]), end=float(f[3]) + float(f[4]),
                            text="", role_confidence=0.9) for i, f in enumerate(rttm)]
    margins = voice_margins(utterances, found)
    timed = [(u.end - u.start, m[0]) for u, m in zip(utterances, margins) if m is not None]
    assert sum(d for d, m in timed) >= 0.9 * sum(u.end - u.start for u in utterances)  # a window meets almost every one
    assert sum(d for d, m in timed if m > 0) >= 0.8 * sum(d for d, _ in timed)  # and most sound like their own speaker
    longest, margin = max(((u, m[0]) for u, m in zip(utterances, margins) if u.speaker == first and m is not None),
                          key=lambda um: um[1])  # measured 0.10, a 4.1 s turn
    assert margin > 0
    other = next(s for s in role if s != first)
    moved = [replace(u, speaker=other, role=role[other]) if u is longest else u for u in utterances]
    roles = RoleResult("content", ["x"], confidence=0.9, reason="by content")
    doubted = doubt_by_voice(moved, roles, found)
    mine = doubted[utterances.index(longest)]
    assert mine.voice_margin == pytest.approx(-margin, abs=1e-3) and mine.role_unsure and mine.role_confidence == DOUBT_CONFIDENCE
    assert roles.reason.startswith("by content; ") and "sound more like the other side's voice" in roles.reason
    kept = [u for u in doubted if u.voice_margin is not None and u.voice_margin >= 0]
    assert kept and all(u.role_confidence == 0.9 and not u.role_unsure for u in kept)
    # one voice split by content: no voices to compare, nothing changes
    split = RoleResult("content split", ["S1"], confidence=0.3, reason="split")
    assert doubt_by_voice(moved, split, found) == moved and split.reason == "split"


def test_a_call_whose_two_voices_are_barely_told_apart_is_flagged() -> None:
    # pyannote's real two-person call, diarized as a call (CAM++'s voices): cut at the reference's
    # turns with the right speakers, the two voices are apart (measured 0.83 alike) and nothing
    # is flagged; with every other turn given to the other speaker, each "speaker" is both people
    # and their voices are alike (0.96): the call is flagged and says why. Another encoder's
    # voices lie on another scale: not judged
    from pipeline.roles import RoleResult
    from pipeline.speakers import ALIKE_VOICES, flag_alike_voices

    audio, _ = load_recording(DATA / "pyannote_sample.wav")
    found = diarize_full(audio.samples.mean(axis=0), expected=2)
    assert found.encoder == "campplus"
    rttm = [line.split() for line in (DATA / "pyannote_sample.rttm").read_text().splitlines()]
    utterances = [Utterance(index=i, speaker=f[7], role="unknown", start=float(f[3]), end=float(f[3]) + float(f[4]), text="")
                  for i, f in enumerate(rttm)]
    apart = RoleResult("content", [rttm[0][7]], confidence=0.9, reason="by content")
    flag_alike_voices(apart, utterances, found)
    assert not apart.flagged and apart.reason == "by content"
    mixed = [replace(u, speaker="S1" if i % 2 else "S2") for i, u in enumerate(utterances)]
    alike = RoleResult("content", ["S1"], confidence=0.9, reason="by content")
    flag_alike_voices(alike, mixed, found)
    assert alike.flagged and alike.reason.startswith("by content; the two voices are ")
    assert float(alike.reason.split("are ")[1].split()[0]) >= ALIKE_VOICES
    # the grouping guard (choose_turns) on real voices: mixing the two people makes them more alike
    # (measured 0.846 -> 0.961, a rise under ALIKE_RISE: on this real call the guard would not refuse
    # the mix; bench/SPEAKERS.md, round 54), and a grouping is refused exactly when its voices rise
    # more than ALIKE_RISE over the clustering's
    from pipeline.speakers import ALIKE_RISE, two_voices_alike, voices_allow
    heard_apart, heard_mixed = two_voices_alike(utterances, found), two_voices_alike(mixed, found)
    assert heard_apart < ALIKE_VOICES <= heard_mixed
    assert not voices_allow(mixed, found, heard_mixed - ALIKE_RISE - 0.01)
    assert voices_allow(mixed, found, heard_mixed - ALIKE_RISE + 0.01) and voices_allow(utterances, found, heard_mixed)
    assert voices_allow(mixed, found, None) and two_voices_alike(utterances[:1], found) is None
    other = RoleResult("content", ["S1"], confidence=0.9, reason="by content")
    flag_alike_voices(other, mixed, replace(found, encoder="resemblyzer"))
    assert not other.flagged
    split = RoleResult("content split", ["S1"], confidence=0.3, reason="split")
    flag_alike_voices(split, mixed, found)
    assert split.reason == "split"
    three = [replace(u, speaker="S3") if i % 3 == 0 else u for i, u in enumerate(mixed)]  # two voices, not three, are judged
    thrice = RoleResult("content", ["S1"], confidence=0.9, reason="by content")
    flag_alike_voices(thrice, three, found)
    assert not thrice.flagged


def test_eval_diarization_on_a_folder_prints_per_file_and_overall(phone_call: Path) -> None:
    out = CliRunner().invoke(cli(), ["diarization", str(phone_call.parent)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    assert result["n_speakers_ref"] == result["n_speakers_hyp"] == 2  # one file: its own row
    assert result["vad"] == "silero-8k" and "expected" in result["count_reason"]  # an 8 kHz phone call
    assert 0.0 <= result["jer"] <= 1.0 and result["der"] <= 0.2


def test_eval_diarization_overall_over_two_files(tmp_path: Path) -> None:
    for name in ("pyannote_sample.wav", "ami_trn06_20s.flac"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
        (tmp_path / name).with_suffix(".rttm").write_text((DATA / name).with_suffix(".rttm").read_text())
    out = CliRunner().invoke(cli(), ["diarization", str(tmp_path)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    assert result["files"] == 2 and len(result["per_file"]) == 2
    assert set(result) >= {"der", "missed", "false_alarm", "confusion", "jer", "count_accuracy"}
    assert result["missed"] + result["false_alarm"] + result["confusion"] == pytest.approx(result["der"], abs=2e-4)


def test_eval_diarization_counts_the_wrong_and_right_counts_it_doubted(tmp_path: Path) -> None:
    # a third person's 2 s twice folded into another voice (two counted of three, doubted) and
    # the same two people alone (two of two, not doubted, though the eigengap heard three first,
    # unsurely, as its reason says), as files with RTTMs, no sidecar; resemblyzer alone, whose
    # float32 numbers are the same on every CPU (CAM++'s int8 build is not)
    import soundfile as sf
    from speaker_mixtures import mixture, with_a_short_speaker

    # (1688-2033+2414 was this test's folded mixture until round 37 cut speech regions where
    # their sound changes: now its third person is counted)
    for name, mix in (("folded", with_a_short_speaker("1688", "2414", "2033")), ("pair", mixture(("1688", "2414")))):
        sf.write(tmp_path / f"{name}.wav", mix.samples, 16000, subtype="FLOAT")
        (tmp_path / f"{name}.rttm").write_text("".join(
            f"SPEAKER {name} 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in mix.reference))
    out = CliRunner().invoke(cli(), ["diarization", str(tmp_path), "--model", "resemblyzer"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    rows = {Path(r["audio"]).stem: r for r in result["per_file"]}
    assert (rows["folded"]["count_right"], rows["folded"]["count_doubted"]) == (False, True)
    assert "perhaps a third person" in rows["folded"]["count_doubt"]
    assert (rows["pair"]["count_right"], rows["pair"]["count_doubted"], rows["pair"]["count_doubt"]) == (True, False, "")
    assert rows["pair"]["count_reason"].startswith("2 by the eigengap (3 heard first, unsurely: confidence 0.")
    assert (result["wrong_counts"], result["wrong_counts_doubted"], result["right_counts_doubted"]) == (1, 1, 0)
    assert "speaker count right in 50% (doubted: 1 of the 1 wrong, 0 of the 1 right)" in out.output
    assert "folded.wav: DER" in out.output and "; count doubted" in out.output.split("folded.wav: DER")[1].splitlines()[0]


def test_a_count_taken_over_the_one_the_eigengap_heard_first_says_so() -> None:
    """The tests' pair 1688-2414 (16 kHz, resemblyzer alone: the same numbers on every CPU): the
    eigengap hears three first, not surely (confidence under ``unsure_count``), and two is taken;
    the reason says so, counted from the voices and in a call (two expected), where it said only
    '2 by the eigengap' or 'the eigengap says 2 (confidence 0.00)'."""
    from speaker_mixtures import mixture

    from pipeline.diarize import cluster_count

    options = DiarizeOptions(encoder="resemblyzer", room_campplus_weight=0.0)
    voices = diarize_full(mixture(("1688", "2414")).samples, options=options).voices
    heard, in_a_call = cluster_count(voices, None, options)[1], cluster_count(voices, None, options, expected=2)[1]
    assert (heard.n, heard.confidence) == (2, 0.0)
    assert heard.reason.startswith("2 by the eigengap (3 heard first, unsurely: confidence 0.")
    assert heard.reason.endswith("; the smaller count taken)")
    assert in_a_call.n == 2 and in_a_call.reason.startswith(
        "2 expected (two people, as in a call); the eigengap says 2 (confidence 0.00; 3 heard first, unsurely: confidence 0.")
    assert in_a_call.confidence == 0.5
    # expected a count the eigengap heard first but was unsure of (3), or neither of its two
    # (4): the count taken is the one expected, and its confidence is 0.5, neither confirmed nor
    # denied by the voices (until round 51: 1.0, as 1 minus the 0 of the smaller count taken)
    for expected in (3, 4):
        count = cluster_count(voices, None, options, expected=expected)[1]
        assert (count.n, count.confidence) == (expected, 0.5), count
        assert count.reason.startswith(f"{expected} expected; the eigengap says 2 (confidence 0.00; 3 heard first, unsurely")
    # a count the eigengap heard surely says nothing of it
    sure = cluster_count(voices, None, replace(options, unsure_count=0.0))[1]
    assert sure.n == 3 and sure.reason == "3 by the eigengap"

def test_eval_diarization_holds_a_face_to_face_sidecars_two_people(tmp_path: Path) -> None:
    # one LibriSpeech voice alone, four turns: as a file with no sidecar it is one speaker; with
    # a sidecar saying face-to-face (two people at least, as the speaker stage reads it) the
    # command's own options (its --model) must not drop that minimum
    import soundfile as sf
    from speaker_mixtures import clips, joined

    mix = joined([("2033", clip) for clip in clips("2033", "mix")[:4]])
    sf.write(tmp_path / "desk.wav", mix.samples, 16000, subtype="FLOAT")
    (tmp_path / "desk.rttm").write_text("".join(
        f"SPEAKER desk 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in mix.reference))

    def found() -> tuple[int, str, bool]:
        out = CliRunner().invoke(cli(), ["diarization", str(tmp_path), "--model", "resemblyzer"])
        assert out.exit_code == 0, out.output
        row = json.loads(out.output.strip().splitlines()[-1])
        return row["n_speakers_hyp"], row["count_reason"], row["count_doubted"]

    assert found() == (1, "1 by the eigengap", False)
    (tmp_path / "desk.json").write_text(json.dumps({"channel": "face-to-face"}))
    n, reason, doubted = found()
    assert n == 2 and "2 at least: " in reason and "least like the rest" in reason  # met by a part (at_least)
    assert doubted  # the minimum made the second speaker, not the voices: never silent


def test_a_face_to_face_room_keeps_the_person_who_talks_most_as_one_speaker(tmp_path: Path) -> None:
    # the AMI clip as a branch's face-to-face recording (two people at least): the voices are
    # counted from one (one, and a 1 s region like neither: two, so the minimum asks nothing
    # more); counting from two up (before round 39) split the person who talks most in two.
    # Measured: DER 0.167 as a room and as face-to-face, 0.339 counting from two up (Intel Xeon
    # with VNNI, rounds 39-50). That 1 s region lies at the edge of the regions the
    # voices are compared by (``min_new_voice_s``, 1.0 s): on an AMD EPYC without VNNI (round 51)
    # the float32 models' numbers there left it just under, so the voices said one, the
    # minimum was met by a part, as counting from two up does, and both gave DER 0.384. What holds
    # on every machine: never worse than counting from two up; where the voices themselves found
    # the second person, the one who talks most is kept whole
    clip = tmp_path / AMI.name
    clip.write_bytes(AMI.read_bytes())
    (tmp_path / f"{AMI.stem}.json").write_text(json.dumps({"channel": "face-to-face"}))
    room = ami()
    desk = evaluate_diarization(clip, AMI.with_suffix(".rttm"))
    before = evaluate_diarization(clip, AMI.with_suffix(".rttm"), options=DiarizeOptions(min_by_part=False))
    assert desk["n_speakers_hyp"] >= 2 and before["n_speakers_hyp"] >= 2
    assert desk["der"] <= before["der"] + 0.005
    if "2 at least" not in desk["count_reason"]:
        assert desk["der"] <= room["der"] + 0.02 and desk["der"] <= before["der"] - 0.1


def test_eval_roles_needs_staff_and_customer_names(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    wav.write_bytes((DATA / "pyannote_sample.wav").read_bytes())
    with pytest.raises(ConfigError, match="name the two people staff and customer"):
        evaluate_roles(wav, DATA / "pyannote_sample.rttm")


def test_eval_commands_end_bad_input_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """No RTTM beside the recordings, or an RTTM without staff and customer: through the `parley`
    entry point, one line naming the file and the fix, exit status 2, no traceback."""
    from pipeline import launch

    (tmp_path / "call.wav").write_bytes((DATA / "pyannote_sample.wav").read_bytes())
    monkeypatch.setenv("PARLEY_HUGEPAGES", "0")

    def parley(*args: str) -> list[str]:
        monkeypatch.setattr("sys.argv", ["parley", "eval", *args])
        with pytest.raises(SystemExit) as stopped:
            launch.main()
        assert stopped.value.code == 2
        return capsys.readouterr().err.strip().splitlines()

    lines = parley("diarization", str(tmp_path))
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "no recording with a reference RTTM" in lines[0] and "--rttm" in lines[0]
    lines = parley("roles", "--audio", str(tmp_path / "call.wav"), "--rttm", str(DATA / "pyannote_sample.rttm"))
    assert len(lines) == 1 and "staff and customer" in lines[0] and "pyannote_sample.rttm" in lines[0]


def test_role_accuracy_counts_speech_time() -> None:
    utts = [Utterance(0, "S1", "staff", 0.0, 2.0, "hello"), Utterance(1, "S2", "customer", 2.5, 4.0, "hi")]
    score = role_accuracy(role_spans(utts), [(0.0, 2.0, "staff"), (2.5, 3.0, "staff"), (3.0, 4.0, "customer")])
    assert score["share"] == pytest.approx(3.0 / 3.5, abs=0.01)
    assert score["by_role"]["customer"] == pytest.approx(1.0, abs=0.02)
    # a recorded announcement while the customer holds is nobody's role: not scored, whoever got it
    held = role_accuracy(role_spans(utts), [(0.0, 2.0, "staff"), (2.0, 2.6, "announcement"), (2.5, 3.0, "staff"), (3.0, 4.0, "customer")])
    assert held["share"] == score["share"] and held["speech_s"] == score["speech_s"] and set(held["by_role"]) == {"staff", "customer"}


# -- counting -----------------------------------------------------------------------------------
def test_a_phone_call_expects_two_speakers() -> None:
    info = lambda rate: DecodedAudio(AudioInfo("wav", "pcm", rate, 1, 10.0, "mono"), np.zeros((1, 16000), np.float32))  # noqa: E731
    assert expected_speakers(RecordingMeta(channel="phone"), info(16000)) == 2
    assert expected_speakers(RecordingMeta(), info(8000)) == 2  # telephone band, no metadata
    assert expected_speakers(RecordingMeta(channel="face-to-face"), info(8000)) is None
    assert expected_speakers(RecordingMeta(), info(16000)) is None
    assert expected_speakers(RecordingMeta(), info(0)) is None  # a rate not known is no telephone line


def test_a_sample_rate_not_known_is_heard_as_wideband() -> None:
    from faster_whisper import decode_audio

    from pipeline.diarize import sound_frames
    from pipeline.speaker_models import on_a_telephone_line

    assert (on_a_telephone_line(0), on_a_telephone_line(8000), on_a_telephone_line(16000)) == (False, True, False)
    samples = decode_audio(str(DATA / "jfk.flac"), sampling_rate=16000)[:48000]
    assert np.array_equal(sound_frames(samples, 300, 0), sound_frames(samples, 300, 16000))


def test_one_voice_in_a_phone_call_is_counted_once_and_flagged() -> None:
    from faster_whisper import decode_audio

    found = diarize_full(decode_audio(str(DATA / "jfk.flac"), sampling_rate=16000), expected=2)
    assert found.count.n == 1 and "one voice" in found.count.reason
    assert {t.speaker for t in found.turns} == {"S1"}
    # two voices forced apart are offered, for words that agree with them (none here) to take
    offered = found.offered()
    assert offered[0][0].startswith("two voices forced apart") and {t.speaker for t in offered[0][1]} == {"S1", "S2"}
    utts = [Utterance(0, "S1", "unknown", 0.0, 5.0, "And so my fellow Americans, ask not what your country can do for you.")]
    _, roles = assign_roles(utts)
    flag_count(roles, found, 2)
    assert roles.flagged and "1 speaker(s) where 2 were expected" in roles.reason


def test_a_call_whose_voices_sounded_like_another_count_is_flagged() -> None:
    from pipeline.diarize import Diarization, SpeakerCount
    from pipeline.roles import RoleResult

    def flagged(confidence: float, n: int = 2, expected: int | None = 2) -> RoleResult:
        reason = f"2 expected (two people, as in a call); the eigengap says 1 (confidence {1 - confidence:.2f})"
        found = Diarization([], SpeakerCount(n, confidence, reason), "campplus", "0", "silero")
        roles = RoleResult("content", ["S1"], confidence=0.99, reason="S1 is staff by content")
        flag_count(roles, found, expected)
        return roles

    unsure = flagged(0.22)  # the eigengap heard one voice more surely than two, not surely enough to overrule
    assert unsure.flagged and unsure.reason.startswith("the voices did not clearly sound like 2 people (count confidence 0.22")
    assert unsure.reason.endswith("S1 is staff by content")
    assert not flagged(0.5).flagged and not flagged(0.9).flagged  # the voices agree with the two expected
    assert not flagged(0.22, expected=None).flagged  # a count estimated: nothing was expected of it
    # a grouping the words chose (its own note flags it): not said again
    found = Diarization([], SpeakerCount(2, 0.15, "1 by the eigengap; 2 by the words"), "campplus", "0", "silero")
    roles = RoleResult("content", ["S1"], confidence=0.99, reason="S1 is staff by content")
    flag_count(roles, found, 2, unsure=False)
    assert not roles.flagged and roles.reason == "S1 is staff by content"



def test_a_room_whose_words_are_two_people_but_three_voices_were_heard_unsurely_is_flagged() -> None:
    from pipeline.diarize import Diarization, SpeakerCount
    from pipeline.roles import RoleResult

    def flagged(n: int, confidence: float, two_sided: str = "3 sentences of the staff script and 1 of the customer's own",
                expected: int | None = None) -> RoleResult:
        found = Diarization([], SpeakerCount(n, confidence, f"{n} by the eigengap"), "resemblyzer", "0", "segmentation")
        roles = RoleResult("content", ["S1"], confidence=0.99, reason="S1 is staff by content")
        flag_count(roles, found, expected, two_sided=two_sided)
        return roles

    unsure = flagged(3, 0.43)
    assert unsure.flagged and unsure.reason.startswith(
        "its words read as one staff member and one customer (3 sentences of the staff script and 1 of the customer's own), "
        "but 3 voices were heard, not surely (count confidence 0.43: 3 by the eigengap)")
    assert flagged(5, 0.0).flagged
    assert not flagged(3, 0.8).flagged  # the voices were sure: a couple at the branch with the adviser
    assert not flagged(2, 0.1).flagged  # two voices, as the words say
    assert not flagged(3, 0.43, two_sided="").flagged  # a meeting: its words say nothing of two sides
    assert not flagged(3, 0.43, expected=2).flagged  # a call: flagged by its own rules, not this one


def test_two_voices_of_which_one_may_be_two_people_are_flagged_where_no_count_was_expected() -> None:
    from dataclasses import replace

    from pipeline.diarize import Diarization, SpeakerCount
    from pipeline.roles import RoleResult

    doubted = SpeakerCount(2, 0.4, "2 by the eigengap; perhaps a third person: 2.1 s of one voice's speech only 0.70 like the rest of it",
                           maybe_more=True)

    def flagged(count: SpeakerCount, expected: int | None = None) -> RoleResult:
        roles = RoleResult("content", ["S1"], confidence=0.99, reason="S1 is staff by content")
        flag_count(roles, Diarization([], count, "resemblyzer+campplus", "0", "segmentation"), expected, unsure=False)
        return roles

    roles = flagged(doubted)
    assert roles.flagged and roles.reason.startswith(
        "2 voices were heard, but one of them may be two people (count confidence 0.40: 2 by the eigengap; perhaps a third person")
    assert roles.reason.endswith("; S1 is staff by content")
    assert not flagged(replace(doubted, maybe_more=False)).flagged
    assert not flagged(doubted, expected=2).flagged  # a call is two people: its own rules flag it


MERGED = [
    "Hello, you're through to Northfield Energy, Tomasz speaking.",
    "This call will be recorded for training and quality.",
    "I'm ringing about my bill, it has doubled since March.",
    "Can I take your full name and date of birth, please?",
    "My name is Helen Tran and my date of birth is the first of June.",
    "Okay.",
    "Is there anything else I can help you with today?",
]


def test_one_diarized_voice_in_a_call_is_split_by_content() -> None:
    utts = [Utterance(i, "S1", "unknown", 3.0 * i, 3.0 * i + 2.5, text) for i, text in enumerate(MERGED)]
    labelled, result = assign_roles(utts, expected_speakers=2)
    assert (result.method, result.flagged, result.n_speakers) == ("content split", True, 2)
    assert [u.role for u in labelled] == ["staff", "staff", "customer", "staff", "customer", "customer", "staff"]
    assert {u.speaker for u in labelled if u.role == "staff"} == {"S1"}
    assert {u.speaker for u in labelled if u.role == "customer"} == {"S2"}


def spoken(lines: list[str]) -> list[Utterance]:
    """One utterance per line, one voice: a word every 0.3 s, a second between lines."""
    out, start = [], 0.0
    for i, text in enumerate(lines):
        words = [Word(start + j * 0.3, start + j * 0.3 + 0.25, w, 0.9) for j, w in enumerate(text.split())]
        out.append(Utterance(i, "S1", "unknown", words[0].start, words[-1].end, text, words))
        start = words[-1].end + 1.0
    return out


def test_words_with_a_calls_shape_make_a_recording_with_no_channel_a_call() -> None:
    info = lambda rate, channels=1: DecodedAudio(AudioInfo("wav", "pcm", rate, channels, 10.0, "mono"),  # noqa: E731
                                                 np.zeros((channels, 16000), np.float32))
    call = spoken(MERGED)
    assert call_shape([w for u in call for w in u.words]).startswith("4 sentences of the staff script and 2 of the customer's")
    by_words = lambda meta, utterances, audio=info(16000): two_people_by_words(meta, audio, utterances)[1]  # noqa: E731
    assert by_words(RecordingMeta(), call).startswith("taken as a two-person call: no channel in its metadata")
    assert by_words(RecordingMeta(), []) == ""  # no words: the voices say
    assert by_words(RecordingMeta(channel="face-to-face"), call).startswith("taken as two people, as a call is")
    assert by_words(RecordingMeta(channel="meeting"), call) == ""  # another channel: the voices say how many ...
    assert two_people_by_words(RecordingMeta(channel="meeting"), info(16000), call)[0]  # ... (flag_count reads this)
    assert by_words(RecordingMeta(n_speakers=3), call) == ""
    assert by_words(RecordingMeta(), call, info(16000, 2)) == ""  # stereo: the channels say
    # the script with nobody answering it (a message on an answerphone), or a speech, is not a call
    message = spoken(MERGED[:2] + ["Please call us back on the usual number."])
    assert by_words(RecordingMeta(), message) == ""
    speech = spoken(["And so my fellow Americans, ask not what your country can do for you."])
    assert by_words(RecordingMeta(), speech) == ""
    assert by_words(RecordingMeta(channel="face-to-face"), speech) == ""  # face to face too: no script, no sides
    # a security question put to someone is somebody on the other side, even if their answers carry no cue;
    # the same words said to nobody on an answerphone ask nothing
    asked = spoken(MERGED[:2] + ["Can I take your full name and date of birth, please?", "Helen Tran, first of June."])
    assert "a security question put to the customer" in call_shape([w for u in asked for w in u.words])
    told = spoken(MERGED[:2] + ["For security purposes please have your account number ready when you call back."])
    assert call_shape([w for u in told for w in u.words]) == ""
    # face to face, someone is known to be across the desk: the staff script alone reads as two sides
    assert call_shape([w for u in told for w in u.words], answered=True) == "3 sentences of the staff script, said face to face"
    assert call_shape([w for u in speech for w in u.words], answered=True) == ""  # no script: a meeting, a talk
    assert face_to_face_pair(RecordingMeta(channel="face-to-face"), info(16000))
    assert not face_to_face_pair(RecordingMeta(channel="face-to-face", n_speakers=3), info(16000))  # a count given
    assert not face_to_face_pair(RecordingMeta(channel="face-to-face"), info(16000, 2))  # stereo: the channels say
    assert not face_to_face_pair(RecordingMeta(), info(16000))  # no channel: the words may make it a call instead
    assert expected_speakers(RecordingMeta(channel=" Telephone"), info(16000)) == 2  # another spelling of a phone call


# -- the encoder --------------------------------------------------------------------------------
def test_campplus_tells_two_real_voices_apart() -> None:
    from speaker_mixtures import SPEAKERS, clips

    model = encoder("campplus")
    a1, a2 = clips(SPEAKERS[0], "mix")[:2]
    b1 = clips(SPEAKERS[1], "mix")[0]
    vectors = [model.embed(model.features(x), [(0, len(x) // 160)])[0] for x in (a1, a2, b1)]
    same, other = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > other + 0.2


def test_campplus_int8_build_is_made_and_embeds_as_the_float_model_does(tmp_path, monkeypatch) -> None:
    """The int8 build (ONNX Runtime) is made from scratch here and gives nearly the float32
    model's embeddings on speech it was not calibrated on (the tests' mix clips), for full
    windows and for batches of short ones (the export is traced on 1.6 s windows)."""
    from dataclasses import replace

    from speaker_mixtures import SPEAKERS, clips

    import pipeline.speaker_models
    from pipeline.speaker_models import campplus_int8

    from threadpoolctl import threadpool_limits

    with monkeypatch.context() as patched, threadpool_limits(2, user_api="blas"):
        patched.setattr(pipeline.speaker_models, "_build_folders", lambda: [tmp_path / "cache"])
        assert campplus_int8.__wrapped__(1) is not None
        assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".onnx"]  # nothing half-written left
    # the same bytes when built with one BLAS thread, as Parley runs (the calibration's features
    # differ in the last bit with the thread count, and every int8 value with them)
    with monkeypatch.context() as patched, threadpool_limits(1, user_api="blas"):
        patched.setattr(pipeline.speaker_models, "_build_folders", lambda: [tmp_path / "one"])
        assert campplus_int8.__wrapped__(1) is not None
    built = next((tmp_path / "cache").iterdir())
    assert built.read_bytes() == (tmp_path / "one" / built.name).read_bytes()
    model = encoder("campplus")
    x = np.concatenate([clip for s in SPEAKERS[:3] for clip in clips(s, "mix")[:1]])
    features = model.features(x)
    full = [(a, a + 160) for a in range(0, len(features) - 160, 40)]
    short = [(a, a + 50) for a in range(0, len(features) - 50, 200)] + [(a, a + 120) for a in range(0, len(features) - 120, 200)]
    long = [(a, a + 480) for a in range(0, len(features) - 480, 200)]  # three segments: masks made per segment
    for spans in (full, short, long):
        fast, exact = model.embed(features, spans), replace(model, int8=False).embed(features, spans)
        agreement = (fast * exact).sum(axis=1)
        assert agreement.mean() > 0.95 and agreement.min() > 0.85, (len(spans[0]), agreement.mean(), agreement.min())
    # and it tells the three voices apart: windows of one voice closer than windows of two
    fast = model.embed(features, full)
    third = len(full) // 3
    same = float(np.mean(fast[:third] @ fast[:third].T))
    other = float(np.mean(fast[:third] @ fast[2 * third :].T))
    assert same > other + 0.2


def test_campplus_single_segment_build_gives_the_full_builds_embeddings_up_to_two_seconds(tmp_path, monkeypatch) -> None:
    """The short build (``campplus_int8_short``) is made from the full int8 build in the cache
    and left beside it; on windows of 2 s or less it gives the full build's embeddings, and
    ``embed`` sends longer windows, whose segments it would pool wrongly, to the full build."""
    from speaker_mixtures import SPEAKERS, clips

    import pipeline.speaker_models as models

    monkeypatch.setattr(models, "_build_folders", lambda: [tmp_path / "cache"])
    full_session, short_session = models.campplus_int8.__wrapped__(1), models.campplus_int8_short.__wrapped__(1)
    assert full_session is not None and short_session is not None
    assert sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache").iterdir()) == ["campplus-int8", "campplus-short-int8"]
    model = encoder("campplus")
    features = model.features(np.concatenate([clip for s in SPEAKERS[:3] for clip in clips(s, "mix")[:1]]))

    def by(session, frames: int) -> np.ndarray:
        stack = models._campplus_windows(features, [(a, a + frames) for a in range(0, len(features) - frames, 90)])
        out = np.concatenate([session.run(None, {"x": stack[i : i + 8]})[0] for i in range(0, len(stack), 8)])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    for frames in (40, 140, models.CAMPPLUS_SHORT_FRAMES):
        exact, fast = by(full_session, frames), by(short_session, frames)
        alike = (exact * fast).sum(axis=1)
        assert np.mean(np.abs(exact - fast).max(axis=1) == 0) > 0.9 and alike.min() > 0.999, (frames, alike.min())
    longer = models.CAMPPLUS_SHORT_FRAMES + 100  # two segments: the short build is wrong there
    assert (by(full_session, longer) * by(short_session, longer)).sum(axis=1).min() < 0.999
    monkeypatch.setattr(models, "campplus_int8", lambda threads=1: full_session)
    monkeypatch.setattr(models, "campplus_int8_short", lambda threads=1: short_session)
    spans = [(a, a + longer) for a in range(0, len(features) - longer, 90)]
    assert np.allclose(model.embed(features, spans), by(full_session, longer), atol=1e-6)


def test_campplus_masks_made_per_segment_give_the_same_embeddings(tmp_path) -> None:
    """``segment_masks`` on CAM++'s int8 graph as quantised (``quantised_campplus``, made here):
    every one of the 52 masking layers rewritten, and the same embeddings as the graph as
    quantised (to the bit on the machine it was made on; 1e-5 here: the int8 sums are exact, the
    rest float) for windows under one segment, of one, two, three and eight segments, and of
    lengths that are no multiple of a segment; ``single_segment`` then gives what it gives on the
    graph as quantised, so the short build does not change either. A mask repeated in the wrong
    order or one frame late is off by 1e-2 or more."""
    import onnx
    import onnxruntime as ort

    from speaker_mixtures import SPEAKERS, clips

    import pipeline.speaker_models as models

    quantised = tmp_path / "int8.onnx"
    models.quantised_campplus(quantised)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1

    def session(*rewrites):
        graph = onnx.load(str(quantised))
        assert [rewrite(graph.graph) for rewrite in rewrites] == [52] * len(rewrites)
        return ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])

    plain, per_segment = session(), session(models.segment_masks)
    short, short_of_per_segment = session(models.single_segment), session(models.segment_masks, models.single_segment)
    features = kaldi_fbank(np.concatenate([clip for s in SPEAKERS[:3] for clip in clips(s, "mix")[:1]]))
    for frames in (60, 150, 330, 401, 480, 1500):  # under 1, 1, 2, 3, 3 and 8 segments (100 frames after CAM++'s stride of 2)
        stack = models._campplus_windows(features, [(a, a + frames) for a in range(0, len(features) - frames, 350)][:8])
        expected, got = plain.run(None, {"x": stack})[0], per_segment.run(None, {"x": stack})[0]
        assert np.abs(expected - got).max() <= 1e-5 * np.abs(expected).max(), frames
    stack = models._campplus_windows(features, [(a, a + 180) for a in range(0, len(features) - 180, 350)][:8])
    assert np.abs(short.run(None, {"x": stack})[0] - short_of_per_segment.run(None, {"x": stack})[0]).max() <= 1e-6
    # and the masks do matter: one segment's mask given to every frame is not the same
    long = models._campplus_windows(features, [(0, 480)])
    assert np.abs(short.run(None, {"x": long})[0] - plain.run(None, {"x": long})[0]).max() > 1e-3
    # the frames as a second output (``frames_output``, build 4) change no embedding
    graph = onnx.load(str(quantised))
    assert models.frames_output(graph.graph) and models.segment_masks(graph.graph) == 52
    with_frames = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    for frames in (150, 401):
        stack = models._campplus_windows(features, [(a, a + frames) for a in range(0, len(features) - frames, 350)][:8])
        embedding, columns = with_frames.run(["embedding", "frames"], {"x": stack})
        assert np.array_equal(embedding, per_segment.run(None, {"x": stack})[0])
        assert columns.shape == (len(stack), 512, -(-frames // 2))


@pytest.mark.parametrize("build, name, fallback", [("campplus_int8", "campplus-int8", "CAM++ runs in float32"),
                                                    ("campplus_int8_short", "campplus-short-int8", "full int8 build runs every window"),
                                                    ("segmentation_onnx", "segmentation", "torch runs it"),
                                                    ("resemblyzer_onnx", "resemblyzer", "torch runs it")])
def test_a_model_runs_in_torch_when_its_onnx_build_cannot_be_made(tmp_path, monkeypatch, caplog, build, name, fallback) -> None:
    import pipeline.speaker_models

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the model cache should be")
    monkeypatch.setattr(pipeline.speaker_models, "_build_folders", lambda: [blocker / "cache"])
    with caplog.at_level("WARNING"):
        assert getattr(pipeline.speaker_models, build).__wrapped__(1) is None
    assert f"{name} build not possible (OSError: no writable folder" in caplog.text and fallback in caplog.text


def test_segmentation_and_resemblyzer_onnx_builds_give_torchs_numbers(tmp_path, monkeypatch) -> None:
    """Both builds are made from scratch here; on a real far-field clip the segmentation model's
    speech and overlap probabilities and resemblyzer's embeddings (windows of several lengths,
    zero-padded at the end to 160 and to 120 frames, as diarization pads a batch) are torch's,
    and diarization finds the same turns."""
    import torch

    import pipeline.speaker_models as models
    from faster_whisper import decode_audio

    monkeypatch.setattr(models, "_build_folders", lambda: [tmp_path / "cache"])
    segmentation, resemblyzer = models.segmentation_onnx.__wrapped__(1), models.resemblyzer_onnx.__wrapped__(1)
    assert segmentation is not None and resemblyzer is not None
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["resemblyzer", "segmentation"]
    samples = decode_audio(str(AMI), sampling_rate=16000)
    seg = models.segmentation()
    chunks = np.stack([samples[s : s + 160000] for s in (0, 80000, 160000)])[:, None, :].astype(np.float32)
    with torch.inference_mode():
        exact = seg.model(torch.from_numpy(chunks)).exp().numpy()
    fast = np.exp(segmentation.run(None, {"x": chunks})[0])
    assert exact.shape == fast.shape and np.abs(fast - exact).max() < 1e-4
    features = models.mel_frames(samples)
    for padded in (160, 120):
        spans = [(a, a + n) for n in (40, 100, padded) for a in range(0, len(features) - n, 300)]
        stack = np.zeros((len(spans), padded, models.N_MELS), dtype=np.float32)
        for i, (a, b) in enumerate(spans):
            stack[i, : b - a] = features[a:b]
        with torch.no_grad():
            exact = models.load_resemblyzer()(torch.from_numpy(stack)).numpy()
        assert np.abs(resemblyzer.run(None, {"x": stack})[0] - exact).max() < 1e-5
    # the pipeline's own path: the same turns with the builds as with torch
    assert models.segmentation_onnx(1) is not None and models.resemblyzer_onnx(1) is not None
    with_onnx = diarize_full(samples, options=DiarizeOptions(encoder="resemblyzer"))
    monkeypatch.setattr(models, "segmentation_onnx", lambda threads=1: None)
    monkeypatch.setattr(models, "resemblyzer_onnx", lambda threads=1: None)
    with_torch = diarize_full(samples, options=DiarizeOptions(encoder="resemblyzer"))
    assert [(round(t.start, 2), round(t.end, 2), t.speaker) for t in with_onnx.turns] == \
        [(round(t.start, 2), round(t.end, 2), t.speaker) for t in with_torch.turns]
    assert with_onnx.count.n == with_torch.count.n and len(with_onnx.turns) >= 2


def test_a_damaged_build_is_made_again_and_a_new_one_removes_the_older(tmp_path, monkeypatch) -> None:
    import pipeline.speaker_models as models

    cache = tmp_path / "cache"
    cache.mkdir()
    older = cache / "resemblyzer-0123456789abcdef.onnx"  # a build for other versions
    older.write_bytes(b"an older build")
    monkeypatch.setattr(models, "_build_folders", lambda: [cache])
    assert models.resemblyzer_onnx.__wrapped__(1) is not None
    built = [p for p in cache.iterdir()]
    assert len(built) == 1 and built[0] != older and built[0].stat().st_size > 1_000_000
    built[0].write_bytes(b"half a file")  # damaged
    session = models.resemblyzer_onnx.__wrapped__(1)
    assert session is not None and built[0].stat().st_size > 1_000_000
    assert session.run(None, {"x": np.zeros((1, 160, models.N_MELS), dtype=np.float32)})[0].shape == (1, 256)


def test_auto_takes_campplus_for_a_two_person_call_and_resemblyzer_elsewhere() -> None:
    from faster_whisper import decode_audio

    assert (encoder("auto", two_person=True).name, encoder("auto").name) == ("campplus", "resemblyzer")
    samples = decode_audio(str(DATA / "pyannote_sample.wav"), sampling_rate=16000)
    call = diarize_full(samples, expected=2, options=DiarizeOptions(encoder="auto"))
    assert (call.encoder, call.count.n) == ("campplus", 2)
    # a recording whose count is estimated: resemblyzer, with CAM++ beside it for the count rules
    room = diarize_full(samples, options=DiarizeOptions(encoder="auto", vad="silero"))
    assert room.encoder == "resemblyzer+campplus" and room.encoder_version.count("+") == 1
    assert diarize_full(samples, options=DiarizeOptions(encoder="auto", vad="silero", room_campplus_weight=0)).encoder == "resemblyzer"
    assert diarize_full(samples, options=DiarizeOptions(encoder="resemblyzer", vad="silero")).encoder == "resemblyzer"
    # a given count needs no rules: resemblyzer alone
    assert diarize_full(samples, n_speakers=2, options=DiarizeOptions(encoder="auto", vad="silero")).encoder == "resemblyzer"


def test_joined_voices_weigh_the_two_encoders_similarities() -> None:
    from pipeline.diarize import joined_voices

    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(5, 256)), rng.normal(size=(5, 192))
    joined = joined_voices(first, second, 0.4)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(joined @ joined.T, 0.6 * unit(first) @ unit(first).T + 0.4 * unit(second) @ unit(second).T, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0)


def test_kaldi_fbank_frames() -> None:
    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32) * 0.1
    feats = kaldi_fbank(tone)
    assert feats.shape == (98, 80)  # 1 + (16000 - 400) // 160 frames, snip_edges
    peak = int(np.argmax(feats.mean(axis=0)))
    # 1 kHz sits in the mel band whose centre is nearest: 1127 ln(1 + 1000/700) = 1000 mel
    centres = 1127 * np.log(1 + 20 / 700) + (np.arange(1, 81) * (1127 * np.log(1 + 8000 / 700) - 1127 * np.log(1 + 20 / 700)) / 81)
    assert abs(peak - int(np.argmin(np.abs(centres - 1127 * np.log(1 + 1000 / 700))))) <= 1


def test_resemblyzer_stays_available_as_the_fallback() -> None:
    from faster_whisper import decode_audio

    samples = decode_audio(str(DATA / "pyannote_sample.wav"), sampling_rate=16000)
    found = diarize_full(samples, expected=2, options=DiarizeOptions(encoder="resemblyzer"))
    assert (found.encoder, found.count.n) == ("resemblyzer", 2)


def test_silero_at_8k_in_one_batch_gives_its_window_by_window_probabilities(monkeypatch, caplog) -> None:
    # pyannote's real call through a telephone band at 8 kHz, and lengths at and around one window
    # (the encoder's batches and the LSTM's order: a context not carried over moved them by 1e-3, a
    # state not carried by 0.95)
    from faster_whisper import decode_audio

    import pipeline.speaker_models as sm

    samples = sm.telephone_band(decode_audio(str(DATA / "pyannote_sample.wav"), sampling_rate=16000))
    monkeypatch.setattr(sm, "SILERO_8K_BLOCK", 300)  # the 30 s call's 938 windows in four batches
    for x in (samples, samples[:511], samples[:512], samples[:513], samples[:0]):
        batched, alone = sm.silero_8k_probs(x), sm.silero_8k_probs_onnx(x)
        assert batched.shape == alone.shape
        np.testing.assert_allclose(batched, alone, atol=2e-5)  # measured: 1e-6 here, 4e-6 on a 10-minute call
    assert (sm.silero_8k_probs(samples) >= 0.5).mean() > 0.5  # speech found: the two do not agree on nothing
    sm._silero_8k_parts.cache_clear()
    monkeypatch.setattr(sm.importlib.util, "find_spec", lambda name: None)  # no TorchScript file: the ONNX model
    np.testing.assert_array_equal(sm.silero_8k_probs(samples[:16000]), sm.silero_8k_probs_onnx(samples[:16000]))
    monkeypatch.undo()
    sm._silero_8k_parts.cache_clear()
    import torch

    def damaged(*args, **kwargs):
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    monkeypatch.setattr(torch.jit, "load", damaged)  # a file that does not load: the ONNX model, with a warning
    np.testing.assert_array_equal(sm.silero_8k_probs(samples[:16000]), sm.silero_8k_probs_onnx(samples[:16000]))
    assert "did not load" in caplog.text
    monkeypatch.undo()
    sm._silero_8k_parts.cache_clear()
