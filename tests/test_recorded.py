"""The phone system's recorded welcome (and the queue after it) at the start of a call: found by
its words, kept out of the people's voices, roles and words, and read by the disclosure rule."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hold import add_hold  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402
from pipeline.recorded import SYSTEM_SPEAKER, load_cues, opening_end, phone_system_opening  # noqa: E402
from pipeline.records import RecordingMeta, Utterance, Word  # noqa: E402
from pipeline.rules import evaluate_rules, load_rules  # noqa: E402
from pipeline.speakers import SpeakerOptions, attribute_speakers  # noqa: E402
from pipeline.speakers_cli import load_recording, reference_of, role_accuracy, role_spans  # noqa: E402
from pipeline.synth import Turn, Voice, synthesize  # noqa: E402

CUES = load_cues(ROOT / "data" / "recorded_messages.yaml")
DATA = ROOT / "tests" / "data"


def words_of(*sentences: tuple[float, str], pace: float = 0.3) -> list[Word]:
    """Words at ``pace`` seconds each, each sentence from its start time."""
    out = []
    for start, text in sentences:
        for i, word in enumerate(text.split()):
            out.append(Word(start + i * pace, start + (i + 1) * pace - 0.05, " " + word, 0.9))
    return out


def test_the_shipped_cues_load_and_a_bad_file_says_which_and_how(tmp_path: Path) -> None:
    assert "please hold" in CUES and "your call is important to us" in CUES
    assert load_cues(None) == ()
    with pytest.raises(ConfigError, match="no such file"):
        load_cues(tmp_path / "missing.yaml")  # a mistyped PARLEY_RECORDED_MESSAGES does not turn it off unseen
    bad = tmp_path / "recorded_messages.yaml"
    bad.write_text("cues: please hold\n")
    with pytest.raises(ConfigError, match="cues") as err:
        load_cues(bad)
    assert str(bad) in str(err.value)
    bad.write_text("cues: [please hold\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_cues(bad)


def test_a_welcome_ends_with_its_last_cue_and_the_staff_member_who_answers_stays_a_person() -> None:
    words = words_of((0.2, "Thank you for calling."), (1.6, "Your call is important to us."),
                     (3.8, "Please hold while we connect you."),
                     (7.0, "Good morning, Castlegate Bank, Priya speaking."), (9.5, "How can I help?"))
    (start, end), why = phone_system_opening(words, [], CUES)
    assert start == 0.0 and 5.5 < end < 7.0 and "your call is important to us" in why
    assert "Priya" not in why  # the reason names the cue, never the transcript's words


def test_a_staff_member_who_asks_the_customer_to_hold_is_no_recorded_welcome() -> None:
    # a greeting, the customer's story, then "please hold" after a pause: not the opening's words
    call = words_of((0.5, "Hello, you're through to Harbour Mutual, this is Sam."), (4.0, "How can I help?"),
                    (7.0, "Hi, my direct debit went out twice this month."), (12.0, "Okay, please hold a moment."))
    assert phone_system_opening(call, [], CUES) == (None, "")
    # ... nor when the talk runs on with no pause, past a welcome's length
    chatty = words_of(*[(0.5 + 2.0 * i, "Yes, and then the payment went out again.") for i in range(16)],
                      (33.0, "Okay, please hold a moment."), pace=0.25)
    assert phone_system_opening(chatty, [], CUES) == (None, "")
    # no cue at all: a disclosure is what staff say too
    plain = words_of((0.2, "Thank you for calling Harbour Mutual, Sam speaking."), (3.0, "Calls may be recorded for training purposes."),
                     (6.5, "How can I help?"))
    assert phone_system_opening(plain, [], CUES) == (None, "")


@pytest.mark.parametrize("said", [
    # the staff member's greeting and the customer's request before "please hold" (review, round 53)
    [(0.2, "Hello, Harbour Mutual, Sam speaking, how can I help?"), (3.4, "Hi, I want to check my balance please."),
     (6.2, "Sure, please hold while I look that up.")],
    [(0.2, "Hi, Sam speaking."), (1.4, "Sorry about the wait, we've had a high volume of calls today.")],
    [(0.2, "Hello, Harbour Mutual."), (1.6, "Hi, I'd like to pay my bill."), (3.4, "Okay, I'll transfer you to payments, one moment.")],
])
def test_a_person_who_speaks_first_is_never_the_phone_system(said) -> None:
    music = [(said[-1][0] + 0.3 * len(said[-1][1].split()) + 0.5, 40.0)]  # even where music follows at once
    assert phone_system_opening(words_of(*said), music, CUES)[0] is None
    assert phone_system_opening(words_of(*said), [], CUES)[0] is None


def test_a_welcome_runs_on_after_its_cue_up_to_the_queue() -> None:
    said = words_of((0.2, "Thank you for calling."), (1.5, "Please hold while we connect you."), (3.9, "Calls may be recorded."),
                    (5.4, "You can also manage your account online."))
    (start, end), why = phone_system_opening(said, [(8.2, 30.0), (30.6, 50.0)], CUES)  # the queue, in two pieces
    assert (start, end) == (0.0, 50.05) and "queue" in why


def test_a_welcome_with_no_cue_ends_at_the_pause_before_a_person_answers_by_name() -> None:
    welcome = [(0.2, "Thank you for calling the council's contact centre."), (3.0, "Calls may be monitored or recorded."),
               (5.6, "Many of our services are available online.")]
    for answer in ([(10.2, "Good morning."), (11.2, "Welcome to the council, Sam speaking.")],
                   [(10.2, "Hello, you're through to the council.")]):
        (start, end), why = phone_system_opening(words_of(*welcome, *answer), [], CUES)
        assert start == 0.0 and 7.5 < end < 10.2 and "before a pause and a person's opening" in why
    # a person's own opening, one sentence before their name after a pause: a person
    own = words_of((0.2, "Hello and thank you for calling Harbour Mutual."), (4.0, "My name is Sam, how can I help?"))
    assert phone_system_opening(own, [], CUES) == (None, "")
    # a customer who asks "am I speaking to" is not a person answering by name
    asked = words_of((0.2, "Good morning, Harbour Mutual."), (2.0, "Thanks for holding, it's been busy."), (5.5, "Hi, am I speaking to the cards team?"))
    assert phone_system_opening(asked, [], CUES) == (None, "")
    # the same welcome, but the pause before the person is short: no telling where it ends
    assert phone_system_opening(words_of(*welcome, (8.2, "Hello, you're through to the council.")), [], CUES) == (None, "")


def test_the_queue_after_a_welcome_and_music_that_opens_a_recording_are_the_phone_systems() -> None:
    welcome = words_of((0.2, "Thank you for calling. Please hold."), (22.0, "Good morning, Sam speaking."))
    (start, end), why = phone_system_opening(welcome, [(3.0, 21.0)], CUES)
    assert (start, end) == (0.0, 21.05) and "queue" in why
    # a welcome whose cue speech recognition garbled, running straight into the queue's music
    garbled = words_of((0.2, "Welcome. Please note calls are recorded."), (2.8, "You're calling important to us."), (22.0, "Hello, Sam speaking."))
    (start, end), why = phone_system_opening(garbled, [(5.0, 21.0)], CUES)
    assert (start, end) == (0.0, 21.05) and "runs into the queue's music" in why
    # ... but a person who answers and puts the customer on hold at once is a person
    for person in ("Hello, Harbour Mutual, Sam speaking. One moment.", "Hello, Harbour Mutual. Can you hold a moment?"):
        assert phone_system_opening(words_of((0.2, person), (22.0, "Thanks for waiting.")), [(3.5, 21.0)], CUES) == (None, "")
    (start, end), why = phone_system_opening(words_of((16.0, "Hello, Sam speaking.")), [(0.5, 15.0)], CUES)
    assert (start, end) == (0.0, 15.05) and "music opens the recording" in why
    assert phone_system_opening(words_of((0.5, "Hello, Sam speaking.")), [(20.0, 40.0)], CUES) == (None, "")


def test_an_announcement_after_the_queues_music_is_the_phone_systems_and_a_person_after_it_is_not() -> None:
    # welcome, queue music, "thank you for your patience ... we will be with you as soon as we
    # can", a pause, the person: all but the person is the phone system's
    said = words_of((0.2, "Thank you for calling. Please hold."), (14.4, "Thank you for your patience."),
                    (16.0, "Please continue to hold and we will be with you as soon as we can."), (22.0, "Good morning, Sam here."))
    (start, end), why = phone_system_opening(said, [(3.0, 14.3)], CUES)
    assert end == pytest.approx(16.0 + 0.3 * 15 - 0.05 + 0.05) and why.endswith("then the queue's music, then a recorded announcement")
    # more music after the announcement: the queue goes on to the person
    (start, end), why = phone_system_opening(said[:-4] + words_of((30.0, "Good morning, Sam here.")), [(3.0, 14.3), (21.0, 29.5)], CUES)
    assert end == 29.55
    # the person who answers straight after the music, whatever they say first
    for person in ("Thanks for holding, Sam speaking, sorry all our advisers are busy today.",
                   "Sorry to keep you, all our lines are busy today. How can I help?"):
        answered = words_of((0.2, "Thank you for calling. Please hold."), (14.4, person), (25.0, "Hi, it's about my bill."))
        (start, end), _ = phone_system_opening(answered, [(3.0, 14.3)], CUES)
        assert end == 14.35, person
    # two people talking after the music with a "please hold" and no question or name: longer than
    # any recorded line, so not the phone system's
    talk = words_of((0.2, "Thank you for calling. Please hold."), (14.4, "Hello there, billing team."),
                    (16.0, "Hi, it's about my bill, it went up again."), (19.0, "Okay let me look, please hold a moment."),
                    (21.5, "Sure, no problem."), (23.0, "Right, I can see the increase here, it is the new tariff."), (27.0, "Oh I see, thanks."))
    assert phone_system_opening(talk, [(3.0, 14.3)], CUES)[0] == (0.0, 14.35)
    # a word whose end comes before its start (an imported transcript) ends the search, not the loop
    odd = [Word(0.2, 0.5, " Please", 0.9), Word(0.6, 0.9, " hold.", 0.9), Word(14.5, 14.2, " Please", 0.9), Word(14.6, 14.25, " hold.", 0.9)]
    assert phone_system_opening(odd, [(3.0, 14.3)], CUES)[0] is not None


def test_a_welcome_that_asks_did_you_know_is_still_the_phone_systems() -> None:
    said = words_of((0.2, "Thank you for calling Crestline Wireless."), (2.8, "Did you know you can pay your bill in our app?"),
                    (6.3, "If you'd still like to speak to someone, please stay on the line."),
                    (11.5, "Good morning, Crestline, Megan speaking."), (14.0, "What can I do for you?"))
    (start, end), why = phone_system_opening(said, [], CUES)
    assert end == pytest.approx(6.3 + 0.3 * 13 - 0.05 + 0.05) and '"please stay on the line"' in why
    # a person's own question still ends a welcome ("did you know" is the welcome's; "do you know" may be anyone's)
    asked = words_of((0.2, "Hello, do you know your account number?"), (3.5, "Please hold while I look."))
    assert phone_system_opening(asked, [], CUES) == (None, "")
    # ... and "did you know" in one sentence does not hide a person's question in another, before a pause and a name
    mixed = words_of((0.2, "Did you know you can pay online?"), (2.5, "Can I take your name first?"),
                     (6.0, "Good morning, Crestline, Megan speaking."))
    assert phone_system_opening(mixed, [], CUES) == (None, "")


@pytest.fixture(scope="module")
def embed():
    import torch
    from sentence_transformers import SentenceTransformer

    from pipeline.models import resolve_model

    torch.set_num_threads(1)
    model = SentenceTransformer(resolve_model("all-MiniLM-L6-v2").path, device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True)


def test_the_disclosure_rule_reads_the_welcome_and_counts_its_minute_from_when_a_person_speaks(embed) -> None:
    rules = [r for r in load_rules(ROOT / "data" / "rules") if r.name == "call_recording_disclosure"]
    assert rules[0].recorded

    def call(staff_discloses_at: float | None) -> list[Utterance]:
        rows = [(SYSTEM_SPEAKER, "unknown", 0.2, 6.0, "Thank you for calling. Calls are recorded for training purposes. Please hold.")]
        rows += [("S1", "staff", 95.0, 98.0, "Good morning, Castlegate Bank, Priya speaking."),
                 ("S2", "customer", 98.5, 101.0, "Hi, I've got a question about my account.")]
        if staff_discloses_at is not None:
            rows.append(("S1", "staff", staff_discloses_at, staff_discloses_at + 3.0, "Just so you know, this call is recorded for training."))
        return [Utterance(i, spk, role, a, b, text) for i, (spk, role, a, b, text) in enumerate(sorted(rows, key=lambda r: r[2]))]

    # the welcome told the customer: passed, and the finding says by what
    found = evaluate_rules(rules, call(None), duration_s=200.0, embed=embed, channel="phone", opening_s=94.0)[0]
    assert found.passed and found.detail["by"] == "recorded welcome" and found.utterance_index == 0
    # where staff must say it themselves, the welcome does not count
    staff_only = [replace(r, recorded=False) for r in rules]
    found = evaluate_rules(staff_only, call(None), duration_s=200.0, embed=embed, channel="phone", opening_s=94.0)[0]
    assert not found.passed and found.utterance_index == 1  # where the staff member should have said it
    # the welcome and the staff member both said it: the staff member's words are the evidence, no "by"
    found = evaluate_rules(rules, call(105.0), duration_s=200.0, embed=embed, channel="phone", opening_s=94.0)[0]
    assert found.passed and "by" not in found.detail and found.utterance_index == 3 and found.detail["matches"] == [0, 3]
    # a welcome that does not disclose, with recorded: true: missing, pointing where the staff member should have said it
    quiet = [replace(u, text="Thank you for calling. Please hold.") if u.speaker == SYSTEM_SPEAKER else u for u in call(None)]
    found = evaluate_rules(rules, quiet, duration_s=200.0, embed=embed, channel="phone", opening_s=94.0)[0]
    assert not found.passed and found.utterance_index == 1 and found.detail["missing"]
    # staff who say it 10 s after they answer, after 90 s in the queue: inside their first minute
    found = evaluate_rules(staff_only, call(105.0), duration_s=200.0, embed=embed, channel="phone", opening_s=94.0)[0]
    assert found.passed and "by" not in found.detail and found.detail["window"]["start"] == 94.0
    found = evaluate_rules(staff_only, call(105.0), duration_s=200.0, embed=embed, channel="phone", opening_s=0.0)[0]
    assert not found.passed  # counted from the recording's start, the queue would have used the minute up


WELCOME_CALL = [
    Turn("staff", "Good morning, you're through to Harbour Mutual, this is Priya speaking."),
    Turn("staff", "What can I do for you today?", gap_s=0.3),
    Turn("customer", "Hi there, my direct debit went out twice this month and I'm now overdrawn."),
    Turn("staff", "Oh no, I'm sorry about that. Can I take your full name and the first line of your address?"),
    Turn("customer", "Sure, it's Helen Okafor, twelve Mill Lane."),
    Turn("staff", "Thank you. I can see the second payment, and I've asked for it to be returned today."),
    Turn("customer", "Great, thanks, that takes a weight off."),
    Turn("staff", "It should reach your account within three working days. Is there anything else I can help with?"),
    Turn("customer", "No, that's all, thank you."),
    Turn("staff", "Thanks for calling Harbour Mutual, take care. Bye now."),
]
"""A call whose staff member never says it is recorded: only the phone system's welcome does."""


