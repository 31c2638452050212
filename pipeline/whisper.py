"""Decode one channel with faster-whisper, fast where it can be and careful where it must be.

faster-whisper offers two decoders. ``WhisperModel.transcribe`` walks the audio in 30 s windows
and decodes a window again (higher temperature, checks on compression and log-probability) when
it went wrong: careful, and slow. Its higher temperatures *sample*, from a random generator that
CTranslate2 seeds once per worker thread and never again: the same window decoded twice, in
two processes or after other windows, can give different words (the sample card call's card
number came out as "4242...425", "4 processed to 4, 2, 4, ..." and "Portugal 2424..." in three
runs). Parley never samples (``_careful``), so one recording gives one transcript.
``BatchedInferencePipeline`` decodes many windows in one batch, each once: fast, but a window that repeats itself ("my name is Margaret, and my name is Margaret,
and ...") or stops early keeps its mistake, and the words after it are lost for good.

``decode`` with ``batch_size > 0`` takes the batch for the first pass over the speech the VAD
found, then checks every window, and decodes again, the careful way, only the ones that went
wrong:

- a **repetition loop** (``loops.find_loops``) or text that compresses too well (ratio > 2.4);
- a low average log-probability (< -1.0) over speech;
- **no speech** where the VAD heard some: faster-whisper drops a window whose no-speech
  probability is over 0.6 with a low log-probability; the batch's one guess is not trusted with
  ``LOST_SPEECH_S`` of speech or more, which the careful pass decodes once (and drops if it agrees);
- **lost speech**: the last word ends well before the window's speech does, or a long stretch
  of the window's speech has no word (``LOST_SPEECH_S``);
- **too few words**: under ``SPARSE_WORDS_PER_S`` over ``SPARSE_MIN_S`` of speech or more.

The careful pass (beam search at temperature 0; then no repeated 6-token run; then the window in
two halves) replaces the window's words unless it misses more of the speech (``_missed``: gaps
with no word, time taken by a loop). A loop left after both passes is cut back to its first two
repeats (a token of more digits than a card has, to 16 digits), so no loop reaches the database. ``batch_size = 0`` decodes everything the careful way (faster-whisper's
own ``transcribe`` with VAD), with the same final cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .loops import (
    COMPRESSION_RATIO_LIMIT, MAX_SPELLED_LETTERS, compression_ratio, cut_inner, find_loops, find_near_loops, is_spelled_run, is_spoken,
)
from .records import Word

SAMPLE_RATE = 16000
WINDOW_S = 30.0
LOG_PROB_LIMIT = -1.0
NO_SPEECH_LIMIT = 0.6
LOST_SPEECH_S = 2.5
"""Speech in a window this long (at its end, or between two words) with no word in it means the
decoder lost words there."""
SPARSE_WORDS_PER_S = 1.5
SPARSE_MIN_S = 5.0
"""A window of at least ``SPARSE_MIN_S`` of speech with fewer words than this per second of it is
decoded again: over speech it did not make out, Whisper writes a short stock line ("Thank you for
joining us today." for 8.5 s of a staff member's further-help offer and closing; "Thank you for
joining us. Thank you very much." for 8.9 s) with its word times stretched over the speech, so no
gap shows the loss. The development calls' windows of 5 s or more ran at 1.5-3 words a second
when right, 0.25-0.5 when not."""
TEMPERATURE = (0.0,)
"""Every pass decodes at temperature 0 (no sampling): the same audio, the same words."""
MAX_NEW_TOKENS = 192
"""Tokens a first-pass window may have: 30 s of fast speech (200 words a minute) takes ~140; a
window that loops stops here instead of at Whisper's 448 (its words are decoded again anyway)."""
LOOP_NGRAM = 6
"""In a window decoded again because it looped, no run of this many tokens may repeat."""
LOOP_MARGIN_S = 1.0
"""A loop found after careful decoding is decoded again with this much audio either side."""
KEEP_DIGITS = 16
"""A loop of digits left after both passes keeps this many: a card number's length."""
KEEP_REPEATS = 2
"""A loop left after the careful pass keeps this many repeats of its unit."""
MIN_HALF_S = 5.0
"""A window is decoded in two halves only when each would be at least this long."""


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 5
    """Beam for both passes (faster-whisper's default is 5; 1 is greedy)."""
    batch_size: int = 16
    """Windows per batch in the first pass; 0: every window the careful way."""
    language: str | None = "en"
    hotwords: str | None = None
    min_silence_ms: int = 160
    """The VAD joins speech across pauses shorter than this when it lays out the windows."""
    timestamps: bool = False
    """The first pass predicts timestamps (a window then may end early: the guard decodes the
    rest again) instead of plain text."""
    guard: bool = True
    """Check the first pass's windows and decode the bad ones again."""
    vad_filter: bool = True
    """Only with ``batch_size`` 0: decode only the speech the VAD finds (the batch always does)."""
    lost_speech_s: float = LOST_SPEECH_S
    """Speech this long in a window with no word in it sends the window to the careful pass."""
    unsure_logprob: float = LOG_PROB_LIMIT
    """A first-pass window whose average log-probability is below this goes to the careful pass."""
    split_depth: int = 2
    """The careful pass's last try: the window in halves (1), a half that still misses speech in
    halves again (2), and so on; 0: never split."""


@dataclass
class Decoded:
    """One channel's words (times on the channel's clock) and what the decoder did."""

    words: list[Word] = field(default_factory=list)
    segment_stats: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Segment number -> (avg_logprob, no_speech_prob)."""
    language: str | None = None
    windows: int = 0
    redecoded: int = 0
    """Windows decoded again the careful way."""
    dropped: int = 0
    """Windows dropped as text over no speech (by the batch when under ``lost_speech_s``, else by
    the careful pass too)."""
    loops_cut: int = 0
    """Repetition loops still there after both passes, cut back to ``KEEP_REPEATS`` repeats."""
    reasons: dict[str, int] = field(default_factory=dict)
    """Why windows were decoded again: loop, unsure (low log-probability), lost (speech with no
    word), sparse (too few words for the speech), silent (no speech by the batch's verdict over the
    VAD's speech)."""

    def stats(self) -> dict[str, int]:
        return {"windows": self.windows, "redecoded": self.redecoded, "dropped": self.dropped, "loops_cut": self.loops_cut,
                **{f"redecoded_{k}": v for k, v in sorted(self.reasons.items())}}


@dataclass
class _Window:
    """One first-pass window: where it sits on the joined speech, and what was decoded."""

    start: float
    end: float
    segments: list = field(default_factory=list)

    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


def decode(model, samples: np.ndarray, options: DecodeOptions) -> Decoded:
    """Decode ``samples`` (16 kHz mono float32): words with times on ``samples``' clock."""
    if options.batch_size <= 0:
        return _careful_all(model, samples, options)
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.vad import SpeechTimestampsMap, VadOptions, collect_chunks, get_speech_timestamps

    speech = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=WINDOW_S, min_silence_duration_ms=options.min_silence_ms))
    out = Decoded(language=options.language)
    if not speech:
        return out
    chunks, meta = collect_chunks(samples, speech, max_duration=WINDOW_S)
    joined = np.concatenate(chunks)
    windows = [_Window(m["offset"], m["offset"] + m["duration"]) for m in meta if m["duration"] > 0]
    starts = np.array([w.start for w in windows])
    segments, info = BatchedInferencePipeline(model).transcribe(
        joined, language=options.language, beam_size=options.beam_size, batch_size=options.batch_size,
        word_timestamps=True, vad_filter=False, hotwords=options.hotwords, without_timestamps=not options.timestamps,
        max_new_tokens=MAX_NEW_TOKENS,
        clip_timestamps=[{"start": w.start, "end": w.end} for w in windows],
    )
    for segment in segments:  # the generator runs the model here; ``seek``: its window's start in 10 ms frames
        windows[int(np.abs(starts - segment.seek / 100).argmin())].segments.append(segment)
    out.language = info.language
    out.windows = len(windows)
    words_by_window = []
    for window in windows:
        words = _first_pass_words(window)
        if words is None:  # the batch calls it text over no speech
            if not options.guard or window.end - window.start < options.lost_speech_s:
                out.dropped += 1
                words_by_window.append([])
                continue
            # but the VAD heard this much speech: decode it the careful way, whose own check drops
            # it if it really is no speech (a held-out call's first 30 s, the staff member's
            # greeting, disclosure and identity question, came out of the batch as "I'm sorry I'm
            # out", no-speech probability 0.68, and were lost)
            words, why = [], "silent"
        else:
            why = _needs_second_pass(window, words, options.lost_speech_s, options.unsure_logprob) if options.guard else None
        if why:
            again = _careful(model, joined[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)], options,
                             loop=why == "loop", silent=why == "silent")
            out.redecoded += 1
            out.reasons[why] = out.reasons.get(why, 0) + 1
            again_words = [(_shifted(w, window.start), stats) for w, stats in again]
            if _better(again_words, words, window):
                words = again_words
            if why == "silent" and not words:
                out.dropped += 1
        words_by_window.append(words)
    ts_map = SpeechTimestampsMap(speech, SAMPLE_RATE)
    for words in words_by_window:
        _collect(out, _cut_loops(words, out), ts_map)
    return out


