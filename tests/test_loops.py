"""Repetition loops: found where Whisper loops, not where people repeat themselves."""

from __future__ import annotations

import pytest

from pipeline.loops import cut_inner, find_loops, has_loop


@pytest.mark.parametrize(
    "text",
    [
        "Nadeen Nadeen Nadeen Nadeen Nadeen",
        "I'll call N. I'll call N. I'll call N. I'll call N.",
        "M .T. M .T. M .T. M .T. M .T.",
        "It's 4 " + "-1 " * 40,  # what espeak-ng 1.51's card number became with greedy decoding
        "and my name is Margaret Hamilton, and my name is Margaret Hamilton, and my name is Margaret Hamilton,",
        "Yes, it is 4242424242424242424242424242424242424242424242424242424242.",  # one token
        "Hello. Hello. Hello. Hello.",
    ],
)
def test_loops_are_found(text):
    assert has_loop(text)


@pytest.mark.parametrize(
    "text",
    [
        "no, no, no",
        "thank you, thank you",
        "Yes, it's 4 -1 -1 -1 - 1 -1 - 1 - 1 - 1 -1 -1 - 1 -1 - 1, 1 - 1.",  # 4111 1111 1111 1111 read out
        "four one one one one one one one one one one one one one one one",
        "4242 4242 4242 4242",
        "4242424242424242",
        "bye bye",
    ],
)
def test_talk_is_not_a_loop(text):
    assert not has_loop(text)


def test_a_loop_is_located_across_punctuation_tokens():
    words = "a b Nadeen - Nadeen - Nadeen Nadeen x".split()
    (loop,) = find_loops(words)
    assert words[loop.start : loop.end] == ["Nadeen", "-", "Nadeen", "-", "Nadeen", "Nadeen"]


def test_a_loop_inside_one_token_is_cut_back():
    token = "ha" * 20 + "!"
    (loop,) = find_loops(["it's", token])
    assert loop.inner and cut_inner(token, loop, 2) == "haha!"


def test_one_token_with_more_digits_than_a_card_is_a_loop_and_is_cut_to_a_card_number():
    from pipeline.whisper import Decoded, _cut_loops

    class W:
        def __init__(self, word):
            self.word, self.start, self.end = word, 0.0, 1.0

    garbled = "24242424242425252525252524252525252424252525242524"  # no periodic run long enough
    assert find_loops(["it", "is", "4242 4242 4242 4242", "4242424242424242"]) == []  # a card number is not
    for token in ("4242424242424242424242424242424242424242" + "8.", garbled):
        (loop,) = find_loops(["it", "is", token])
        assert loop.start == 2
        words = _cut_loops([(W(w), None) for w in ["it", "is", token]], Decoded())
        assert words[2][0].word == token[:16] + ("." if token.endswith(".") else "")


def test_letters_spelled_on_and_on_are_a_loop_cut_to_a_long_reference_but_a_spelled_name_is_not():
    from pipeline.whisper import Decoded, _cut_loops

    class W:
        def __init__(self, word):
            self.word, self.start, self.end = word, 0.0, 1.0

    spelled = "my postcode is L S 1 4 J W, and my name is S A R A H W H I T F I E L D.".split()
    assert find_loops(spelled) == []  # 14 letters: a name spelled out
    heard = "reference L -E -N -E -R -O -I -N -E -N -N -E -L -I -N -N -A -R -O -N -E -E -N -A -N -E -A and may write".split()
    (loop,) = find_loops(heard)  # 27 letters, as tiny.en wrote a six-character reference at 8 kHz
    assert (loop.start, loop.end) == (1, 28)
    words = [w.word for w, _ in _cut_loops([(W(w), None) for w in heard], Decoded())]
    assert words == ["reference", *heard[1:21], "and", "may", "write"]


def test_more_digits_in_a_row_than_a_card_expiry_and_code_is_a_loop_but_those_read_together_are_not():
    assert find_loops("it is 4 1 1 1 , 1 1 1 1 , 1 1 1 1 , 1 1 1 1 . 0 9 2 7 , 7 3 7 thanks".split()) == []
    assert find_loops("4111 1111 1111 1111 0927 737".split()) == []
    heard = "reference, K -9 -9 -9 -8 -9 -9 -7 -8 -9 -8 -8 -8 -7 -8 -8 -6 -9 -8 -6 -8 -8 -5 -8 -8 -9 -4 -8 -8 -4 -8 -9 -5".split()
    (loop,) = find_loops(heard)  # 31 digits for "S K 9 9 9 9", as tiny.en wrote it at 8 kHz
    assert (loop.start, loop.end) == (2, len(heard))


def test_a_phrase_the_decoder_is_stuck_on_with_small_changes_is_a_near_loop():
    from pipeline.loops import find_near_loops

    stuck = "I want to arrange something. My name is Robert Samen, and my name is Robert Samen. My name is Robert Saman, and my name's Robert Saman. My name is Robert Sam It's not good enough.".split()
    ((start, end),) = find_near_loops(stuck)
    assert stuck[start:end][:3] == ["My", "name", "is"] and find_loops(stuck) == []
    for said in (
        "thank you very much, thank you very much. Is there anything else?",
        "my card is 4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2 and the code is 1 2 3",
        "I want to pay. I want to pay by card. Later I want to pay the rest of it in the summer.",
    ):
        assert find_near_loops(said.split()) == [], said