def heard(*spans: tuple[float, float], until: float = 30.0) -> list[bool]:
    """10 ms frames of speech by the sound: True inside ``spans`` (seconds)."""
    return [any(a <= i / 100 < b for a, b in spans) for i in range(int(until * 100))]


def test_the_pause_before_a_person_is_the_sounds_not_the_words() -> None:
    welcome = [(0.2, "Thank you for calling the council's contact centre."), (3.0, "Calls may be monitored or recorded."),
               (5.6, "Many of our services are available online.")]
    words = words_of(*welcome, (9.0, "Hello, you're through to the council, Sam speaking."))
    last = max(i for i, w in enumerate(words) if w.start < 9.0)
    words[last] = replace(words[last], end=8.3)  # speech recognition ran the welcome's last word on to 8.3 s ...
    assert phone_system_opening(words, [], CUES) == (None, "")  # ... 0.7 s before the person: too short a pause by the words
    # but the sound stopped at 7.7 s: a pause of 1.3 s, the line connecting to a person
    sound = heard((0.2, 2.6), (3.0, 4.7), (5.6, 7.7), (9.0, 12.0))
    (start, end), why = phone_system_opening(words, [], CUES, sound)
    assert start == 0.0 and 7.6 < end < 9.0 and "before a pause and a person's opening" in why
    # where the sound heard speech on through the words' gap, there was no pause: no welcome
    gapped = words_of(*welcome, (9.0, "Hello, you're through to the council, Sam speaking."))
    assert phone_system_opening(gapped, [], CUES)[0] is not None
    assert phone_system_opening(gapped, [], CUES, heard((0.2, 12.0))) == (None, "")