def _first_pass_words(window: _Window) -> list[tuple] | None:
    """(word, (avg_logprob, no_speech_prob)) of a first-pass window; None when it is text over no
    speech (faster-whisper's rule: no-speech probability over 0.6 and a low log-probability)."""
    if not window.segments:
        return []
    first = window.segments[0]  # the batch gives one log-probability per window
    if first.no_speech_prob > NO_SPEECH_LIMIT and first.avg_logprob < LOG_PROB_LIMIT:
        return None
    return [(w, (s.avg_logprob, s.no_speech_prob)) for s in window.segments for w in (s.words or ())]


def _needs_second_pass(window: _Window, words: list[tuple], lost_speech_s: float = LOST_SPEECH_S, unsure_logprob: float = LOG_PROB_LIMIT) -> str | None:
    """Why the window must be decoded again (``loop``, ``unsure``, ``sparse``, ``lost``), or None."""
    if not window.segments:
        return "lost" if window.end - window.start >= lost_speech_s else None
    text = window.text()
    if find_loops(text.split()) or compression_ratio(text) > COMPRESSION_RATIO_LIMIT:
        return "loop"
    if window.segments[0].avg_logprob < unsure_logprob and words:
        return "unsure"
    seconds = window.end - window.start
    if seconds >= SPARSE_MIN_S and len(words) < SPARSE_WORDS_PER_S * seconds:
        return "sparse"
    return "lost" if _lost_speech(words, window, lost_speech_s) > 0 else None


