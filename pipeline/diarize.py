"""Who spoke when in a mono recording: speech regions, speaker embeddings, clustering.

``diarize_full(samples)`` finds speech (Silero VAD for a phone call, at 8 kHz for an 8 kHz
recording; pyannote's segmentation-3.0 for anything else, which also marks overlapped speech),
cuts it into overlapping windows, embeds each window with the speaker encoder
(``speaker_models``: resemblyzer or CAM++), clusters the windows (count from metadata, else 2 for
a phone call unless the eigengap is sure of another, else estimated from 1 to ``max_speakers``,
with a confidence; then, with no count given or expected, one more for a voice like none found
and for a speaker whose speech falls in two unlike groups) and labels every 10 ms speech frame by the windows covering it (for a
two-person call, then again by each speaker's own sound: ``resegment``; such a call also gets
other groupings, of whole stretches by voice and by sound, for its words to choose from, and so
does a room whose words read as one staff member and one customer: ``two_sided``); overlapped
stretches get a turn for the second voice (when the voices clustered as one, a second speaker's). ``assign_speakers`` then gives each word the speaker
it overlaps most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .dynamics import seconds_apart, union_seconds
from .hold import runs_of
from .records import Word
from .speaker_models import (HOP, SAMPLE_RATE, SpeakerEncoder, encoder, encoder_setting, mel_frames, on_a_telephone_line, ran_as, room_encoder,
                             segmentation, segmentation_onnx, segmentation_probs)

FRAMES_PER_S = SAMPLE_RATE // HOP
MIN_NEIGHBOURS = 6
"""Small graphs keep at least this many neighbours per window, so they stay connected."""
MAX_FIT_FRAMES = 6000
"""``fit_mixture`` fits on at most this many frames (every n-th), so a long recording costs
``resegment`` and ``sound_groupings`` little more than a call of a few minutes."""
TARGET_DBFS = -30.0
"""Speech is scaled to this level before embedding (resemblyzer's ``normalize_volume``)."""


@dataclass
class DiarizeOptions:
    """How ``diarize`` cuts, embeds and clusters. Defaults were tuned on LibriSpeech mixtures
    and the pyannote telephone sample (see ``tests/test_diarize.py``)."""

    window_s: float | None = None
    """Length of one embedding window in seconds; None: the encoder's own (``window_s`` of
    ``speaker_models.Resemblyzer``, 1.6 s, its partial utterance; of ``CamPlusPlus``, 1.4 s)."""
    hop_s: float = 0.8
    """Step between windows in seconds; smaller is finer and slower."""
    vad_threshold: float = 0.5
    """Silero speech probability above which a frame is speech."""
    min_silence_ms: int = 250
    """A pause at least this long splits a speech region."""
    speech_pad_ms: int = 60
    """Padding added around each speech region."""
    min_window_s: float = 0.4
    """Speech regions shorter than this are not embedded; they take their neighbours' label."""
    min_speakers: int = 1
    """At least this many speakers (a face-to-face recording: 2, ``speakers.min_speakers``)."""
    min_by_part: bool = True
    """No count given and none expected, ``min_speakers`` above what the voices say (the eigengap
    and the count rules): the speaker whose speech regions fall furthest apart in two groups
    (``closest_split``) gives its smaller group to one more speaker, until ``min_speakers``
    (``at_least``; the count is doubted, ``SpeakerCount.forced``; one unbroken stretch of speech
    stays as heard, doubted). False: the eigengap counts from ``min_speakers`` up, as before
    round 39, which splits one person who does most of the talking in two. Round 39, diarized as face-to-face
    (``min_speakers`` 2): AMI 0.396 -> 0.232 at 16 kHz, 0.412 -> 0.326 at 8 kHz; two-person rooms
    (rooms, roomsh; ``bench/speakers.py``) 0.101-0.162 -> 0.069-0.166; held out (roomsq, roomsn,
    roomsz, roomsy) mean 0.123 -> 0.106 (bench/SPEAKERS.md, round 39)."""
    max_speakers: int = 6
    graph_candidates: int = 8
    """How many neighbour counts (from n/10 to n/3 windows) the clustering graph tries."""
    max_cluster_windows: int = 1500
    """At most this many windows (20 min of speech at ``hop_s`` 0.8) go into the spectral
    clustering, evenly spaced over the recording; the others take the speaker whose windows'
    mean voice they are most like. Its similarity graph grows with the square of the windows
    and its eigenvectors with the cube: a 60-minute call spent 8-12 s of CPU there (16 and 8
    kHz), a 10-minute one about 0.5 s. Recordings with fewer windows are clustered whole, as
    before."""
    min_turn_s: float = 0.3
    """Turns shorter than this merge into the neighbouring turn."""
    threads: int = 1
    """Threads for the encoder while it runs, torch's or ONNX Runtime's (more starve a busy 2-core machine)."""
    max_pause_s: float = 2.0
    """A pause shorter than this between two turns of the same speaker stays inside the turn."""
    encoder: str | None = None
    """Speaker encoder (``speaker_models.encoder``): auto, resemblyzer or campplus; None: the
    ``speaker_model`` setting (auto: CAM++ for a two-person call, resemblyzer otherwise)."""
    vad: str = "auto"
    """silero (faster-whisper's, shared with transcription), silero-8k (the silero-vad package's
    model at 8 kHz), segmentation (pyannote segmentation-3.0: finds distant room speech and
    overlapped speech) or auto: Silero for an expected two-person phone call (at 8 kHz when the
    recording is 8 kHz), the segmentation model otherwise."""
    segmentation_threshold: float = 0.5
    segmentation_step_s: float = 5.0
    overlap_threshold: float = 0.5
    min_overlap_s: float = 0.3
    crosstalk_gap_s: float = 1.0
    """Where the speech detector is Silero (phone calls, and face-to-face conversations whose
    words read as two sides), the segmentation model listens for two voices at once only around
    a change of speaker with less than this between the two turns (someone cut in, or answered at
    once), 5 s either side; 0: not at all. On the whole recording it would cost 4.5 s of CPU for
    10 minutes, over half of what diarizing a call costs."""
    crosstalk_margin_s: float = 2.0
    """Where the segmentation model listens around the changes of speaker, its 10 s chunks are
    placed so that every change lies at least this far (at most a quarter of a chunk) inside one
    (``listening_starts``), not every ``segmentation_step_s``: on pyannote's real call repeated
    to 10 minutes 80 chunks instead of 120 (diarization with the listening 11.0-13.3 -> 10.0-11.6
    s of CPU), DER 0.045 -> 0.037; through the telephone band 0.124 -> 0.096 (0.123 without
    listening); the 30 s call through the band, three ways: 0.088 -> 0.049, 0.088 -> 0.100, 0.101
    -> 0.077. 0: every ``segmentation_step_s``, as before round 20."""
    background_voices: float = 0.05
    """Talk in the background (an open-plan office) is heard as a second voice too. Where the
    segmentation model listened, its mean probability of two voices at once over the speech at
    least ``background_far_s`` from every change of speaker and every stretch it heard as two
    voices is the background's level; above
    this, none of the stretches is taken (``Crosstalk.note`` says why). 40 phone calls
    (``bench/calls.py --seed 40``, 8 kHz) with office babble at 15 dB (``bench/noisy.py``): 0.026-0.159
    per call, 22 of 40 over it, and heard where nobody overlapped 88.8 -> 19.6 s; the same calls
    clean 0.004-0.037, with line hiss alone at 15 dB 0.004-0.019, babble at 25 dB 0.005-0.033:
    nothing changed. 0: always taken."""
    background_far_s: float = 1.5
    min_background_s: float = 5.0
    """Seconds of speech far from every change needed to judge the background; with less
    (every change quick and close), the stretches are taken."""
    min_speech_ms: int = 100
    room_max_pause_s: float = 1.0
    """``max_pause_s`` with the segmentation model, whose speech regions are tight (AMI: false
    alarm 4.3% of speech with 2.0 s, 1.9% with 1.0 s; LibriSpeech mixtures keep their count)."""
    unsure_count: float = 0.5
    """Below this count confidence the eigengap's runner-up is taken when it is the smaller count
    (confidence 0; the reason says which count was heard first). Doubting such counts where no
    count is expected was measured in round 46 and not taken: over the bench's sets it would have
    flagged 18 more right counts and 4 more wrong ones of 530 at 8 kHz, 32 right and 6 wrong of
    470 at 16 kHz."""
    overlap_voice: bool = True
    """With the segmentation model, no count given and none expected (not a phone call; a
    face-to-face recording heard as one voice is two already, unless its speech is one unbroken
    stretch: ``at_least``): when the voices cluster as one but the
    model hears two at once, the overlapped stretches are a second speaker's (two voices at once
    are two people; AMI: the far-field voices of a 30 s clip rarely separate by embedding, and
    the second voice of overlapped speech was lost)."""
    strong_count: float = 0.8
    """Count confidence at or above which the eigengap overrules the expected count (phone calls:
    2), for one voice or for more than two."""
    new_voice_below: float | None = None
    """No count given and none expected: a speech region of at least ``min_new_voice_s`` whose
    voice is less similar than this to every speaker found is one more speaker (0: off; None:
    the encoder's own value, resemblyzer 0.72, CAM++ off). The clustering graph folds a person
    with a few seconds of speech into someone else: held-out LibriSpeech triples with a 2 s
    speaker were counted as two. With resemblyzer, regions that fit their speaker were >= 0.74
    similar on every mixture measured, the 16 kHz and the 8 kHz ones."""
    min_new_voice_s: float = 1.0
    """Shortest speech region that ``new_voice_below`` looks at (shorter ones embed too noisily)."""
    split_below: float | None = None
    """No count given and none expected: a speaker whose speech regions fall in two groups
    (2-means of the regions' voices) less similar than this, the smaller with at least
    ``min_split_s`` of speech, is two speakers (0: off; None: the encoder's own value,
    resemblyzer 0.72, 0.75 for telephone-band recordings, CAM++ off). The clustering graph joins two people whose voices are closer
    to each other than to the rest (LibriSpeech triples counted as two)."""
    unit_pauses_ms: tuple[int, ...] = (100, 250)
    """Two-person calls (two speakers given or expected): besides the spectral clustering of
    windows, one more grouping per value here, of the stretches of speech between pauses this
    long, by their mean voices (weighted 2-means). Which grouping the words of the call agree
    with best is for the roles to decide (``speakers.choose_turns``); () for none. Two similar
    voices (two women of similar pitch at 8 kHz) are told apart better by whole stretches of
    speech than window by window, but not always."""
    min_split_s: float = 2.5
    """Speech the smaller group needs before ``split_below`` splits a speaker (groups of one or
    two short regions of one voice embed far apart by chance)."""
    folded_below: float = 0.77
    """No count given and none expected, two voices found: where one of them holds speech regions
    that fall in two groups (``closest_split``, whatever their sizes) less similar than this,
    a third person may have been folded into it, too briefly heard for ``split_below`` to split
    (a person who says 2 s twice): the count stays two, its confidence goes to at most
    ``FOLDED_CONFIDENCE`` and the recording is flagged (``SpeakerCount.maybe_more``;
    ``speakers.flag_count``). 0: off; off too where ``split_below`` is. Chosen on the tuning
    mixtures (short, shortx, librix, libri; 16 kHz: 5 of 8 counted two where three spoke
    flagged, 2 of 20 right twos), checked on held-out ones (bench/SPEAKERS.md, round 28)."""
    telephone_folded_below: float = 0.76
    """``folded_below`` for telephone-band recordings (8 kHz or less): tuning mixtures 10 of 14
    flagged, 0 of 19 right twos."""
    folded_sound: float = 0.0
    """Where ``folded_below`` doubts a count of two, the smaller group of that voice's speech
    regions is counted as a third speaker when the two groups also differ in sound by at least
    this (``sound_apart``: one diagonal Gaussian of their MFCC frames against two, BIC's gain);
    0: off. Off at 16 kHz: there the two groups of one person's voice in a two-person mixture
    sounded as far apart as a folded person's did (tuning mixtures: 308 and 470 against
    397-729), and the closest split missed the folded person in three of five (bench/SPEAKERS.md, round 36)."""
    split_joins_below: float = 300.0
    """Where ``split_below`` splits a speaker, the part split off joins another speaker found
    already (not the one it came from) instead of counting as one more, when its frames and that
    speaker's sound less than this apart (``sound_apart``, ``label_frames``' frames of each);
    0: never. One person's turns can sound unlike each other to the encoders: the new-voice
    rule makes a speaker of one of them, the split rule another of the rest. The same value as
    ``telephone_folded_sound``, not tuned: on every LibriSpeech set of both rates the parts
    wrongly counted as another person sounded 72-203 from the speaker they belonged to, and
    every rightly split part at least 577 from every other speaker (bench/SPEAKERS.md, round 36)."""
    telephone_split_own_sound: float = 375.0
    """Telephone-band recordings (8 kHz or less): where ``split_below`` would split a speaker, the
    part stays with them when its frames sound less than this apart (``sound_apart``) from the
    rest of theirs; 0: never. Chosen in round 38 on every LibriSpeech, rooms and AMI set at 8 kHz
    (84 splits): the 4 parts of one person (espeak calls read as rooms) 157-350 from the rest of
    their voice, the 80 third persons split off 403-3134. Not at 16 kHz: there the parts of one
    person were 198 and 617 apart, third persons from 166."""
    telephone_folded_sound: float = 300.0
    """``folded_sound`` for telephone-band recordings (8 kHz or less). Chosen on the tuning
    mixtures' doubted twos at 8 kHz (short8, shortx8, librix8, libri8, rooms8): the nine with a
    third person folded in 408-1361, the three without 168-226."""
    telephone_folded_far_below: float = 0.79
    """Telephone-band recordings (8 kHz or less) with no count given and none expected, two voices
    found: where one of them holds speech regions that fall in two groups (``closest_split``)
    less alike than this, and the two groups' frames sound at least
    ``telephone_folded_far_sound`` apart (``sound_apart``), the smaller group is a third speaker;
    0: off. The encoder is less sure of a third person here than under
    ``telephone_folded_below`` (0.76), so the sound must be much further apart than
    ``telephone_folded_sound`` asks. Off where ``telephone_folded_far_sound``,
    ``telephone_folded_below`` or ``split_below`` is 0, and for a speaker
    ``telephone_split_own_sound`` kept whole. Chosen in round 38 on every LibriSpeech, rooms and
    AMI set at 8 kHz (counts of two whose closest split is under 0.79 alike): a third person folded in
    1056-1753 apart (shorte8, shortz8, threew8; 882 and 683 left), one person's two groups at
    most 864 (an espeak call). Not at 16 kHz: there pyannote's real two-person call has 2.2 s of
    one person 0.67 alike and 1591 apart from the rest of their voice, and would be three
    (DER 0.13 -> 0.16), against one LibriSpeech mixture more counted right (shortv16)."""
    telephone_folded_far_sound: float = 1000.0
    """The sound ``telephone_folded_far_below`` asks of the closest split's two groups (delta BIC)."""
    change_apart: float = 400.0
    """No count given and none expected: a speech region is cut in two where its sound changes,
    at the frame where one diagonal Gaussian of its MFCC frames (``sound_frames``, standardised
    over the recording's speech) on each side gains the most over one for the whole
    (``change_gain``, delta BIC as ``sound_apart``), when that gain is at least this; each part
    again, down to ``min_change_s``. 0: off. A person who answers within a few tenths of a
    second is otherwise in the same speech region as the one before them (the segmentation
    model bridges short pauses), and their voice is heard only mixed with that one's, so the
    count rules cannot hear them. Chosen in round 37 on short16, pairv16, pairz16, libri16,
    threew16 and rooms16 (200, 300, 400, 500, 700 with 1 s, 1.5 s, 2 s, 2.5 s): with 1 s parts the
    new-voice rule made one more person of parts of one (pairv16 10 -> 3 of 10 at 200), with 2 s
    and 400 short16 23 -> 30 of 30, threew16 and rooms16 one fewer right (bench/SPEAKERS.md, round 37)."""
    min_change_s: float = 2.0
    """Speech on each side of a cut by ``change_apart``."""
    sound_joins_below: float = 500.0
    """Where the eigengap counts three or more voices with no count given or expected, the two
    whose frames sound least apart (``sound_apart``, ``label_frames``' frames of each, each with
    at least ``min_join_s`` of speech) are one speaker when that is under this, repeated while
    more than two remain; 0: never. The speaker so joined is not split again by ``split_below``
    nor doubted by ``folded_below``: the encoder heard one person's turns from different
    recordings as different voices, their sound says one. Chosen on every LibriSpeech, rooms and
    AMI set at 16 kHz (round 37: one person's voices the eigengap set apart 184-378, two people's
    at least 702). Held out, it joined two different espeak voices in one room call of 30 (424:
    a formant synthesiser's voices differ mostly in pitch, which MFCCs leave out)."""
    telephone_sound_joins_below: float = 700.0
    """``sound_joins_below`` for telephone-band recordings (8 kHz or less): one person's voices
    the eigengap set apart 37-616, two people's at least 816 (round 37); sets made after it: no
    change. Round 45's ``shortk8`` (made held out, then in view): a third person's 4 s joined to
    another voice at 246, 547 and 587 (``telephone_joins_doubted``)."""
    telephone_joins_doubted: bool = True
    """A telephone-band recording (8 kHz or less) whose count rests on a join by sound
    (``telephone_sound_joins_below``) has that count doubted (``SpeakerCount.joined``), so the
    recording is flagged for a person to check: over the LibriSpeech, rooms and AMI sets at 8 kHz
    such joins were wrong in 5 of 12 recordings (3 of them on ``shortk8``, where this was chosen),
    against 29 wrong of the other 478; held out (``shortj8``, ``pairj8``) 3 of 7. At 16 kHz the
    counts joins made were right in 5 of 5 recordings and 3 of 4 on ``shortj16``, so not there
    (round 45)."""
    min_join_s: float = 4.0
    """Speech each of two voices needs before ``sound_joins_below`` compares them: BIC's gain
    grows with the frames, and a person heard for a few seconds sounds near anyone."""
    room_campplus_weight: float = 0.4
    """No count given and none expected, under ``encoder`` auto (resemblyzer): the
    ``new_voice_below`` and ``split_below`` rules compare voices by (1 - this) x resemblyzer's
    similarity + this x CAM++'s (int8): each window is heard by resemblyzer and by CAM++ as the
    voice of the speech region it lies in (``region_heard``); the eigengap counts and the frames
    are labelled on resemblyzer's alone (0: resemblyzer only). Two 2 s turns of a third person
    were still folded into a voice like theirs (bench/SPEAKERS.md)."""
    telephone_window_campplus_weight: float = 0.4
    """A telephone-band room (a recording of 8 kHz or less, no count given or expected), with
    ``room_campplus_weight`` on: the eigengap counts and the frames are labelled on each window's
    voice by resemblyzer and by CAM++ together, (1 - this) x resemblyzer's similarity + this x
    CAM++'s, CAM++'s window voice pooled from the frame-level outputs of its region's pieces
    (``CamPlusPlus.embed_and_pool``, from the same run as the regions' voices: no second run of
    CAM++). The rules still compare ``room_campplus_weight``'s voices. Round 48 (bench/speakers.py,
    every 8 kHz set; 0.4 taken from ``room_campplus_weight``, not tuned): ``ami8`` 0.320 -> 0.302,
    counts right 523 -> 529 of 560 (the espeak rooms sets +7, shortq8, shortk8, shortj8 +1;
    librix8, short8, pairw8, pairq8 -1); CAM++'s window voices alone, without resemblyzer's (the
    lab's float32 trial), 0.264 but 523 (shortm8 28 -> 24, DER 0.082 -> 0.119). 0: resemblyzer's
    voices alone, as at 16 kHz (measured there: 529 -> 531, but librix16 and shorte16 5 fewer)."""
    room_campplus_piece_s: float = 4.8
    """``room_campplus_weight``: a region's CAM++ voice is the mean of pieces at most this long
    (CAM++ runs slower per second on long inputs: the 10-minute bench room's regions, up to 19 s,
    took 2.6 s of CPU whole and 1.9 s in pieces; the first 4.8 s of each alone, 1.35 s, counted
    worse: the tests' 16 kHz mixtures 17/20)."""
    resegment_rounds: int = 5
    """Two-person calls (two speakers given or expected): after the voices are grouped (the
    spectral clustering, and each other grouping: by voice, ``unit_pauses_ms``, and by sound,
    ``sound_components``), every speech frame is given
    again to the speaker whose own sound fits it best (``resegment``), this many times at most;
    0: off. Within one call the two people's sound (MFCCs) tells them apart where the speaker
    encoder's voices are too alike: two men or two women at 8 kHz."""
    resegment_components: int = 32
    """Gaussians in each speaker's model of their sound (chosen on seeds 3 and 4 of the 8 kHz
    mono calls: 8, 16, 32, 64 gave 90.7%, 95.3%, 96.1%, 94.7% of speech time in the right role, the
    two sets together; bench/SPEAKERS.md, "Round 5")."""
    resegment_smooth_s: float = 0.41
    """Each frame is judged on the sound around it: the models' scores are averaged over this
    long before the best is taken."""
    resegment_iterations: int = 30
    """EM iterations at most for each speaker's model in each round of ``resegment`` (each round
    starts each model afresh). 10 was tried for speed (the other groupings of a 10-minute call
    2.7 -> 1.9 s): the same on six 8 kHz sets of 40 mono calls (98.06% of speech time in the right
    role against 98.10%), but 0.5 points lower on both 16 kHz sets (seed 7 98.7% -> 98.2%, seed 12
    98.6% -> 98.1%, easy calls 1-4 points down), so not taken. Starting each round from the last
    round's models was worse still (seed 9 98.5% -> 97.0%, seed 11 93.5% -> 91.7%)."""
    sound_components: int = 32
    """Two-person calls: one more grouping per ``unit_pauses_ms`` value, of the stretches of speech
    (``min_stretch_s`` or longer) by their sound (``sound_groupings``), with a model of the call's
    speech of this many Gaussians; 0: none. Two voices of the same pitch that the speaker encoder
    does not separate still group apart by sound."""
    sound_relevance: float = 16.0
    """How many frames' worth the call's model weighs against a stretch's own frames when the
    stretch's sound is described (MAP adaptation's relevance factor)."""
    min_stretch_s: float = 0.5
    """Shortest stretch that ``sound_groupings`` describes (shorter ones take a speaker when the
    grouping is resegmented)."""


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of speech by one speaker; times in seconds from the start."""

    start: float
    end: float
    speaker: str


def speech_regions(samples: np.ndarray, options: DiarizeOptions) -> list[tuple[int, int]]:
    """Speech regions as (start, end) mel-frame indexes, from faster-whisper's Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
    )
    return [(s["start"] // HOP, s["end"] // HOP) for s in get_speech_timestamps(samples, vad)]


def speech_frames(samples: np.ndarray, telephone: bool, options: DiarizeOptions | None = None) -> np.ndarray:
    """Which 10 ms frames of ``samples`` (16 kHz) are speech, unpadded, so a pause is as long as
    the sound's: Silero run at 8 kHz on a telephone recording (``telephone_activity``), else
    faster-whisper's Silero with no padding and pauses of 100 ms or more kept."""
    options = options or DiarizeOptions()
    if telephone:
        return telephone_activity(samples, options)
    active = np.zeros(len(samples) // HOP + 1, dtype=bool)
    for a, b in speech_regions(samples, replace(options, min_silence_ms=100, speech_pad_ms=0)):
        active[a:b] = True
    return active


def speech_seconds(samples: np.ndarray, options: DiarizeOptions | None = None) -> float:
    """Seconds of speech the VAD finds in ``samples``."""
    return sum(b - a for a, b in speech_regions(samples, options or DiarizeOptions())) / FRAMES_PER_S


def normalise_level(samples: np.ndarray, regions: list[tuple[int, int]]) -> np.ndarray:
    """Scale so that the speech (not the silence) sits at ``TARGET_DBFS``."""
    speech = np.concatenate([samples[a * HOP : b * HOP] for a, b in regions]) if regions else samples
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) if len(speech) else 0.0
    if rms <= 1e-6:
        return samples
    return samples * (10 ** (TARGET_DBFS / 20) / rms)


def windows(regions: list[tuple[int, int]], options: DiarizeOptions, model: SpeakerEncoder) -> list[tuple[int, int]]:
    """Embedding windows (start, end frame) covering every region long enough to embed, as long
    as ``options.window_s`` or, where that is None, the encoder ``model``'s own."""
    size = round((options.window_s or model.window_s) * FRAMES_PER_S)
    hop = max(1, round(options.hop_s * FRAMES_PER_S))
    minimum = round(options.min_window_s * FRAMES_PER_S)
    out: list[tuple[int, int]] = []
    for start, end in regions:
        if end - start < minimum:
            continue
        if end - start <= size:
            out.append((start, end))
            continue
        starts = list(range(start, end - size + 1, hop))
        if starts[-1] + size < end:
            starts.append(end - size)
        out.extend((s, s + size) for s in starts)
    return out


def embed_spans(samples: np.ndarray, spans_s: list[tuple[float, float]] | None = None,
                options: DiarizeOptions | None = None) -> np.ndarray | None:
    """One voice embedding (L2-normalised mean of window embeddings) for the speech inside
    ``spans_s`` (seconds; default: all speech). None when there is too little speech."""
    options = options or DiarizeOptions()
    regions = speech_regions(samples, options)
    if spans_s is not None:
        regions = clip_regions(regions, [(round(a * FRAMES_PER_S), round(b * FRAMES_PER_S)) for a, b in spans_s])
    model = encoder(options.encoder)
    spans = windows(regions, options, model)
    if not spans:
        return None
    mean = model.embed(model.features(normalise_level(samples, regions)), spans, options.threads).mean(axis=0)
    return mean / np.linalg.norm(mean)


def clip_regions(regions: list[tuple[int, int]], keep: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``regions`` that lie inside ``keep`` (both lists of frame ranges)."""
    out = []
    for a, b in regions:
        for c, d in keep:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def spectrum(sim: np.ndarray, order: np.ndarray, n_keep: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest eigenvalues and eigenvectors of the normalised Laplacian of the similarity graph
    in which every window keeps its ``n_keep`` most similar windows (``order``: each row's
    windows from most to least similar), made symmetric."""
    from scipy.linalg import eigh

    mask = np.zeros_like(sim, dtype=bool)
    np.put_along_axis(mask, order[:, :n_keep], True, axis=1)
    graph = np.where(mask | mask.T, sim, 0.0).astype(np.float32)
    np.fill_diagonal(graph, 0.0)
    scale = 1.0 / np.sqrt(graph.sum(axis=1) + 1e-9)
    laplacian = np.eye(len(graph), dtype=np.float32) - scale[:, None] * graph * scale[None, :]
    return eigh(laplacian, subset_by_index=[0, min(n_values, len(sim)) - 1])


@dataclass(frozen=True)
class SpeakerCount:
    """How many speakers diarization settled on, how sure it is and why."""

    n: int
    confidence: float
    reason: str
    maybe_more: bool = False
    """Perhaps more people than ``n``: one voice's speech falls in two groups too unlike to be
    surely one person (``DiarizeOptions.folded_below``); a person should check the count."""
    forced: bool = False
    """The metadata's minimum made this count, not the voices (``at_least``: a face-to-face
    recording heard as one voice, the speech least like the rest taken as the second person);
    a person should check the turns, which may mix the two."""
    joined: bool = False
    """A telephone-band count that rests on voices joined by their sound alone (``joined_by_sound``;
    ``DiarizeOptions.telephone_joins_doubted``): two people may have been made one, or one
    person's voices left as two; a person should check the count."""

    def more_than_two_unsurely(self, strong: float) -> bool:
        """Three or more voices heard, without the confidence ``strong`` (``DiarizeOptions.strong_count``)
        that would make them sure: in a conversation whose words read as two people, the turns may
        split or mix them (``speakers.flag_count``; ``diarize_full(two_sided=True)``)."""
        return self.n > 2 and self.confidence < strong


def cluster(vectors: np.ndarray, n_speakers: int | None, options: DiarizeOptions) -> np.ndarray:
    """Cluster labels 0..k-1 per embedding (see ``cluster_count``)."""
    return cluster_count(vectors, n_speakers, options)[0]


def cluster_count(
    vectors: np.ndarray, n_speakers: int | None, options: DiarizeOptions, expected: int | None = None
) -> tuple[np.ndarray, SpeakerCount]:
    """Cluster labels 0..k-1 per embedding by spectral clustering with an auto-tuned graph
    (NME-SC, Park et al. 2019): among candidate neighbour counts, the graph whose largest
    eigengap is widest for its density wins; k is that eigengap's position unless given.

    ``expected`` (a phone call: 2) is the count unless the evidence is strong: another count only
    when the eigengap says so with confidence >= ``strong_count``. The eigengap's confidence is
    1 - (next widest gap / widest). The expected count's confidence: the eigengap's where it
    agrees (0.5 at least), 1 minus it where it heard another count, and 0.5 where it was unsure of
    the count it heard first and took the smaller (``unsure_count``): until round 51 such a call
    showed 1.0 whenever the smaller count was not the one expected: sure of it where the eigengap
    had been sure of no count (bench/SPEAKERS.md, round 51).

    More than ``max_cluster_windows`` windows: those evenly spaced are clustered, and every other
    window takes the speaker whose clustered windows' mean voice (``unit_centroids``) it is most
    like; the count's reason says so."""
    n = len(vectors)
    limit = options.max_cluster_windows
    if limit and n > limit:
        chosen = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
        some, count = _cluster_all(vectors[chosen], n_speakers, options, expected)
        labels = np.argmax(vectors @ unit_centroids(vectors[chosen], some).T, axis=1)
        labels[chosen] = some  # the clustered windows keep their own: no speaker is left empty
        return labels, replace(count, reason=f"{count.reason}; {len(chosen)} of {n} windows clustered, the rest by likeness")
    return _cluster_all(vectors, n_speakers, options, expected)


def _cluster_all(
    vectors: np.ndarray, n_speakers: int | None, options: DiarizeOptions, expected: int | None
) -> tuple[np.ndarray, SpeakerCount]:
    """``cluster_count`` on every window."""
    n = len(vectors)
    if n < 3:
        return np.zeros(n, dtype=int), SpeakerCount(1 if n else 0, 0.0, f"{n} embedding windows: too little speech to count")
    sim = np.clip(vectors @ vectors.T, 0.0, 1.0)
    order = np.argsort(-sim, axis=1)
    lowest = min(n - 1, max(MIN_NEIGHBOURS, n // 10))
    candidates = np.unique(np.linspace(lowest, max(lowest, n // 3), options.graph_candidates).round().astype(int))
    top = min(options.max_speakers, n - 1)
    best: tuple[float, int, np.ndarray, float] | None = None
    for n_keep in candidates:
        values, vecs = spectrum(sim, order, int(n_keep), top + 1)
        gaps = np.diff(values)[options.min_speakers - 1 :]
        k = int(np.argmax(gaps)) + options.min_speakers
        ratio = n_keep / max(float(gaps.max()), 1e-9)
        ranked = np.argsort(-gaps)
        runner_up = float(gaps[ranked[1]]) if len(gaps) > 1 else 0.0
        second_k = int(ranked[1]) + options.min_speakers if len(gaps) > 1 else k
        if best is None or ratio < best[0]:
            best = (ratio, k, vecs, 1.0 - runner_up / max(float(gaps.max()), 1e-9), second_k)
    _, k_auto, vecs, certainty, second_k = best
    first = ""  # the reason says when the eigengap heard a larger count first
    if certainty < options.unsure_count and second_k < k_auto:  # unsure: the smaller of the two counts
        first = f"{k_auto} heard first, unsurely: confidence {certainty:.2f}; the smaller count taken"
        k_auto, certainty = second_k, 0.0

    def split(k: int) -> np.ndarray:
        if k <= 1:
            return np.zeros(n, dtype=int)
        points = vecs[:, :k] / np.maximum(np.linalg.norm(vecs[:, :k], axis=1, keepdims=True), 1e-9)
        return kmeans(points, k)

    if n_speakers:
        k = min(n_speakers, n, vecs.shape[1])
        return split(k), SpeakerCount(k, 1.0, f"{n_speakers} speakers given in the metadata")
    if expected is None:
        return split(k_auto), SpeakerCount(k_auto, round(certainty, 3), f"{k_auto} by the eigengap" + (f" ({first})" if first else ""))
    if k_auto != expected and certainty >= options.strong_count:
        why = "one voice" if k_auto == 1 else f"{k_auto} voices"
        return split(k_auto), SpeakerCount(
            k_auto, round(certainty, 3),
            f"{why} by the eigengap (confidence {certainty:.2f}), not the {expected} expected")
    agrees = k_auto == expected
    # an eigengap unsure of the count it heard first, and so of the smaller one it took instead,
    # neither confirms nor denies the count expected: 0.5 (not 1 - 0 where it took another count)
    confidence = 0.5 if first else max(certainty, 0.5) if agrees else 1.0 - certainty
    return split(expected), SpeakerCount(
        expected, round(confidence, 3),
        f"{expected} expected{' (two people, as in a call)' if expected == 2 else ''}; the eigengap says {k_auto} (confidence {certainty:.2f}"
        + (f"; {first})" if first else ")"))


@dataclass
class Diarization:
    """Who spoke when, and how it was decided."""

    turns: list[SpeakerTurn]
    count: SpeakerCount
    encoder: str
    encoder_version: str
    vad: str
    overlap_s: float = 0.0
    """Seconds in which two speakers were found talking at once (``crosstalk``)."""
    crosstalk: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) seconds of the stretches heard as two voices at once: the transcript holds
    at most one of them there (``voices_at_once`` gives the other its turns)."""
    overlap_note: str = ""
    """Why no stretch was taken where the segmentation model listened (``Crosstalk.note``)."""
    alternatives: list[tuple[str, list[SpeakerTurn]]] = field(default_factory=list)
    """Other two-speaker turns for a two-person call, each with what made it; ``turns`` are the
    spectral clustering's. ``offered()`` adds those that ``more`` makes."""
    more: Callable[[], list[tuple[str, list[SpeakerTurn]]]] | None = field(default=None, repr=False, compare=False)
    """Makes the groupings of whole stretches by voice (``unit_pauses_ms``) and by sound
    (``sound_components``), and for a two-person call heard as one voice (or a room whose words
    read as two people heard as three or more, unsurely) first two voices forced apart (from
    which those are made; a room heard as two: its turns resegmented), when first asked: they
    cost more than the diarization itself, and only a call whose words do not already agree with
    ``turns`` needs them (``speakers.choose_turns``)."""

    windows: list[tuple[int, int]] = field(default_factory=list, repr=False, compare=False)
    """The embedding windows (start, end: 10 ms frames) whose voices were clustered."""
    voices: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Their voice vectors (unit length), one row per window, as the eigengap heard them: the
    clustering encoder's, or in a room of 8 kHz or less resemblyzer's joined with CAM++'s
    (``telephone_window_campplus_weight``: 448 values); what ``speakers.voice_margins`` weighs
    each utterance against its speaker by."""

    def heard_turns(self) -> list[SpeakerTurn]:
        """``turns`` and, where two voices were heard at once, turns for the one they leave out
        (``voices_at_once``): what ``speaker_turns`` stores and ``parley eval diarization`` scores.
        Words are given to speakers by ``turns`` alone."""
        return sorted(self.turns + voices_at_once(self.turns, self.crosstalk), key=lambda t: (t.start, t.end))

    def offered(self) -> list[tuple[str, list[SpeakerTurn]]]:
        """``alternatives`` and, made once, those of ``more``."""
        if self.more is not None:
            self.alternatives = self.alternatives + self.more()
            self.more = None
        return self.alternatives


def diarize(
    samples: np.ndarray, *, n_speakers: int | None = None, options: DiarizeOptions | None = None,
    expected: int | None = None,
) -> list[SpeakerTurn]:
    """Speaker turns of a 16 kHz mono recording; speakers named S1, S2, ... by first appearance."""
    return diarize_full(samples, n_speakers=n_speakers, options=options, expected=expected).turns


def diarize_full(
    samples: np.ndarray, *, n_speakers: int | None = None, options: DiarizeOptions | None = None,
    expected: int | None = None, source_rate: int = 16000, two_sided: bool = False,
) -> Diarization:
    """Speaker turns with the count's confidence. ``n_speakers``: known count (metadata);
    ``expected``: the likely count (2 for a phone call, and for a face-to-face conversation whose
    words read as two sides: ``speakers.face_to_face_pair``), kept unless the voices say otherwise.
    ``source_rate``: the recording's own sample rate (8000: telephone-band speech detection).
    ``two_sided``: the words read as one staff member and one customer (``roles.call_shape``):
    a recording with no count given or expected (a channel other than phone or face-to-face)
    heard as two or more voices is then offered two-voice groupings for the words to accept, as a
    call is.
    Turns of two speakers overlap where the segmentation model hears both at once.
    Sets BLAS to one thread for the whole process (``models.same_numbers_everywhere``), as
    transcription does: the same turns in every process."""
    from .models import same_numbers_everywhere

    same_numbers_everywhere()
    options = options or DiarizeOptions()
    # CAM++ under ``auto`` for two people expected (a phone call; a face-to-face conversation whose
    # words read as two sides), not for a room whose metadata says two, nor for a phone call whose
    # metadata says three or more
    chosen = encoder_setting(options.encoder)  # the setting, read once for both encoders
    model = encoder(chosen, two_person=expected == 2 and n_speakers in (None, 0, 2))
    telephone = on_a_telephone_line(source_rate)  # telephone-band audio: its own speech detector and count rules
    vad = options.vad
    if vad == "auto":
        vad = ("silero-8k" if telephone else "silero") if expected == 2 else "segmentation"
    active, overlap = speech_activity(samples, options, vad)
    regions = regions_of(samples, active, options)
    if not regions:
        return Diarization([], SpeakerCount(0, 1.0, "no speech found"), model.name, model.version, vad)
    sound: list[np.ndarray] = []

    def sound_of() -> np.ndarray:  # the recording's MFCCs, made once when first asked for
        if not sound:
            sound.append(sound_frames(samples, max(b for _, b in regions), source_rate))
        return sound[0]

    estimated = not n_speakers and expected is None  # the count is for the voices to say
    if estimated and options.change_apart > 0:
        regions = cut_at_changes(regions, sound_of(), options.change_apart, options.min_change_s)
    spans = windows(regions, options, model)
    level = normalise_level(samples, regions)
    vectors = model.embed(model.features(level), spans, options.threads)
    second = room_encoder(chosen) if estimated and options.room_campplus_weight > 0 else None
    name, version = model.name, ran_as(model, options.threads, embedded=bool(spans))
    rule_voices = vectors  # what the count rules compare; the eigengap counts and the frames are labelled by ``vectors``
    if second is not None:  # the rules hear the voices by both encoders (telephone band: the eigengap too)
        by_window = telephone and options.telephone_window_campplus_weight > 0
        by_region, own = region_heard(second, second.features(level), regions, spans, options, by_window)
        rule_voices = joined_voices(vectors, by_region, options.room_campplus_weight)
        if own is not None:
            vectors = joined_voices(vectors, own, options.telephone_window_campplus_weight)
        name, version = f"{model.name}+{second.name}", f"{version}+{ran_as(second, options.threads, embedded=bool(spans))}"
    by_part = estimated and options.min_by_part and options.min_speakers > 1
    # the voices say how many first; a minimum above that is met afterwards, by parts (``at_least``)
    labels, count = cluster_count(vectors, n_speakers, replace(options, min_speakers=1) if by_part else options, expected)
    joins = options.telephone_sound_joins_below if telephone else options.sound_joins_below
    kept = np.zeros(len(labels), dtype=bool)  # windows of a voice the sound joined: not split again
    if estimated and joins > 0 and count.n >= 3:
        labels, count, kept = joined_by_sound(sound_of(), regions, spans, vectors, labels, count, joins, options.min_join_s)
    new_voice = model.new_voice_below if options.new_voice_below is None else options.new_voice_below
    if estimated and new_voice > 0:
        labels, count = unexplained_voice(regions, spans, rule_voices, labels, count, new_voice, options)
    split_below = options.split_below
    if split_below is None:
        split_below = model.telephone_split_below if telephone else model.split_below
    whole = np.zeros(len(labels), dtype=bool)  # windows of a speaker whose part sounded like the rest: not split by sound
    if estimated and split_below > 0:
        own_sound = options.telephone_split_own_sound if telephone else 0.0
        labels, count, whole = split_joined(regions, spans, rule_voices, labels, count, split_below, options,
                                            sound=sound_of if options.split_joins_below > 0 or own_sound > 0 else None,
                                            kept=kept, own_sound=own_sound)
    if by_part and count.n < options.min_speakers:  # before the doubt: a part split off may still hold a third person
        labels, count = at_least(regions, spans, rule_voices, labels, count, options.min_speakers)
    folded = options.telephone_folded_below if telephone else options.folded_below
    if estimated and split_below > 0 and folded > 0 and count.n == 2:
        split = closest_split(regions, spans, rule_voices, labels, options.min_new_voice_s, kept)
        doubted = perhaps_folded(split, count, folded)  # doubted still where the sound kept the speaker whole
        by_sound = options.telephone_folded_sound if telephone else options.folded_sound
        far = options.telephone_folded_far_below if telephone and options.telephone_folded_far_sound > 0 else 0.0
        sound_may_split = split is not None and not holds(whole, labels, split.speaker)
        before = count
        if doubted.maybe_more and by_sound > 0 and sound_may_split:
            labels, count = folded_by_sound(sound_of(), split, regions, spans, rule_voices, labels, before, doubted, by_sound)
        elif far > 0 and sound_may_split and split.similarity < far:
            # a split the encoder heard a little alike, far apart in sound: a third person all the same
            labels, count = folded_by_sound(sound_of(), split, regions, spans, rule_voices, labels, before, doubted,
                                            options.telephone_folded_far_sound)
        else:
            count = doubted
    if estimated and kept.any() and telephone and options.telephone_joins_doubted:
        count = replace(count, joined=True)  # after every rule: the count they left rests on the join
    frame_labels = label_frames(regions, spans, vectors, labels)
    two_person = count.n == 2 and 2 in (n_speakers, expected)
    # a two-person call whose voices the eigengap heard as one: two voices forced apart, and the
    # other groupings made from them, are offered for the words to accept (speakers.choose_turns)
    heard_one = count.n == 1 and expected == 2 and not n_speakers and len(vectors) >= 3
    # a room whose words read as one staff member and one customer: its voices grouped into two
    # (forced apart where more were heard), resegmented, and the stretch groupings made from them
    # (three or more only when not heard surely: three sure voices keep three)
    as_two = (two_sided and estimated and len(vectors) >= 3
              and (count.n == 2 or count.more_than_two_unsurely(options.strong_count)))

    # The other groupings often start from labels that were refined already, or meet on the way
    # (the same frames to model): each result is kept for this recording and reused, exactly
    refined: dict[bytes, np.ndarray] = {}
    fitted: dict = {}

    def refine(labelled: np.ndarray) -> np.ndarray:  # only two-person calls' groupings come here
        if options.resegment_rounds <= 0:  # resegment would do nothing: do not compute the sound
            return labelled
        key = _digest(labelled)
        if key not in refined:
            refined[key] = resegment(sound_of(), labelled, options, fitted)
        return refined[key].copy()

    if two_person:
        frame_labels = refine(frame_labels)
    if vad == "segmentation":  # its speech regions are tight: bridge only short pauses
        options = replace(options, max_pause_s=min(options.max_pause_s, options.room_max_pause_s))
    turns = turns_from_frames(frame_labels, options)
    extra: list[SpeakerTurn] = []
    both = overlap[: len(frame_labels)] & (frame_labels >= 0) if overlap is not None else None
    if both is not None:
        crosstalk, overlap_note = overlap_stretches(both, options), ""
    else:
        crosstalk, overlap_note = crosstalk_near_changes(samples, turns, options)
    if both is not None and count.n > 1:
        extra = second_speakers(turns, both, options)
    elif both is not None and count.n == 1 and options.overlap_voice and not n_speakers and expected is None:
        extra = [SpeakerTurn(a, b, "S2") for a, b in crosstalk]
    if extra and count.n == 1:  # as sure of two as the eigengap was of one
        heard = sum(t.end - t.start for t in extra)
        count = SpeakerCount(2, count.confidence, f"{count.reason}; a second voice over it for {heard:.1f} s")
    overlap_s = sum(b - a for a, b in crosstalk)
    turns = sorted(turns + extra, key=lambda t: (t.start, t.end))
    more = None
    # (a room's overlapped stretches, turns of a second voice, are not in its groupings into two)
    if ((two_person or heard_one) and not extra) or as_two:
        @lru_cache(maxsize=None)  # both kinds of grouping ask for each pause length
        def stretches(pause_ms: int) -> list[tuple[int, int]]:
            if pause_ms == options.min_silence_ms:
                return regions
            return regions_of(samples, active, replace(options, min_silence_ms=pause_ms))

        def more() -> list[tuple[str, list[SpeakerTurn]]]:
            base, base_frames, made = turns, frame_labels, []
            if heard_one or (as_two and count.n > 2):
                base_frames = refine(label_frames(regions, spans, vectors, cluster_count(vectors, 2, options)[0]))
                base = turns_from_frames(base_frames, options)
                made = [("two voices forced apart where the voices sounded like one" if heard_one else
                         f"two voices forced apart where {count.n} were heard", base)]
            elif as_two:  # two voices in a room: their turns resegmented by each one's own sound
                base_frames = refine(frame_labels)
                base = turns_from_frames(base_frames, options)
                made = [("the two voices resegmented by their own sound", base)] if base != turns else []
            made += unit_groupings(stretches, regions, spans, vectors, base, options, refine)
            if options.sound_components > 0 and options.resegment_rounds > 0:
                made += sound_groupings(stretches, sound_of(), base_frames, [base] + [t for _, t in made], options, refine)
            return made

    return Diarization(turns, count, name, version, vad, round(overlap_s, 2), crosstalk=crosstalk, overlap_note=overlap_note, more=more,
                       windows=spans, voices=vectors)


def region_heard(
    model, features: np.ndarray, regions: list[tuple[int, int]], spans: list[tuple[int, int]], options: DiarizeOptions,
    own: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One embedding per window of ``spans``: the voice of the speech region its centre lies in,
    by ``model`` (its ``features``): each region embedded in equal pieces of at most
    ``room_campplus_piece_s``, the pieces' mean weighted by length. A region, not a window:
    a short turn is heard whole, and each second is embedded once instead of twice. With
    ``own`` (a model with ``embed_and_pool``: CAM++), also each window's own voice, pooled from
    the pieces' frame-level outputs of the same run; else None."""
    longest = max(1, round(options.room_campplus_piece_s * FRAMES_PER_S))
    pieces, owner = [], []
    for r, (a, b) in enumerate(regions):
        b = min(b, len(features))
        edges = np.linspace(a, b, max(1, -(-(b - a) // longest)) + 1).round().astype(int)
        for x, y in zip(edges[:-1], edges[1:]):
            if y > x:
                pieces.append((int(x), int(y)))
                owner.append(r)
    own_voices = None
    if own:
        heard, own_voices = model.embed_and_pool(features, pieces, spans, options.threads)
    else:
        heard = model.embed(features, pieces, options.threads)
    voices = np.zeros((len(regions), heard.shape[1]))
    np.add.at(voices, owner, heard * np.array([y - x for x, y in pieces], dtype=float)[:, None])
    voices /= np.maximum(np.linalg.norm(voices, axis=1, keepdims=True), 1e-9)
    centres = np.array([(a + b) / 2 for a, b in spans])
    inside = np.searchsorted(np.array([a for a, _ in regions]), centres, side="right") - 1
    return voices[np.clip(inside, 0, len(regions) - 1)], own_voices


def joined_voices(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Each window's two embeddings (rows of ``first`` and ``second``), L2-normalised and joined
    so that the dot product of two rows is (1 - ``weight``) x the first's similarity + ``weight``
    x the second's (and a row's length is 1)."""
    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    return np.concatenate([unit(first) * np.sqrt(1.0 - weight), unit(second) * np.sqrt(weight)], axis=1)


def sound_frames(samples: np.ndarray, n_frames: int, source_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The sound of each 10 ms frame as ``resegment`` models it: 19 MFCCs (24 mel bands up to
    the recording's own band, energy left out), ``n_frames`` rows. The numbers of
    ``librosa.feature.mfcc`` (centred 512-point Hann frames, power in dB floored 80 dB under the
    loudest, orthonormal DCT; the same to 1e-4), from ``speaker_models.mel_frames`` without
    librosa: a 10-minute recording 0.13 s of wall time against librosa's 0.25 s, whose first call
    in a process took 2.6 s (its loading)."""
    from scipy.fft import dct

    power = mel_frames(samples, 512, 24, min(source_rate or SAMPLE_RATE, SAMPLE_RATE) / 2 - 200)
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    mfcc = dct(db, type=2, axis=1, norm="ortho")[:, 1:20]
    if len(mfcc) < n_frames:
        mfcc = np.concatenate([mfcc, np.repeat(mfcc[-1:], n_frames - len(mfcc), axis=0)])
    return mfcc[:n_frames]


def standardised(sound: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """``sound`` with each coefficient at mean 0 and spread 1 over the ``speech`` frames."""
    return (sound - sound[speech].mean(axis=0)) / (sound[speech].std(axis=0) + 1e-6)


def _digest(array: np.ndarray) -> bytes:
    """A key for an array's shape, type and values."""
    import hashlib

    digest = hashlib.blake2b(repr((array.shape, array.dtype.str)).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def one_thread():
    """OpenMP at one thread while sklearn fits (k-means, and the Gaussian mixtures it seeds):
    k-means sums in another order with another thread count, and the calling thread's count was
    whatever ran before (``torch.set_num_threads``, which the segmentation model's run sets): a
    10-minute call's resegmented turns differed between the first diarization in a process and
    the next. OpenMP's count is the calling thread's own, so other threads are not touched.
    (BLAS, one count for the whole process, is set by ``models.same_numbers_everywhere``, which
    ``diarize_full`` calls.) The thread pools are found once per process (``_thread_pools``), as
    scikit-learn finds its own: looking them up each time cost 2-3 ms a fit, about 0.1 s of a
    10-minute call's groupings."""
    return _thread_pools().limit(limits=1, user_api="openmp")


@lru_cache(maxsize=1)
def _thread_pools():
    """threadpoolctl's view of the process's thread pools, made after scikit-learn's OpenMP
    runtime is loaded (its k-means is what ``one_thread`` limits)."""
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def kmeans(points: np.ndarray, k: int, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Labels of sklearn's k-means (10 starts, seeded), at one thread (``one_thread``)."""
    from sklearn.cluster import KMeans

    with one_thread():
        return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(points, sample_weight=sample_weight)


def fit_mixture(frames: np.ndarray, components: int, max_iter: int, fitted: dict | None = None):
    """A diagonal Gaussian mixture of ``frames`` (every n-th, at most ``MAX_FIT_FRAMES``),
    seeded for the same result every time (``mixture.DiagonalMixture``: scikit-learn's
    ``GaussianMixture``, the same numbers in under half the time; the iterations are capped on
    purpose, and a fit that stops at the cap is not warned about). ``fitted``: models already fitted, by what they were
    fitted on (the same frames give the same model, so it is reused)."""
    from .mixture import DiagonalMixture

    frames = frames[:: -(-len(frames) // MAX_FIT_FRAMES)]
    key = (_digest(frames), components, max_iter) if fitted is not None else None
    if key is not None and key in fitted:
        return fitted[key]
    with one_thread():  # (its k-means start)
        model = DiagonalMixture(components, max_iter=max_iter, reg_covar=1e-3).fit(frames)
    if key is not None:
        fitted[key] = model
    return model


def resegment(sound: np.ndarray, frame_labels: np.ndarray, options: DiarizeOptions, fitted: dict | None = None) -> np.ndarray:
    """Speech frames given again to the speaker whose own sound fits them best: a Gaussian
    mixture (``resegment_components``, diagonal) of each speaker's frames of ``sound``
    (``sound_frames``, normalised over the speech), fitted on the frames that speaker has,
    scores every speech frame; the scores averaged over ``resegment_smooth_s`` choose the
    speaker; repeated until nothing changes or ``resegment_rounds``. The speaker encoder judges a
    1.6 s window against voices learnt from many people; these models know only this
    recording's people, so they keep apart voices the encoder finds alike. Frames with no
    speech (-1) stay as they are; speech whose speaker is not known yet (-2) is given one in the
    first round; a speaker with under 2 s of frames stops it. ``fitted``: as for ``fit_mixture``,
    models kept between calls on the same ``sound``."""
    from scipy.ndimage import uniform_filter1d

    speech = np.flatnonzero(frame_labels != -1)
    if options.resegment_rounds <= 0 or not len(speech) or frame_labels.max() < 0:
        return frame_labels
    x = standardised(sound, speech)[speech]
    labels = frame_labels[speech]
    k = int(labels.max()) + 1
    smooth = max(1, round(options.resegment_smooth_s * FRAMES_PER_S))
    for _ in range(options.resegment_rounds):
        if min(int(np.sum(labels == j)) for j in range(k)) < 2 * FRAMES_PER_S:
            break
        scores = np.empty((len(x), k))
        for j in range(k):
            scores[:, j] = fit_mixture(x[labels == j], options.resegment_components,
                                       max_iter=options.resegment_iterations, fitted=fitted).score_samples(x)
        new = np.argmax(uniform_filter1d(scores, size=smooth, axis=0, mode="nearest"), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    out = frame_labels.copy()
    out[speech] = labels
    return out


def sound_groupings(
    stretches, sound: np.ndarray, frame_labels: np.ndarray, seen: list[list[SpeakerTurn]], options: DiarizeOptions,
    refine,
) -> list[tuple[str, list[SpeakerTurn]]]:
    """Two-speaker turns from grouping the stretches of speech between pauses of each
    ``unit_pauses_ms`` (``stretches(pause_ms)``, frame ranges) by their sound: a Gaussian
    mixture of the whole call's speech (``sound_components``, over ``sound`` normalised as in
    ``resegment``) is adapted to each stretch of ``min_stretch_s`` or more (MAP, means only,
    ``sound_relevance``); a stretch is described by how far it moved each Gaussian, scaled by
    the Gaussian's weight and spread (a GMM supervector), centred over the call and of length 1;
    2-means weighted by length groups them, and ``refine`` (``resegment``) then gives every
    speech frame a speaker. The call's own model absorbs much of what the words make every
    stretch sound like, so what is left is more the speaker's. Turns in ``seen`` or made
    already are left out."""
    speech = np.flatnonzero(frame_labels >= 0)
    x = standardised(sound, speech)
    shortest = round(options.min_stretch_s * FRAMES_PER_S)
    model = fit_mixture(x[speech], options.sound_components, max_iter=50)
    scale = np.sqrt(model.weights_)[:, None] / np.sqrt(model.covariances_)
    seen = list(seen)
    out: list[tuple[str, list[SpeakerTurn]]] = []
    for pause_ms in options.unit_pauses_ms:
        kept = [(a, min(b, len(x))) for a, b in stretches(pause_ms) if min(b, len(x)) - a >= shortest]
        if len(kept) < 4:
            continue
        described = []
        for a, b in kept:
            weights = model.predict_proba(x[a:b])
            counts = weights.sum(axis=0)
            means = (weights.T @ x[a:b] + options.sound_relevance * model.means_) / (counts + options.sound_relevance)[:, None]
            described.append(((means - model.means_) * scale).ravel())
        described = np.array(described)
        described -= described.mean(axis=0)
        described /= np.linalg.norm(described, axis=1, keepdims=True) + 1e-9
        groups = kmeans(described, 2, np.array([float(b - a) for a, b in kept]))
        if groups.min() == groups.max():
            continue
        labelled = np.where(frame_labels >= 0, -2, -1)
        for (a, b), g in zip(kept, groups):
            labelled[a:b] = np.where(frame_labels[a:b] >= 0, g, -1)
        labelled = refine(labelled)
        if (labelled == -2).any():  # a group too small to model: no grouping
            continue
        made = turns_from_frames(labelled, options)
        if made in seen:
            continue
        seen.append(made)
        out.append((f"stretches of speech between pauses of {pause_ms} ms grouped by their sound", made))
    return out


def unit_groupings(
    stretches, regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray,
    turns: list[SpeakerTurn], options: DiarizeOptions, refine=None,
) -> list[tuple[str, list[SpeakerTurn]]]:
    """Two-speaker turns from grouping the stretches of speech between pauses of each
    ``unit_pauses_ms`` (``stretches(pause_ms)`` gives them, as frame ranges) by their mean
    voices (2-means weighted by length): each window takes the group of the stretch its centre
    lies in (the nearer group's mean voice when none), and frames are labelled from those groups'
    voices as for the spectral clustering, then by ``refine`` (``resegment``) when given. Turns
    equal to ``turns`` or to a grouping already made are left out."""
    centres = np.array([(a + b) / 2 for a, b in spans])
    out: list[tuple[str, list[SpeakerTurn]]] = []
    seen = [turns]
    for pause_ms in options.unit_pauses_ms:
        kept = [(np.flatnonzero((centres >= a) & (centres < b)), b - a) for a, b in stretches(pause_ms)]
        kept = [(m, length) for m, length in kept if len(m)]
        if len(kept) < 2:
            continue
        voices = np.stack([vectors[m].mean(axis=0) for m, _ in kept])
        voices /= np.linalg.norm(voices, axis=1, keepdims=True)
        groups = kmeans(voices, 2, np.array([float(length) for _, length in kept]))
        if groups.min() == groups.max():
            continue
        means = np.stack([voices[groups == g].mean(axis=0) for g in (0, 1)])
        grouped = np.argmax(vectors @ means.T, axis=1)  # windows in no stretch: the nearer group
        for (m, _), g in zip(kept, groups):
            grouped[m] = g
        if grouped.min() == grouped.max():
            continue
        frame_labels = label_frames(regions, spans, vectors, grouped)
        made = turns_from_frames(refine(frame_labels) if refine else frame_labels, options)
        if made in seen:
            continue
        seen.append(made)
        out.append((f"stretches of speech between pauses of {pause_ms} ms grouped by voice", made))
    return out


def speech_activity(samples: np.ndarray, options: DiarizeOptions, vad: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Which 10 ms frames are speech (None for ``silero``, whose regions come whole from
    faster-whisper's VAD) and which hold two voices at once (segmentation model only)."""
    if vad == "silero-8k":
        return telephone_activity(samples, options), None
    if vad == "silero":
        return None, None
    speech, overlap = segmentation_frames(samples, options)
    return speech >= options.segmentation_threshold, overlap >= options.overlap_threshold


def regions_of(samples: np.ndarray, active: np.ndarray | None, options: DiarizeOptions) -> list[tuple[int, int]]:
    """Speech regions from ``speech_activity``'s frames, with ``options``' pause and padding rules."""
    return speech_regions(samples, options) if active is None else frames_to_regions(active, options)


def segmentation_frames(
    samples: np.ndarray, options: DiarizeOptions, starts_s: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Speech and overlapped-speech probabilities per 10 ms frame from pyannote segmentation-3.0,
    run on 10 s chunks every ``segmentation_step_s``, or starting at ``starts_s`` (seconds),
    frames that two or more chunks hear averaged, by ONNX Runtime when its build can be made
    (``segmentation_onnx``), else by torch."""
    import torch

    seg, session = segmentation(), segmentation_onnx(options.threads)
    chunk, step = int(seg.chunk_s * SAMPLE_RATE), int(options.segmentation_step_s * SAMPLE_RATE)
    if starts_s is None:
        starts = list(range(0, max(1, len(samples) - chunk + step), step))
    else:
        starts = [int(round(a * SAMPLE_RATE)) for a in starts_s]
    n_frames = int(np.ceil(len(samples) / SAMPLE_RATE / seg.frame_step_s)) + 1
    speech, overlap, seen = np.zeros(n_frames), np.zeros(n_frames), np.zeros(n_frames)
    torch.set_num_threads(options.threads)
    for i in range(0, len(starts), 8):
        batch = np.stack([np.pad(samples[s : s + chunk], (0, max(0, s + chunk - len(samples)))) for s in starts[i : i + 8]])
        probs = segmentation_probs(seg, session, batch[:, None, :].astype(np.float32))
        for s, p in zip(starts[i : i + 8], probs):
            first = int(round(s / SAMPLE_RATE / seg.frame_step_s))
            m = min(len(p), n_frames - first)
            speech[first : first + m] += 1.0 - p[:m, 0]
            overlap[first : first + m] += p[:m, 4:].sum(axis=1)  # classes 4-6: two speakers at once
            seen[first : first + m] += 1
    seen = np.maximum(seen, 1)
    at = np.minimum((np.arange(int(len(samples) / HOP)) / FRAMES_PER_S / seg.frame_step_s).astype(int), n_frames - 1)
    return (speech / seen)[at], (overlap / seen)[at]


def telephone_activity(samples: np.ndarray, options: DiarizeOptions) -> np.ndarray:
    """Speech frames of a telephone recording from Silero run at 8 kHz (on 8 kHz calls it
    misses less speech than at 16 kHz on the upsampled audio), with faster-whisper's hysteresis:
    speech starts at ``vad_threshold`` and ends below it minus 0.15."""
    from .speaker_models import SILERO_8K_WINDOW, silero_8k_probs

    probs = silero_8k_probs(samples, options.threads)
    frames_per_window = SILERO_8K_WINDOW * 2 / HOP  # 3.2 frames of 10 ms
    active = np.zeros(int(len(samples) / HOP), dtype=bool)
    on, low = False, options.vad_threshold - 0.15
    for i, p in enumerate(probs):
        on = p >= options.vad_threshold or (on and p >= low)
        if on:
            active[int(i * frames_per_window) : int((i + 1) * frames_per_window) + 1] = True
    return active


def frames_to_regions(active: np.ndarray, options: DiarizeOptions) -> list[tuple[int, int]]:
    """Runs of active 10 ms frames, pauses under ``min_silence_ms`` bridged, padded by
    ``speech_pad_ms``, runs shorter than ``min_speech_ms`` dropped."""
    merged: list[list[int]] = []
    for a, b in runs_of(active):
        if merged and a - merged[-1][1] < options.min_silence_ms // 10:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    pad = options.speech_pad_ms // 10
    return [(max(0, a - pad), min(len(active), b + pad)) for a, b in merged if b - a >= options.min_speech_ms // 10]


def second_speakers(turns: list[SpeakerTurn], overlap: np.ndarray, options: DiarizeOptions) -> list[SpeakerTurn]:
    """Turns for the second voice in overlapped speech where one speaker's turns cover it:
    ``voices_at_once`` without filling in stretches where the turns already change speaker."""
    return voices_at_once(turns, overlap_stretches(overlap, options), fill=False)


def speakers_at_once(turns: list[SpeakerTurn], start: float, end: float, fill: bool = True) -> list[str]:
    """The two speakers heard in a stretch of two voices at once (``start``-``end``): where one
    speaker's turns cover it, they and the speaker of the nearest turn (before or after) who is
    not them; where the turns change speaker inside it (someone cut in, and the turns follow
    them), the two who talk most there (with ``fill``; else none). Fewer than two where no
    second speaker can be named."""
    here = [t for t in turns if t.start < end and t.end > start]
    names = {t.speaker for t in here}
    others = [t for t in turns if t.speaker not in names]
    if len(names) == 1 and others:
        near = min(others, key=lambda t: (seconds_apart(start, end, t.start, t.end), t.speaker))
        return [*names, near.speaker]
    if len(names) > 1 and fill:
        def heard(name: str) -> float:
            return sum(min(t.end, end) - max(t.start, start) for t in here if t.speaker == name)

        return sorted(names, key=lambda name: (-heard(name), name))[:2]
    return []


def voices_at_once(turns: list[SpeakerTurn], stretches: list[tuple[float, float]], fill: bool = True) -> list[SpeakerTurn]:
    """Turns for the voice that ``turns`` leave out of each stretch heard as two voices at once:
    inside one speaker's turns, the other speaker (``speakers_at_once``) the whole stretch; where
    the turns change speaker inside it (with ``fill``), each of the two the parts of it their own
    turns do not cover."""
    out = []
    for start, end in stretches:
        here = [t for t in turns if t.start < end and t.end > start]
        for name in speakers_at_once(turns, start, end, fill):
            if all(t.speaker != name for t in here):  # the voice the turns leave out: the whole stretch
                out.append(SpeakerTurn(start, end, name))
                continue
            if len({t.speaker for t in here}) == 1:  # the one talking there: their turns stand
                continue
            at = start
            for t in sorted((t for t in here if t.speaker == name), key=lambda t: t.start):
                if t.start - at >= 0.05:
                    out.append(SpeakerTurn(at, t.start, name))
                at = max(at, t.end)
            if end - at >= 0.05:
                out.append(SpeakerTurn(at, end, name))
    return sorted(out, key=lambda t: (t.start, t.end))


class Crosstalk(NamedTuple):
    """What listening around the changes of speaker found (``crosstalk_near_changes``)."""

    stretches: list[tuple[float, float]]
    """(start, end) seconds heard as two voices at once, and taken."""
    note: str
    """Why the stretches heard were not taken ("" when they were)."""


def crosstalk_near_changes(samples: np.ndarray, turns: list[SpeakerTurn], options: DiarizeOptions) -> Crosstalk:
    """Stretches heard as two voices at once (``overlap_stretches``) in a recording whose speech
    detector does not hear them (Silero): the segmentation model runs on 10 s around each change
    of speaker with less than ``crosstalk_gap_s`` between the two turns, and nowhere else, in
    chunks that hold each change well inside (``listening_starts``). On
    mono conversations where the customer cuts in 1.5-3 s before the staff member stops
    (``bench/overlap.py``), it heard 1.5-2.9 s of each at 16 kHz, 0.8-2.8 s at 8 kHz. The turns
    are the voices' own: a call heard as one voice has no change to listen around, even where
    the words later choose two (``speakers.choose_turns``). None is taken where the speech far
    from the changes sounds like two voices too (``background_voices``): talk in the room."""
    if options.crosstalk_gap_s <= 0 or len(turns) < 2:
        return Crosstalk([], "")
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    spans: list[list[float]] = []
    changes: list[float] = []
    for before, after in zip(ordered, ordered[1:]):
        if before.speaker != after.speaker and after.start - before.end < options.crosstalk_gap_s:
            at = (before.end + after.start) / 2
            changes.append(at)
            a, b = max(0.0, at - 5.0), min(len(samples) / SAMPLE_RATE, at + 5.0)
            if spans and a <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b])
    found: list[tuple[float, float]] = []
    far_sum, far_n = 0.0, 0
    said = np.zeros(int(len(samples) / HOP) + 3, dtype=bool)  # 10 ms frames inside a turn (each piece's fit)
    for t in ordered:
        said[int(t.start * FRAMES_PER_S) : int(t.end * FRAMES_PER_S)] = True
    at_changes = np.sort(changes)
    for a, b in spans:  # windows that meet are run as one, in chunks placed around their changes
        piece = samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        starts = None
        if options.crosstalk_margin_s > 0:  # placed by what each chunk's frames cover, so that none is left unheard
            inside = at_changes[(at_changes >= a) & (at_changes <= b)] - a
            starts = listening_starts(len(piece) / SAMPLE_RATE, inside, segmentation_heard_s(options.threads), options.crosstalk_margin_s)
        _, overlap = segmentation_frames(piece, options, starts)
        heard = overlap_stretches(overlap >= options.overlap_threshold, options)
        found += [(round(a + s, 2), round(a + e, 2)) for s, e in heard]
        first = int(round(a * FRAMES_PER_S))
        times = a + np.arange(len(overlap)) / FRAMES_PER_S
        far = nearest_gap(times, at_changes) >= options.background_far_s
        for s, e in heard:  # a voice that cut in long before the change is not the background
            far &= (times < a + s - options.background_far_s) | (times > a + e + options.background_far_s)
        far &= said[first : first + len(overlap)]
        far_sum, far_n = far_sum + float(overlap[far].sum()), far_n + int(far.sum())
    level = far_sum / far_n if far_n >= options.min_background_s * FRAMES_PER_S else 0.0
    if options.background_voices > 0 and level > options.background_voices and found:
        return Crosstalk([], f"not taken: {union_seconds(found):.1f} s heard as two voices at once, but the speech "
                         f"away from the changes of speaker sounds like two voices too ({level:.2f} > {options.background_voices:.2f}): "
                         "talk in the background")
    return Crosstalk(found, "")


def listening_starts(length_s: float, changes_s: np.ndarray, chunk_s: float, margin_s: float) -> list[float]:
    """Starts (seconds) of ``chunk_s`` chunks that cover ``length_s`` seconds with every change of
    speaker in ``changes_s`` at least ``margin_s`` inside one where it can be (a change nearer the
    edge of the stretch itself stays there; a margin over a quarter of the chunk is taken as a
    quarter): each chunk begins where the one before ends, or earlier, at ``margin_s`` before the
    first change that would be near that edge; the last ends with the stretch. The segmentation
    model hears two voices at once less surely near the edge of its chunk; every
    ``segmentation_step_s`` (5 s) heard each frame twice instead, which cost half as much again on
    a call whose speakers change every few seconds."""
    margin_s = min(margin_s, chunk_s / 4)  # so that each next chunk starts at least half a chunk on
    if length_s <= chunk_s:
        return [0.0]
    starts, last = [0.0], length_s - chunk_s
    while starts[-1] < last:  # (not start + chunk < length: in floating point, last + chunk can fall short)
        end = starts[-1] + chunk_s
        near = changes_s[(changes_s > end - margin_s) & (changes_s < end + margin_s)]
        after = float(near.min()) - margin_s if len(near) else end
        starts.append(min(max(after, starts[-1] + chunk_s / 2), last))
    return starts


@lru_cache(maxsize=4)
def segmentation_heard_s(threads: int = 1) -> float:
    """Seconds of its 10 s chunk that the segmentation model's frames cover, less one frame so
    that chunks placed end to end by it share a frame whatever the rounding (589 frames of
    16.9 ms: 9.92 s; the receptive field takes the rest), from one run on silence. Placed end to
    end by the full 10 s, chunks would leave about 60 ms between them that no frame hears."""
    seg = segmentation()
    silence = np.zeros((1, 1, int(seg.chunk_s * SAMPLE_RATE)), dtype=np.float32)
    frames = segmentation_probs(seg, segmentation_onnx(threads), silence).shape[1]
    return (frames - 1) * seg.frame_step_s


def nearest_gap(times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each time's distance to the nearest of ``points`` (sorted, at least one): a search, not
    a times-by-points table, which an hour of quick turns would make gigabytes."""
    i = np.searchsorted(points, times)
    left, right = points[np.maximum(i - 1, 0)], points[np.minimum(i, len(points) - 1)]
    return np.minimum(np.abs(times - left), np.abs(right - times))


def overlap_stretches(overlap: np.ndarray, options: DiarizeOptions) -> list[tuple[float, float]]:
    """(start, end) seconds of the runs of overlapped frames at least ``min_overlap_s`` long."""
    shortest = round(options.min_overlap_s * FRAMES_PER_S)
    return [(a / FRAMES_PER_S, b / FRAMES_PER_S) for a, b in runs_of(overlap) if b - a >= shortest]


def unit_centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The L2-normalised mean embedding of each label 0..k-1."""
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in range(int(labels.max()) + 1)])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def unexplained_voice(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray,
    count: SpeakerCount, below: float, options: DiarizeOptions,
) -> tuple[np.ndarray, SpeakerCount]:
    """Labels and count with one more speaker where speech regions of at least
    ``min_new_voice_s`` sound like none of the speakers found (mean window embedding less than
    ``below`` similar to every centroid): their windows become that speaker's. The count's
    confidence is then 0.5: the eigengap did not say so."""
    if len(labels) < 3 or count.n >= options.max_speakers:
        return labels, count
    k = int(labels.max()) + 1
    centroids = unit_centroids(vectors, labels)
    odd, seconds = [], 0.0
    for voice, length, _, inside, _ in region_voices(regions, spans, vectors, labels, options.min_new_voice_s):
        if float((centroids @ voice).max()) < below:
            odd.extend(inside.tolist())
            seconds += length
    if not odd:
        return labels, count
    grown = labels.copy()
    grown[odd] = k
    grown = np.unique(grown, return_inverse=True)[1]  # a speaker left with no windows goes
    n = int(grown.max()) + 1
    if n <= count.n:  # the odd regions were a whole speaker already: nothing new
        return labels, count
    return grown, SpeakerCount(n, 0.5, f"{count.reason}; {n} with a voice like none of them in {seconds:.1f} s of speech"
                                        f" (similarity < {below:.2f})")


def region_voices(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray,
    min_s: float,
) -> list[tuple[np.ndarray, float, int, np.ndarray, tuple[int, int]]]:
    """(voice, seconds, label, window indexes, region) of each speech region of at least ``min_s``
    seconds with windows wholly inside it: the L2-normalised mean of its windows, the label
    most of them carry, and the region itself (its frames)."""
    starts, ends = np.array([a for a, _ in spans]), np.array([b for _, b in spans])
    out = []
    for a, b in regions:
        inside = np.flatnonzero((starts >= a) & (ends <= b))
        if (b - a) / FRAMES_PER_S < min_s or not len(inside):
            continue
        voice = vectors[inside].mean(axis=0)
        out.append((voice / np.linalg.norm(voice), (b - a) / FRAMES_PER_S, int(np.bincount(labels[inside]).argmax()), inside, (a, b)))
    return out


def split_joined(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray,
    count: SpeakerCount, below: float, options: DiarizeOptions, sound=None, kept: np.ndarray | None = None,
    own_sound: float = 0.0,
) -> tuple[np.ndarray, SpeakerCount, np.ndarray]:
    """Labels and count with a speaker split in two where their speech regions' voices fall in
    two groups (weighted 2-means) whose mean voices are less than ``below`` similar and the
    smaller group holds at least ``min_split_s`` of speech; repeated while a speaker splits.
    The count's confidence is then 0.5: the eigengap did not say so. ``sound``: a function
    giving the recording's ``sound_frames``; with it, a part split off that sounds like another
    speaker already found (``split_joins_below``) joins that speaker instead. ``kept``: windows
    (a mask) of voices the sound joined (``joined_by_sound``): a speaker holding any is not split.
    ``split_joins_below`` 0: no part is given to another speaker. ``own_sound`` (with ``sound``;
    0: not asked): a part whose frames sound less than this apart from the rest of its
    speaker's stays with them, and that speaker is not split again. Returns the labels, the
    count and a mask of the windows of the speakers so kept whole (for ``folded_by_sound`` to
    leave alone)."""
    whole = np.zeros(len(labels), dtype=bool)
    if len(labels) < 3:
        return labels, count, whole
    labels, n, said, joined, stayed = labels.copy(), int(labels.max()) + 1, [], [], {}
    for _ in range(2 * options.max_speakers):  # each pass splits one speaker, moves a part to another or keeps it whole
        if n >= options.max_speakers:
            break
        best = None
        units = region_voices(regions, spans, vectors, labels, options.min_new_voice_s)
        for c, mine, voices, seconds in speakers_regions(units, n):
            if float((voices @ voices.T).min()) >= below:  # every region like every other: one voice
                continue
            if c in stayed or holds(kept, labels, c):  # kept whole or joined by their sound: one person
                continue
            sim, groups, small = two_groups(voices, seconds)
            if sim < below and seconds[groups == small].sum() >= options.min_split_s and (best is None or sim < best[0]):
                moved = [i for u, g in zip(mine, groups) if g == small for i in u[3] if labels[i] == c]  # its own windows
                best = (sim, moved, float(seconds[groups == small].sum()), c)
        if best is None:
            break
        sim, moved, seconds, parent = best
        tried = labels.copy()
        tried[moved] = n
        asked = sound is not None and own_sound > 0
        own = sound_alike(sound(), regions, spans, vectors, tried, n, [parent], own_sound) if asked else None
        if own is not None:
            stayed[parent] = (f"{seconds:.1f} s of one speaker's speech only {sim:.2f} like the rest, which sound like the "
                              f"rest of that voice (delta BIC {own[1]:.0f} < {own_sound:.0f}): not split")
            continue
        alike = sound_alike(sound(), regions, spans, vectors, tried, n, [o for o in range(n) if o != parent],
                            options.split_joins_below) if sound is not None and n > 1 and options.split_joins_below > 0 else None
        if alike is not None:
            other, gain = alike
            labels[moved] = other
            joined.append(f"{seconds:.1f} s of one speaker's speech only {sim:.2f} like the rest, which sound like another's "
                          f"(delta BIC {gain:.0f} < {options.split_joins_below:.0f}): given to them")
            continue
        labels = tried
        n += 1
        said.append(f"{seconds:.1f} s of one speaker's speech only {sim:.2f} like the rest")
    if not said and not joined and not stayed:
        return labels, count, whole
    whole = np.isin(labels, list(stayed))
    labels = np.unique(labels, return_inverse=True)[1]  # a speaker left with no windows goes
    n = int(labels.max()) + 1
    parts = (([f"{n} with a speaker split in two ({'; '.join(said)}; similarity < {below:.2f})"] if said else []) + joined
             + list(stayed.values()))
    return labels, SpeakerCount(n, 0.5 if said else count.confidence, f"{count.reason}; {'; '.join(parts)}"), whole


def sound_alike(
    sound: np.ndarray, regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray,
    labels: np.ndarray, speaker: int, others: list[int], below: float,
) -> tuple[int, float] | None:
    """Of ``others``, the speaker whose frames sound least apart from ``speaker``'s (``sound_apart``
    of the frames ``label_frames`` gives each; ``sound``: ``sound_frames`` of the recording,
    standardised over its speech), with that gain, where it is under ``below``; else None.
    Speakers with under ``MIN_APART_FRAMES`` are not compared."""
    frame_labels = label_frames(regions, spans, vectors, labels)
    x = standardised(sound, np.flatnonzero(frame_labels >= 0))
    mine = x[frame_labels == speaker]
    if len(mine) < MIN_APART_FRAMES:
        return None
    best = None
    for o in others:
        theirs = x[frame_labels == o]
        if len(theirs) >= MIN_APART_FRAMES:
            gain = sound_apart(mine, theirs)
            if gain < below and (best is None or gain < best[1]):
                best = (o, gain)
    return best


def speakers_regions(units: list[tuple[np.ndarray, float, int, np.ndarray, tuple[int, int]]], n: int):
    """For each speaker 0..n-1 with two or more of ``units`` (``region_voices``): (speaker, its
    units, their voices stacked, their seconds)."""
    for c in range(n):
        mine = [u for u in units if u[2] == c]
        if len(mine) >= 2:
            yield c, mine, np.stack([u[0] for u in mine]), np.array([u[1] for u in mine])


def two_groups(voices: np.ndarray, seconds: np.ndarray) -> tuple[float, np.ndarray, int]:
    """Speech regions' voices (rows, L2-normalised) in two groups by 2-means weighted by their
    ``seconds``: the similarity of the two groups' mean voices, each region's group, and which
    group holds less speech (a group left empty, or every voice the same: similarity 1.0)."""
    if len(np.unique(voices, axis=0)) < 2:  # nothing to group (and k-means would warn so)
        return 1.0, np.zeros(len(voices), dtype=int), 1
    groups = kmeans(voices, 2, seconds)
    if len(np.unique(groups)) < 2:
        return 1.0, groups, 1
    means = np.stack([voices[groups == g].sum(axis=0) for g in (0, 1)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return float(means[0] @ means[1]), groups, int(seconds[groups == 1].sum() < seconds[groups == 0].sum())


FOLDED_CONFIDENCE = 0.4
"""The count's confidence, at most, when a third person may be folded into one of two voices
(``perhaps_folded``): under the 0.5 of a count a rule added."""


class Split(NamedTuple):
    """One speaker's speech regions in two groups (``closest_split``)."""

    similarity: float
    """Of the two groups' mean voices."""
    small_s: float
    """Seconds of speech in the smaller group."""
    speaker: int
    small: list
    """The smaller group's units (``region_voices``)."""
    rest: list
    """The other group's units."""


def holds(windows: np.ndarray | None, labels: np.ndarray, speaker: int) -> bool:
    """Whether ``speaker`` (of the window ``labels``) holds any window of the mask ``windows``
    (None: none): a voice the sound joined or kept whole, which the voice rules leave alone."""
    return windows is not None and bool(windows[labels == speaker].any())


def closest_split(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray, min_s: float,
    kept: np.ndarray | None = None,
) -> Split | None:
    """Of every speaker with two or more speech regions of at least ``min_s`` seconds, the one
    whose regions fall furthest apart in two groups (``two_groups``); None when no speaker has two
    regions. ``kept``: as ``split_joined``'s, speakers left out."""
    best = None
    for c, mine, voices, seconds in speakers_regions(region_voices(regions, spans, vectors, labels, min_s), int(labels.max()) + 1):
        if holds(kept, labels, c):
            continue
        sim, groups, small = two_groups(voices, seconds)
        if best is None or sim < best.similarity:
            best = Split(sim, float(seconds[groups == small].sum()), c, [u for u, g in zip(mine, groups) if g == small],
                         [u for u, g in zip(mine, groups) if g != small])
    return best


def split_off(labels: np.ndarray, split: Split) -> np.ndarray:
    """``labels`` with the windows of ``split``'s smaller group that its speaker holds given to
    one more speaker."""
    grown = labels.copy()
    grown[[i for u in split.small for i in u[3] if labels[i] == split.speaker]] = int(labels.max()) + 1
    return grown


def at_least(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], voices: np.ndarray,
    labels: np.ndarray, count: SpeakerCount, want: int,
) -> tuple[np.ndarray, SpeakerCount]:
    """Fewer speakers than ``want`` heard (``DiarizeOptions.min_speakers``, no count given or
    expected): the smaller group of the closest split of ``voices`` (``closest_split``, every
    speech region with windows in it) becomes one more speaker, until ``want`` are found. A
    person who does most of the talking stays one speaker, and the other is the speech least
    like theirs. The count's confidence is the eigengap's doubt of what it heard (1 - its
    confidence), at most 0.5, as for every count a rule added. Asked before the doubt of a count
    of two (``perhaps_folded``), so the part split off may still be doubted as two people (round
    39: the same DER on every set, more of the wrong counts doubted: AMI 2 -> 3 of 9, at 8 kHz
    2 -> 4 of 8).

    Where no speaker has two speech regions to split (one unbroken stretch of speech, as in a
    busy room), the count stays as heard, doubted (``maybe_more``), unless the segmentation
    model then hears a second voice over the first (``overlap_voice``: two voices at once are
    two people, the minimum met). Splitting one stretch's windows by voice instead cut the one
    person who talked into two (AMI trn03 DER 0.03 -> 0.23, trn09 0.15 -> 0.23).

    The minimum overrides a speaker ``split_joined`` kept whole (a part that sounds like the
    rest of its voice): the metadata says there are two people. Regions under
    ``min_new_voice_s`` count too: looking there first was worse (AMI 0.232 -> 0.234, at 8 kHz
    0.326 -> 0.330, rooms8 0.090 -> 0.095, roomsh8 0.069 -> 0.072)."""
    heard = count
    while int(labels.max()) + 1 < want:
        split = closest_split(regions, spans, voices, labels, 0.0)
        if split is None or not split.small or not split.rest:
            return labels, replace(count, confidence=round(min(count.confidence, FOLDED_CONFIDENCE), 3), maybe_more=True,
                                   reason=f"{count.reason}; {want} at least, but no stretch of speech to tell apart")
        labels = split_off(labels, split)
        count = SpeakerCount(int(labels.max()) + 1, round(min(1.0 - heard.confidence, 0.5), 3),
                             f"{count.reason}; {want} at least: {split.small_s:.1f} s of speech least like the rest "
                             f"({split.similarity:.2f} alike) is another speaker", forced=True)
    return labels, count


def perhaps_folded(closest: Split | None, count: SpeakerCount, below: float) -> SpeakerCount:
    """Two voices found with no count given or expected: the count, with its confidence at most
    ``FOLDED_CONFIDENCE``, ``maybe_more`` and the reason saying so, where one voice's speech
    regions fall in two groups less than ``below`` alike (``closest``: ``closest_split`` of the
    voices; a third person heard too briefly to split off: ``DiarizeOptions.folded_below``);
    else as it was."""
    if closest is None or closest.similarity >= below:
        return count
    sim, small = closest.similarity, closest.small_s
    return replace(count, confidence=round(min(count.confidence, FOLDED_CONFIDENCE), 3), maybe_more=True,
                   reason=f"{count.reason}; perhaps a third person: {small:.1f} s of one voice's speech only {sim:.2f} like "
                          f"the rest of it (similarity < {below:.2f}), too little to count apart")


MIN_APART_FRAMES = 50
"""``folded_by_sound`` and ``sound_alike`` compare two groups' sound only where each has this many
frames (0.5 s)."""


def log_spread(variances: np.ndarray) -> np.ndarray:
    """A diagonal Gaussian's log-determinant from its variances (last axis), floored at 1e-3 so
    that a silent coefficient does not dominate: what ``sound_apart`` and ``change_gain`` weigh."""
    return np.sum(np.log(np.maximum(variances, 0.0) + 1e-3), axis=-1)


def sound_apart(first: np.ndarray, second: np.ndarray) -> float:
    """How far apart two sets of sound frames (rows: ``sound_frames``, standardised) sound: the
    gain in log-likelihood from one diagonal Gaussian for each set over one for both, less BIC's
    penalty for the second Gaussian's parameters (delta BIC, lambda 1: d x log(frames)). Above 0
    the data prefer two sources; frames of one person's speech are not independent, so one
    person's two groups score above 0 too (``DiarizeOptions.folded_sound``)."""
    both = np.concatenate([first, second])

    def spread(x: np.ndarray) -> float:
        return float(log_spread(x.var(axis=0, ddof=1)))

    gain = 0.5 * (len(both) * spread(both) - len(first) * spread(first) - len(second) * spread(second))
    return gain - both.shape[1] * float(np.log(len(both)))


def change_gain(frames: np.ndarray, shortest: int) -> tuple[int, float]:
    """Where one run of sound frames (rows, standardised) changes most: the frame k (at least
    ``shortest`` from either end) at which a diagonal Gaussian for frames[:k] and one for
    frames[k:] gain the most log-likelihood over one for all, less BIC's penalty (d x
    log(frames), as ``sound_apart``); (0, -inf) where the run is too short to cut."""
    n, d = frames.shape
    cuts = np.arange(shortest, n - shortest + 1)
    if not len(cuts):
        return 0, -np.inf
    first, second = np.cumsum(frames, axis=0), np.cumsum(frames * frames, axis=0)

    def spread(total: np.ndarray, squares: np.ndarray, m: np.ndarray) -> np.ndarray:  # ddof 1, as sound_apart
        return log_spread((squares - total * total / m) / np.maximum(m - 1, 1))

    m = cuts[:, None].astype(float)
    left = spread(first[cuts - 1], second[cuts - 1], m)
    right = spread(first[-1] - first[cuts - 1], second[-1] - second[cuts - 1], n - m)
    whole = spread(first[-1], second[-1], np.array(float(n)))
    gain = 0.5 * (n * whole - cuts * left - (n - cuts) * right) - d * np.log(n)
    best = int(np.argmax(gain))
    return int(cuts[best]), float(gain[best])


def cut_at_changes(regions: list[tuple[int, int]], sound: np.ndarray, apart: float, min_s: float) -> list[tuple[int, int]]:
    """``regions`` (10 ms frames) with each cut where its sound changes by at least ``apart``
    (``change_gain`` of its frames of ``sound``, ``sound_frames`` of the recording, standardised
    over the regions), each part again, no part under ``min_s`` seconds; the parts meet."""
    x = standardised(sound, np.concatenate([np.arange(a, b) for a, b in regions]))
    shortest = max(1, int(round(min_s * FRAMES_PER_S)))
    out, todo = [], list(regions)
    while todo:
        a, b = todo.pop()
        k, gain = change_gain(x[a:b], shortest) if b - a >= 2 * shortest else (0, -np.inf)
        if gain >= apart:
            todo += [(a + k, b), (a, a + k)]
        else:
            out.append((a, b))
    return sorted(out)


def joined_by_sound(
    sound: np.ndarray, regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray,
    labels: np.ndarray, count: SpeakerCount, below: float, min_s: float,
) -> tuple[np.ndarray, SpeakerCount, np.ndarray]:
    """Three or more voices found: the two whose frames (``label_frames`` of ``vectors``; ``sound``,
    ``sound_frames`` of the recording, standardised over its speech) sound least apart
    (``sound_apart``), each with at least ``min_s`` seconds, become one speaker where that is
    under ``below``; repeated while more than two remain. Returns the labels, the count
    (confidence 0.5 where any were joined: the eigengap did not say so) and a mask of the
    windows of the voices joined."""
    kept = np.zeros(len(labels), dtype=bool)
    said = []
    labels = labels.copy()
    while int(labels.max()) + 1 > 2:
        frame_labels = label_frames(regions, spans, vectors, labels)
        x = standardised(sound, np.flatnonzero(frame_labels >= 0))
        n = int(labels.max()) + 1
        frames = [x[frame_labels == c] for c in range(n)]
        best = None
        for a in range(n):
            for b in range(a + 1, n):
                if min(len(frames[a]), len(frames[b])) >= min_s * FRAMES_PER_S:
                    gain = sound_apart(frames[a], frames[b])
                    if best is None or gain < best[0]:
                        best = (gain, a, b)
        if best is None or best[0] >= below:
            break
        gain, a, b = best
        labels[labels == b] = a
        kept |= labels == a
        labels = np.unique(labels, return_inverse=True)[1]
        said.append(f"{gain:.0f}")
    if not said:
        return labels, count, kept
    n = int(labels.max()) + 1
    return labels, SpeakerCount(n, 0.5, f"{count.reason}; {n} with voices that sound alike joined (delta BIC "
                                        f"{', '.join(said)} < {below:.0f})"), kept


def folded_by_sound(
    sound: np.ndarray, split: Split, regions: list[tuple[int, int]], spans: list[tuple[int, int]], voices: np.ndarray,
    labels: np.ndarray, count: SpeakerCount, doubted: SpeakerCount, apart: float,
) -> tuple[np.ndarray, SpeakerCount]:
    """A count of two (``count``; ``doubted``: the count to keep where nothing is split, as
    ``perhaps_folded`` doubted it or not): the
    smaller group of the closest split (``split``, the ``closest_split`` of ``voices`` it judged)
    becomes one more speaker when the two groups' frames of that voice (``sound``, ``sound_frames`` of the
    recording, standardised over its speech) sound at least ``apart`` apart (``sound_apart``):
    the labels with its windows moved (``split_off``), and the count (confidence 0.5: the eigengap
    did not say so; still ``forced`` where ``count`` was: the minimum made its second speaker);
    else ``labels`` and ``doubted``. A person who says a few seconds is too briefly heard
    for the speaker encoder to set apart, but their sound within the recording still differs."""
    if not split.small or not split.rest:
        return labels, doubted
    frame_labels = label_frames(regions, spans, voices, labels)
    x = standardised(sound, np.flatnonzero(frame_labels >= 0))

    def frames(units: list) -> np.ndarray:  # the frames of the units' regions given to that speaker
        inside = np.concatenate([np.arange(a, min(b, len(frame_labels))) for *_, (a, b) in units])
        return inside[frame_labels[inside] == split.speaker]

    small, rest = frames(split.small), frames(split.rest)
    if min(len(small), len(rest)) < MIN_APART_FRAMES:
        return labels, doubted
    gain = sound_apart(x[small], x[rest])
    if gain < apart:
        return labels, doubted
    grown = split_off(labels, split)
    n = int(grown.max()) + 1
    return grown, SpeakerCount(n, 0.5, f"{count.reason}; {n} with {split.small_s:.1f} s of one voice's speech only "
                                       f"{split.similarity:.2f} like the rest of it and apart in sound (delta BIC "
                                       f"{gain:.0f} >= {apart:.0f})", forced=count.forced)


def label_frames(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Speaker index per 10 ms frame (-1 = no speech): the centroid the covering windows favour.
    Speech too short to embed takes the label of the nearest embedded window (0 if none)."""
    n = max(b for _, b in regions)
    if not spans:
        out = np.full(n, -1, dtype=int)
        for a, b in regions:
            out[a:b] = 0
        return out
    k = int(labels.max()) + 1
    centroids = unit_centroids(vectors, labels)
    similarity = vectors @ centroids.T
    score = np.zeros((n, k), dtype=np.float32)
    count = np.zeros(n, dtype=np.float32)
    for (a, b), row in zip(spans, similarity):
        score[a:b] += row
        count[a:b] += 1
    out = np.full(n, -1, dtype=int)
    for a, b in regions:
        if count[a:b].all():  # windows cover a region wholly or not at all
            out[a:b] = np.argmax(score[a:b], axis=1)
        else:  # too short to embed: the label of the nearest window, before or after
            near = min(spans, key=lambda span: max(span[0] - b, a - span[1], 0))
            out[a:b] = int(np.argmax(score[near[0]]))
    return out


def turns_from_frames(frame_labels: np.ndarray, options: DiarizeOptions) -> list[SpeakerTurn]:
    """Runs of equal frame labels become turns: runs shorter than ``min_turn_s`` take their
    longer neighbour's label, pauses under ``max_pause_s`` inside one speaker's speech are
    kept in the turn, and speakers are named S1, S2, ... in order of first appearance."""
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(frame_labels)) + 1, [len(frame_labels)]])
    runs = [[int(a), int(b), int(frame_labels[a])] for a, b in zip(bounds[:-1], bounds[1:]) if frame_labels[a] >= 0]
    shortest = round(options.min_turn_s * FRAMES_PER_S)
    while True:
        short = [j for j, (a, b, _) in enumerate(runs) if b - a < shortest and _neighbour(runs, j) is not None]
        if not short:
            break
        j = min(short, key=lambda j: runs[j][1] - runs[j][0])
        runs[j][2] = _neighbour(runs, j)[2]
        runs = _join(runs, max_gap=1)
    runs = _join(runs, max_gap=round(options.max_pause_s * FRAMES_PER_S))
    names: dict[int, str] = {}
    for _, _, lab in runs:
        names.setdefault(lab, f"S{len(names) + 1}")
    return [SpeakerTurn(a / FRAMES_PER_S, b / FRAMES_PER_S, names[lab]) for a, b, lab in runs]


def _neighbour(runs: list[list[int]], j: int) -> list[int] | None:
    """The longer of the runs touching run ``j`` on either side (None if it stands alone)."""
    a, b, _ = runs[j]
    touching = [r for r in (runs[j - 1] if j > 0 else None, runs[j + 1] if j + 1 < len(runs) else None)
                if r is not None and (r[1] == a or r[0] == b)]
    return max(touching, key=lambda r: r[1] - r[0], default=None)


def _join(runs: list[list[int]], max_gap: int) -> list[list[int]]:
    """Merge consecutive runs of one label separated by fewer than ``max_gap`` frames."""
    out: list[list[int]] = []
    for a, b, lab in runs:
        if out and out[-1][2] == lab and a - out[-1][1] < max_gap:
            out[-1][1] = b
        else:
            out.append([a, b, lab])
    return out


def assign_speakers(words: list[Word], turns: list[SpeakerTurn]) -> list[Word]:
    """Set ``Word.speaker`` to the turn overlapping the word most (nearest turn when none)."""
    if not turns:
        return words
    starts = np.array([t.start for t in turns])
    ends = np.array([t.end for t in turns])
    for word in words:
        overlap = np.minimum(ends, word.end) - np.maximum(starts, word.start)
        if overlap.max() > 0:
            word.speaker = turns[int(np.argmax(overlap))].speaker
        else:
            mid = (word.start + word.end) / 2
            gap = np.maximum(starts - mid, mid - ends)
            word.speaker = turns[int(np.argmin(gap))].speaker
    return words