def test_a_one_sentence_welcome_is_found_where_the_person_after_it_greets() -> None:
    sound = heard((0.2, 2.9), (4.4, 8.0))
    said = words_of((0.2, "Thanks for calling Larkspur Motor Insurance connecting you now."),
                    (4.4, "Hello, you're through to Castlegate Bank, Farah speaking."))
    (start, end), _ = phone_system_opening(said, [], CUES, sound)
    assert start == 0.0 and 2.5 < end < 4.4
    # a person's own first sentence, a pause, then their name without a greeting: theirs
    own = words_of((0.2, "Hello and thank you for calling Harbour Mutual."), (4.0, "My name is Sam, how can I help?"))
    assert phone_system_opening(own, [], CUES, heard((0.2, 2.6), (4.0, 7.0))) == (None, "")
    thanks = words_of((0.2, "Hello and thank you for calling Harbour Mutual."), (4.0, "Thanks for holding, Sam speaking."))
    assert phone_system_opening(thanks, [], CUES, heard((0.2, 2.6), (4.0, 7.0))) == (None, "")
    # a staff member's first sentence answered by the customer's bare "Hi.", checked with a "Hello?"
    # down a silent line, or followed by a second greeting of their own: theirs (the review's cases)
    for own in ([(0.2, "Thank you for calling Harbour Mutual claims."), (3.6, "Hi."), (4.2, "Hi, how can I help?")],
                [(0.2, "Thank you for calling Harbour Mutual."), (3.4, "Hello?"), (4.2, "You're through to Sam in claims.")],
                [(0.2, "Thank you for calling Harbour Mutual."), (3.4, "Hello, is anyone there?"), (5.0, "You're through to Sam.")],
                [(0.2, "Good morning and thank you for calling Harbour Mutual."), (4.4, "Hello, you're through to Sam.")]):
        words = words_of(*own)
        quiet = heard(*((w.start, w.end) for w in words))
        assert phone_system_opening(words, [], CUES, quiet) == (None, ""), own
    # the person who answers by name may ask in the same sentence
    asked = words_of((0.2, "Thanks for calling Larkspur Motor Insurance connecting you now."),
                     (4.4, "Hello, you're through to Castlegate Bank, how can I help?"))
    assert phone_system_opening(asked, [], CUES, sound)[0] is not None