def _lost_speech(words: list[tuple], window: _Window, at_least_s: float = LOST_SPEECH_S) -> float:
    """Seconds of the window's speech (on the joined clock) in gaps of ``at_least_s`` or more
    with no word: before the first word, between two, after the last."""
    edges = [window.start] + [x for w, _ in words for x in (w.start, w.end)] + [window.end]
    gaps = [edges[i + 1] - edges[i] for i in range(0, len(edges) - 1, 2)]
    return sum(g for g in gaps if g >= at_least_s)


def _missed(words: list[tuple], window: _Window) -> float:
    """Seconds of the window's speech a decoding misses: its gaps with no word
    (``_lost_speech``) plus the time its repetition loops, exact or near, take up. A looped token
    ("4242...") often stretches over the speech after it, hiding that speech from the gap count."""
    return _lost_speech(words, window) + _loop_time(words)


def _loop_time(words: list[tuple]) -> float:
    tokens = [w.word for w, _ in words]
    spans = sorted([(loop.start, loop.end) for loop in find_loops(tokens)] + find_near_loops(tokens))
    total, reach = 0.0, 0.0
    for start, end in spans:
        lo, hi = max(words[start][0].start, reach), words[end - 1][0].end
        total += max(hi - lo, 0.0)
        reach = max(reach, hi)
    return total


def _better(again: list[tuple], first: list[tuple], window: _Window) -> bool:
    """The careful pass wins unless it misses more of the speech (lost or looped) than the
    first pass, by more than half a second."""
    return _missed(again, window) <= _missed(first, window) + 0.5