def test_a_welcome_that_pauses_long_between_its_own_sentences_ends_at_the_pause_before_the_person() -> None:
    # a recorded voice that pauses 1.6 s after its first sentence, longer than before the person (1.4 s)
    welcome = [(0.2, "Thank you for phoning Glenhaven Building Society."),
               (3.85, "Please remember that fraudsters can make a call look as though it is coming from us today."),
               (9.8, "If you are ever in doubt hang up and ring the number on your card.")]
    words = words_of(*welcome, (15.35, "Hello, you're through to Harbour Mutual, Declan speaking."))
    sound = heard(*((w.start, w.end) for w in words), until=20.0)
    # pauses of 1.6, 1.2 and 1.4 s; the longest, 11.5 s before the person's opening, is too early for
    # a person who answers (GREETING_S): of the others, the longest ends the welcome
    assert phone_system_opening(words, [], CUES, sound) != (None, "")
    (start, end), _ = phone_system_opening(words, [], CUES, sound)
    assert start == 0.0 and 13.0 < end < 15.35


def test_a_welcome_the_voices_found_ends_at_the_pause_by_the_sound_near_where_the_voices_change() -> None:
    from pipeline.recorded import welcome_by_voice

    # the welcome garbled as Whisper tiny.en heard one at 8 kHz, the person's opening too: no cue, no name
    welcome = [(0.2, "Welcome to Raccoon Fieldboro Council."), (3.2, "Did you know you can report a missed win online."),
               (7.0, "Please be aware that missed call in being recorded.")]
    person = [(12.4, "Good morning."), (13.4, "What can I know for you?"), (16.0, "I want to remain something next on run.")]
    words = words_of(*welcome, *person)
    assert phone_system_opening(words, [], CUES, heard(*((w.start, w.end) for w in words), until=25.0)) == (None, "")
    # the sound: the welcome stops at 10.3 s, the person starts at 12.4 s; the first voice's windows
    # end at 11.0 s and the next voice's begin at 10.6 s (windows straddle the pause)
    sound = heard((0.2, 2.4), (3.2, 6.5), (7.0, 10.3), (12.4, 14.6), (16.0, 19.0), until=25.0)
    (start, end), why = welcome_by_voice(words, 11.0, 10.6, sound)
    assert start == 0.0 and abs(end - 11.35) < 0.011 and "by the voices" in why  # the middle of the silence
    # a last word run on to 11.9 s (0.5 s before the person by the words) stays the welcome's, however the change falls
    last = max(i for i, w in enumerate(words) if w.start < 12.0)
    ran_on = [replace(w, end=11.9) if i == last else w for i, w in enumerate(words)]
    for change in ((11.0, 10.6), (11.0, 10.4), (10.2, 12.6)):
        assert welcome_by_voice(ran_on, *change, sound)[0] == (0.0, end), change
    # a welcome that says "you're through to" (recorded welcomes do) is still one
    through = words_of((0.2, "Hi there, you're through to Parcel Quick."), (3.0, "You can track your delivery online."),
                       (7.5, "Hi, my parcel never came."))
    assert welcome_by_voice(through, 6.0, 7.5, heard(*((w.start, w.end) for w in through), until=25.0))[0] is not None
    # no pause of GAP_S near where the voices change (the sound runs on): no welcome
    assert welcome_by_voice(words, 11.0, 10.6, heard((0.2, 19.0), until=25.0)) == (None, "")
    # where the voices change far from any pause of a second: none either
    assert welcome_by_voice(words, 5.0, 5.2, sound) == (None, "")
    # too few words before the pause to be a welcome
    short = words_of((0.2, "Council."), (12.4, "Good morning."), (13.4, "What can I know for you?"))
    assert welcome_by_voice(short, 1.0, 12.0, heard((0.2, 0.5), (12.4, 15.0), until=25.0)) == (None, "")
    # a staff member's own opening and disclosure, then a pause: a person's, never the phone system's
    for own in ("Good morning, Harbour Mutual, Sam speaking. Please note this call is recorded.",
                "Good morning, Harbour Mutual. Please note this call is recorded. What can I do for you?",
                "Hello, you're through to Harbour Mutual, my name is Sam. Please note this call is recorded."):
        said = words_of((0.2, own), (7.5, "Hi, my direct debit went out twice this month."))
        quiet = heard(*((w.start, w.end) for w in said), until=25.0)
        first_end = max(w.end for w in said if w.start < 7.5)
        assert welcome_by_voice(said, first_end, 7.5, quiet) == (None, ""), own


def test_the_pause_reaches_past_a_first_word_pulled_into_it() -> None:
    welcome = [(0.2, "Thank you for calling the council's contact centre."), (3.0, "Calls may be monitored or recorded."),
               (5.6, "Many of our services are available online.")]
    words = words_of(*welcome, (9.0, "Hello, you're through to the council, Sam speaking."))
    first = next(i for i, w in enumerate(words) if w.start >= 9.0)
    words[first] = replace(words[first], start=8.4, end=8.65)  # the person's first word pulled 0.6 s into the pause
    sound = heard((0.2, 2.6), (3.0, 4.7), (5.6, 7.7), (9.0, 12.0))  # the sound: 1.3 s of pause, 7.7-9.0 s
    (start, end), _ = phone_system_opening(words, [], CUES, sound)
    assert start == 0.0 and 7.6 < end < 9.0


def test_speech_frames_hear_the_pause_between_two_readers_at_16_and_8_khz() -> None:
    import numpy as np
    from faster_whisper import decode_audio

    from pipeline.diarize import speech_frames
    from pipeline.speaker_models import telephone_band

    first, second = (decode_audio(str(sorted((DATA / "librispeech" / reader).glob("*.opus"))[0]), sampling_rate=16000)
                     for reader in ("1688", "1998"))
    joined = np.concatenate([first, np.zeros(int(1.4 * 16000), np.float32), second]).astype(np.float32)
    at = len(first) / 16000
    for samples, telephone in ((joined, False), (telephone_band(joined), True)):
        frames = speech_frames(samples, telephone)
        quiet, run = [], 0
        for i, speaking in enumerate([*frames, True]):
            if not speaking:
                run += 1
            elif run:
                quiet.append(((i - run) / 100, run / 100))
                run = 0
        long = [(start, length) for start, length in quiet if length >= 1.0]
        # the 1.4 s between the readers (and the first reading's own trailing silence), and no other pause of a second
        assert len(long) == 1 and long[0][0] <= at and long[0][0] + long[0][1] >= at + 1.4 - 0.1, (telephone, long)