def _careful(model, samples: np.ndarray, options: DecodeOptions, *, loop: bool = False, silent: bool = False) -> list[tuple]:
    """faster-whisper's sequential decoding (beam search, temperature 0) on one window, then
    deterministic second tries while the result still misses speech (``_missed``: gaps with no
    word, or time taken by a loop):

    1. once more with no 6-token run allowed twice (``LOOP_NGRAM``): a short loop ("my name is
       Margaret, and my name is Margaret, ...") passes faster-whisper's compression check. Not
       the first try, because a card number read out repeats its digits legitimately;
    2. the window in two halves, cut at its quietest moment near the middle, each decoded on its
       own: a decoder that skipped or looped over 30 s usually does not over 15; a half that
       still does is halved again (``DecodeOptions.split_depth``, halves of at least
       ``MIN_HALF_S``): "Hello, you're through to Harbour Mutual" heard as "you're welcome"
       over 12 s of an 8 kHz call (every try looped) gave back the disclosure and the identity
       question in quarters.

    The try that misses least wins (the first on a tie). Sampling at higher temperatures, which
    faster-whisper falls back on, is not used: it is random (see the module's docstring).
    ``silent``: the batch called the window no speech; when the first try agrees (faster-whisper
    skips its segments by the same rule), it stays dropped: no halves that might find words in
    hold music or a leak of the other channel."""
    whole = _Window(0.0, len(samples) / SAMPLE_RATE)
    best = _careful_once(model, samples, options, 0)
    if silent and not best:
        return best
    if loop or _missed(best, whole) >= options.lost_speech_s:
        best = _least_missed(whole, best, _careful_once(model, samples, options, LOOP_NGRAM))
    if options.split_depth > 0 and _missed(best, whole) >= options.lost_speech_s and whole.end >= 2 * MIN_HALF_S:
        best = _least_missed(whole, best, _halves(model, samples, options, options.split_depth))
    return best


def _halves(model, samples: np.ndarray, options: DecodeOptions, depth: int) -> list[tuple]:
    """``samples`` in two halves cut at the quietest moment near the middle, each decoded on its
    own (again with no repeated 6-token run if it loops); while ``depth`` lasts, a half that still
    misses speech is halved again, the better of the two kept."""
    cut = _quietest(samples, 0.35, 0.65)
    words = []
    for lo, hi in ((0, cut), (cut, len(samples))):
        half, window = samples[lo:hi], _Window(0.0, (hi - lo) / SAMPLE_RATE)
        part = _careful_once(model, half, options, 0)
        if find_loops([w.word for w, _ in part]):
            part = _least_missed(window, part, _careful_once(model, half, options, LOOP_NGRAM))
        if depth > 1 and _missed(part, window) >= options.lost_speech_s and window.end >= 2 * MIN_HALF_S:
            part = _least_missed(window, part, _halves(model, half, options, depth - 1))
        words += [(_shifted(w, lo / SAMPLE_RATE), stats) for w, stats in part]
    return words


def _least_missed(window: _Window, *tries: list[tuple]) -> list[tuple]:
    """The try that misses least of ``window``'s speech (``_missed``); the earlier on a tie."""
    return min(tries, key=lambda words: _missed(words, window))


def _quietest(samples: np.ndarray, lo: float, hi: float, frame_s: float = 0.02) -> int:
    """The sample index of the quietest 20 ms frame between fractions ``lo`` and ``hi`` of ``samples``."""
    n = int(frame_s * SAMPLE_RATE)
    a, b = int(len(samples) * lo) // n, int(len(samples) * hi) // n
    frames = samples[a * n : b * n].reshape(-1, n)
    return (a + int(np.argmin((frames.astype(np.float64) ** 2).mean(axis=1)))) * n


def _careful_once(model, samples: np.ndarray, options: DecodeOptions, no_repeat_ngram_size: int) -> list[tuple]:
    segments, _ = model.transcribe(
        samples, language=options.language, beam_size=max(options.beam_size, 5), temperature=list(TEMPERATURE),
        word_timestamps=True, vad_filter=False, condition_on_previous_text=False, hotwords=options.hotwords,
        no_repeat_ngram_size=no_repeat_ngram_size, max_new_tokens=MAX_NEW_TOKENS,
    )
    return [(w, (s.avg_logprob, s.no_speech_prob)) for s in segments for w in (s.words or ())]