@pytest.fixture(scope="module")
def welcomed_call(tmp_path_factory) -> tuple[Path, object]:
    """An 8 kHz mono call (G.711) that opens with the phone system's recorded welcome in a third
    espeak voice, then 8 s of the queue's music; and its transcript."""
    from pipeline.settings import Settings
    from pipeline.transcribe import TranscribeOptions, transcribe

    folder = tmp_path_factory.mktemp("welcome")
    plain, welcomed = folder / "plain" / "call.wav", folder / "call.wav"
    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f4", 165, 70)}
    script = synthesize(WELCOME_CALL, plain, stereo=False, voices=voices, telephone=True, seed=7)
    plain.with_suffix(".rttm").write_text(script.to_rttm("call"))
    plain.with_name("call.truth.json").write_text(json.dumps({"staff_voice": "en-gb+m3", "customer_voice": "en-us+f4"}))
    said = "Thank you for calling. Calls are recorded for training purposes. Please hold while we connect you. Your call is important to us."
    assert add_hold(plain, welcomed, 8.0, 8.0, 0.0, -3.0, welcome=said) is not None
    welcomed.with_suffix(".json").write_text(json.dumps({"channel": "phone"}))
    audio, _ = load_recording(welcomed)
    return welcomed, transcribe(audio, TranscribeOptions.from_settings(Settings()))


def test_a_call_that_opens_with_a_recorded_welcome_keeps_it_out_of_the_voices_roles_and_staff_words(welcomed_call, embed) -> None:
    path, transcript = welcomed_call
    audio, meta = load_recording(path)
    reference = reference_of(path.with_suffix(".rttm"), path)
    (welcome_start, welcome_end), = [(a, b) for a, b, who in reference if who == "announcement"]
    first_person = min(a for a, _, who in reference if who in ("staff", "customer"))

    result = attribute_speakers(audio, transcript, meta, SpeakerOptions(recorded_cues=CUES))
    opening = [t for t in result.turns if t.speaker == SYSTEM_SPEAKER]
    assert len(opening) == 1 and opening[0].start == 0.0
    assert welcome_end + 8.0 - 1.0 <= opening[0].end <= first_person  # the welcome and the queue, not the staff member
    assert opening_end(result.turns) == opening[0].end
    said = [u for u in result.utterances if u.end <= welcome_end + 0.5]
    assert said and all(u.speaker == SYSTEM_SPEAKER and u.role == "unknown" for u in said)
    assert {u.role for u in result.utterances if u.speaker != SYSTEM_SPEAKER} == {"staff", "customer"}
    assert "the phone system's opening at 0-" in result.roles.reason
    share = role_accuracy(role_spans(result.utterances, result.turns), reference)["share"]
    assert share >= 0.85  # robust to espeak-ng and Whisper versions (bench/SPEAKERS.md, round 53, for the sets)
    assert not result.rows["dynamics"][0]["longest_silence_s"] >= 8.0  # the queue is not silence

    # the disclosure: only the welcome gave it, and the finding says so
    rules = [r for r in load_rules(ROOT / "data" / "rules") if r.name == "call_recording_disclosure"]
    found = evaluate_rules(rules, result.utterances, duration_s=audio.info.duration_s, embed=embed, channel="phone",
                           opening_s=opening_end(result.turns))[0]
    assert found.passed and found.detail["by"] == "recorded welcome"

    # not looked for: the welcome's words go to one of the people
    off = attribute_speakers(audio, transcript, meta, SpeakerOptions())
    assert SYSTEM_SPEAKER not in {u.speaker for u in off.utterances}
    theirs = [u for u in off.utterances if u.end <= welcome_end + 0.5]
    assert theirs and all(u.role in ("staff", "customer") for u in theirs)