def _careful_all(model, samples: np.ndarray, options: DecodeOptions) -> Decoded:
    """Everything the careful way (faster-whisper's ``transcribe`` with its VAD, temperature 0), then a second
    look at any stretch that loops: decoded again with no repeated 6-token run, else cut."""
    segments, info = model.transcribe(
        samples, language=options.language, beam_size=options.beam_size, temperature=list(TEMPERATURE),
        word_timestamps=True, vad_filter=options.vad_filter, condition_on_previous_text=True, hotwords=options.hotwords,
    )
    out = Decoded(language=info.language)
    words = []
    for s in segments:
        out.windows += 1
        words += [(w, (s.avg_logprob, s.no_speech_prob)) for w in (s.words or ())]
    for loop in reversed(find_loops([w.word for w, _ in words])):
        lo = max(words[loop.start][0].start - LOOP_MARGIN_S, 0.0)
        hi = min(words[loop.end - 1][0].end + LOOP_MARGIN_S, len(samples) / SAMPLE_RATE)
        again = [(_shifted(w, lo), stats) for w, stats in _careful(model, samples[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)], options, loop=True)]
        out.redecoded += 1
        out.reasons["loop"] = out.reasons.get("loop", 0) + 1
        if not find_loops([w.word for w, _ in again]):
            words = [x for x in words if x[0].end <= lo] + again + [x for x in words if x[0].start >= hi]
    _collect(out, _cut_loops(words, out), None)
    return out


def _shifted(word, offset: float):
    word.start += offset
    word.end += offset
    return word


def _cut_loops(words: list[tuple], out: Decoded) -> list[tuple]:
    """Cut every repetition loop back to ``KEEP_REPEATS`` repeats of its unit."""
    loops = find_loops([w.word for w, _ in words])
    if not loops:
        return words
    out.loops_cut += len(loops)
    drop = set()
    for loop in loops:
        if loop.end - loop.start == 1 and len(_digits(words[loop.start][0].word)) > KEEP_DIGITS:  # one token, too many digits to be a number
            token = words[loop.start][0].word
            cut = [i for i, c in enumerate(token) if c.isdigit()][KEEP_DIGITS - 1] + 1
            tail = token[len(token.rstrip(",.?!;:")):]
            words[loop.start][0].word = token[:cut] + tail
            continue
        if loop.inner:  # a run of digits this long took the branch above
            words[loop.start][0].word = cut_inner(words[loop.start][0].word, loop, KEEP_REPEATS)
            continue
        keep = KEEP_REPEATS * loop.unit
        spoken = [words[i][0].word for i in range(loop.start, loop.end) if is_spoken(words[i][0].word)]
        if all(_digits(token) for token in spoken):
            keep = KEEP_DIGITS  # a number read out, looped: keep as many digits as a card has (redaction sees them)
        elif is_spelled_run(spoken):
            keep = MAX_SPELLED_LETTERS  # different letters spelled out on and on: keep as many as a long reference has
        kept = 0
        for i in range(loop.start, loop.end):  # keep the first ``keep`` spoken words
            if kept >= keep:
                drop.add(i)
            elif is_spoken(words[i][0].word):
                kept += len(_digits(words[i][0].word)) or 1
    return [w for i, w in enumerate(words) if i not in drop]


def _digits(token: str) -> str:
    return "".join(c for c in token if c.isdigit())


def _collect(out: Decoded, words: list[tuple], ts_map) -> None:
    """Append ``words`` to ``out`` as Parley words, on the channel's clock (``ts_map`` maps the
    joined speech back; None: already there), one segment number per distinct segment stats."""
    for w, stats in words:
        text = w.word.strip()
        if not text:
            continue
        start, end = w.start, w.end
        if ts_map is not None:
            chunk = ts_map.get_chunk_index((start + end) / 2)
            start, end = ts_map.get_original_time(start, chunk), ts_map.get_original_time(end, chunk)
        if not out.segment_stats or list(out.segment_stats.values())[-1] != stats:
            out.segment_stats[len(out.segment_stats)] = stats
        out.words.append(Word(start=round(start, 3), end=round(end, 3), word=text, probability=round(w.probability, 4), segment=len(out.segment_stats) - 1))