def test_a_stereo_call_keeps_every_word_once_and_the_welcome_apart() -> None:
    import numpy as np

    from pipeline.records import AudioInfo, DecodedAudio, Transcript

    audio = DecodedAudio(AudioInfo("wav", "pcm", 16000, 2, 30.0, "stereo"), np.zeros((2, 30 * 16000), np.float32))
    welcome = words_of((0.2, "Thank you for calling."), (1.6, "Calls are recorded."), (3.0, "Please hold while we connect you."))
    welcome = [replace(w, channel=1) for w in welcome]
    staff = words_of((6.0, "Good morning, Harbour Mutual, Sam speaking."), (10.0, "How can I help?"))
    customer = [replace(w, channel=1) for w in words_of((12.0, "Hi, I've got a question about my bill."))]
    words = welcome + staff + customer
    utterances = [Utterance(i, "S1", "unknown", w.start, w.end, w.word, [w], channel=w.channel) for i, w in enumerate(words)]
    result = attribute_speakers(audio, Transcript(utterances), RecordingMeta(channel="phone"), SpeakerOptions(recorded_cues=CUES))
    kept = sorted((w.start, w.channel, w.word) for u in result.utterances for w in u.words)
    assert kept == sorted((w.start, w.channel, w.word) for w in words)  # every word, once
    assert {u.role for u in result.utterances if u.speaker == SYSTEM_SPEAKER} == {"unknown"}
    assert {u.channel for u in result.utterances if u.speaker == SYSTEM_SPEAKER} == {1}
    said = [w.word.strip() for u in result.utterances if u.speaker == SYSTEM_SPEAKER for w in u.words]
    assert said == [w.word.strip() for w in welcome]
    assert {u.role for u in result.utterances if u.speaker != SYSTEM_SPEAKER} == {"staff", "customer"}
    assert [t.speaker for t in result.turns] == [SYSTEM_SPEAKER] and result.turns[0].end < 6.0
    assert f"{len(welcome)} words, the {SYSTEM_SPEAKER} speaker's" in result.roles.reason

    # the welcome recorded on both channels: each channel's opening counts its own words, not both
    both = [replace(w, channel=0) for w in welcome] + words
    utterances = [Utterance(i, "S1", "unknown", w.start, w.end, w.word, [w], channel=w.channel) for i, w in enumerate(both)]
    result = attribute_speakers(audio, Transcript(utterances), RecordingMeta(channel="phone"), SpeakerOptions(recorded_cues=CUES))
    for channel in (0, 1):
        assert f"the phone system's opening on channel {channel} at 0-5 s " in result.roles.reason
    assert result.roles.reason.count(f": {len(welcome)} words, the {SYSTEM_SPEAKER} speaker's") == 2
    assert {u.channel for u in result.utterances if u.speaker == SYSTEM_SPEAKER} == {0, 1}
    assert [t.speaker for t in result.turns] == [SYSTEM_SPEAKER]


def test_a_face_to_face_recording_has_no_phone_system(welcomed_call) -> None:
    path, transcript = welcomed_call
    audio, _ = load_recording(path)
    result = attribute_speakers(audio, transcript, RecordingMeta(channel="face-to-face"), SpeakerOptions(recorded_cues=CUES, diarization=False))
    assert SYSTEM_SPEAKER not in {u.speaker for u in result.utterances}


def test_two_speakers_who_never_take_turns_are_a_welcome_and_the_call_not_two_people() -> None:
    from pipeline.speakers import first_never_answered

    def turns(*spans: tuple[float, float, str]) -> list[Utterance]:
        return [Utterance(i, who, "unknown", a, b, "words") for i, (a, b, who) in enumerate(spans)]

    # the welcome's voice (S1) alone at the start, then one voice for both people (S2): never answered
    assert first_never_answered(turns((0.2, 4.5, "S1"), (5.0, 11.6, "S1"), (12.9, 33.0, "S2"), (34.0, 44.0, "S2"))) == (11.6, 12.9)
    # a call whose two people take turns, however the first opens, and the phone system's own turns aside
    assert first_never_answered(turns((0.2, 4.5, "S1"), (5.0, 9.0, "S2"), (9.5, 12.0, "S1"))) is None
    assert first_never_answered(turns((0.0, 9.0, "SYSTEM"), (10.0, 12.0, "S1"), (12.5, 15.0, "S2"), (15.5, 17.0, "S1"))) is None
    # a short call whose last "Bye." got a voice of its own: the other voice does not hold the call
    assert first_never_answered(turns((0.2, 5.0, "S1"), (5.5, 11.7, "S1"), (13.0, 13.4, "S2"))) is None
    # one speaker, or three: not this case
    assert first_never_answered(turns((0.2, 4.5, "S1"), (5.0, 9.0, "S1"))) is None
    assert first_never_answered(turns((0.2, 4.5, "S1"), (5.0, 9.0, "S2"), (9.5, 12.0, "S3"))) is None
