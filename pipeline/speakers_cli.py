"""Speaker commands for the ``parley`` CLI: ``eval diarization``, ``eval roles`` and staff enrolment.

``register(eval_app)`` adds ``parley eval diarization FOLDER`` (or ``--audio WAV --rttm RTTM``),
which prints per file and overall DER, missed speech, false alarm, confusion, JER and speaker-count
accuracy (pyannote.metrics), and ``parley eval roles --audio ... [--rttm ...]`` (speakers named
staff and customer), which prints the share of speech time with the right role; each ends with
one JSON line.
``enroll_command`` is what ``parley staff enroll STAFF_ID AUDIO...`` runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import typer

from .diarize import DiarizeOptions, diarize_full
from .errors import ConfigError
from .hold import hold_stretches, silenced, uncovered
from .recorded import PHONE_SYSTEM
from .records import SIDES
from .voiceprints import enroll, save_voiceprint


AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def recordings_with_rttm(audio: Path, rttm: Path | None) -> list[tuple[Path, Path]]:
    """(audio, reference RTTM) pairs: one file and its RTTM, or every recording in a folder with
    ``NAME.rttm`` beside it (or one ``--rttm`` file whose lines name each recording)."""
    audio = Path(audio)
    if audio.is_file():
        reference = rttm or audio.with_suffix(".rttm")
        if not reference.is_file():
            raise ConfigError("no reference RTTM", fix=f"give --rttm or put {reference.name} beside the recording", path=audio)
        return [(audio, reference)]
    pairs = []
    for path in sorted(p for p in audio.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        reference = rttm or path.with_suffix(".rttm")
        if reference.is_file():
            pairs.append((path, reference))
    if not pairs:
        raise ConfigError("no recording with a reference RTTM beside it",
                          fix="put NAME.rttm beside each NAME.wav, or give one --rttm naming them", path=audio)
    return pairs


def reference_of(rttm: Path, audio: Path) -> list[tuple[float, float, str]]:
    """The RTTM's turns for ``audio``: lines whose file id is the recording's name (all lines
    when none names it, as in a one-recording RTTM)."""
    turns = read_rttm_lines(rttm)
    mine = [t[1:] for t in turns if t[0] == audio.stem]
    return mine or [t[1:] for t in turns]


def read_rttm_lines(path: str | Path) -> list[tuple[str, float, float, str]]:
    """(file id, start, end, speaker) for every SPEAKER line of an RTTM file."""
    turns = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
            turns.append((fields[1], start, start + duration, fields[7]))
        except (IndexError, ValueError) as exc:
            raise ConfigError(
                f"line {n} is not an RTTM SPEAKER line ({line.strip()!r})",
                fix="use 'SPEAKER file 1 START DURATION <NA> <NA> NAME <NA> <NA>'",
                path=path,
            ) from exc
    if not turns:
        raise ConfigError("no SPEAKER lines", fix="give an RTTM file of who spoke when", path=path)
    return turns


def read_rttm(path: str | Path) -> list[tuple[float, float, str]]:
    """(start, end, speaker) for every SPEAKER line of an RTTM file."""
    return [t[1:] for t in read_rttm_lines(path)]


def load_recording(path: Path):
    """The recording decoded to 16 kHz mono (channels averaged) and its metadata (sidecar)."""
    from .audio import decode
    from .ingest import parse_sidecar, sidecar_for
    from .records import RecordingMeta

    audio = decode(path)
    sidecar = sidecar_for(path)
    meta = parse_sidecar(sidecar, path.name) if sidecar else RecordingMeta()
    return audio, meta


def _annotation(spans):
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for start, end, speaker in spans:
        if end > start:
            out[Segment(start, end)] = speaker
    return out


def evaluate_diarization(
    audio_path: str | Path, rttm_path: str | Path, collar: float = 0.25, n_speakers: int | None = None,
    options: DiarizeOptions | None = None,
) -> dict:
    """Diarize ``audio_path`` as the pipeline would (its sidecar's ``channel`` and
    ``n_speakers``, a phone call's two speakers) and score it against ``rttm_path``: DER and
    its parts and JER (pyannote.metrics, ``collar`` seconds forgiven around each reference
    boundary, overlapped speech scored) of the turns ``speaker_turns`` would store
    (``Diarization.heard_turns``), and the speaker count, with whether the count itself says a
    person should check it (``speakers.count_doubt``: ``count_doubted`` and why). From the audio alone: a 16 kHz
    recording with no ``channel`` is diarized as a room here, even where its words (which
    ``parley process`` and ``eval roles`` read) would make it a call. Hold music (``hold``) is
    silenced first, as the speaker stage does, unless ``PARLEY_HOLD_MUSIC`` is off, and left out
    of the score (its music and announcements are no person's turns); its seconds are ``hold_s``."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    from .settings import Settings
    from .speakers import SpeakerOptions, count_doubt, expected_speakers, may_hold, min_speakers

    audio_path = Path(audio_path)
    reference = reference_of(Path(rttm_path), audio_path)
    audio, meta = load_recording(audio_path)
    samples = audio.samples.mean(axis=0)
    holds = hold_stretches(samples) if may_hold(meta, SpeakerOptions.from_settings(Settings())) else []
    samples = silenced(samples, holds)  # as the speaker stage does: the hold's music and announcements are nobody's turns
    # a face-to-face sidecar's two at least holds whatever options are passed (``parley eval
    # diarization`` passes its own, to choose the encoder), as the speaker stage applies it
    options = options or DiarizeOptions()
    options = replace(options, min_speakers=max(options.min_speakers, min_speakers(meta)))
    started = time.perf_counter()
    expected = expected_speakers(meta, audio)
    result = diarize_full(samples, n_speakers=n_speakers or meta.n_speakers, expected=expected,
                          options=options, source_rate=audio.info.sample_rate)
    elapsed = time.perf_counter() - started
    ref, hyp = _annotation(reference), _annotation([(t.start, t.end, t.speaker) for t in result.heard_turns()])
    # the holds are not scored: their music and announcements are nobody's turns
    end = max(len(samples) / 16000, max(end for _, end, _ in reference))
    uem = Timeline([Segment(a, b) for a, b in uncovered(holds, end)])
    parts = DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=uem, detailed=True)
    missed_over, over_s = missed_in_overlap(ref, hyp, uem, collar)
    jer = JaccardErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=uem)
    n_ref, n_hyp = len({s for _, _, s in reference}), len({t.speaker for t in result.turns})
    return {
        "audio": str(audio_path),
        "der": round(parts["diarization error rate"], 4),
        "jer": round(float(jer), 4),
        "missed_s": round(parts["missed detection"], 3),
        "missed_overlap_s": round(missed_over, 3),
        "overlap_ref_s": round(over_s, 3),
        "false_alarm_s": round(parts["false alarm"], 3),
        "confusion_s": round(parts["confusion"], 3),
        "scored_s": round(parts["total"], 3),
        "collar": collar,
        "n_speakers_ref": n_ref,
        "n_speakers_hyp": n_hyp,
        "count_right": n_ref == n_hyp,
        "count_confidence": result.count.confidence,
        "count_reason": result.count.reason,
        "count_doubt": (doubt := count_doubt(result.count, expected)),
        "count_doubted": bool(doubt),
        "vad": result.vad,
        "overlap_s": result.overlap_s,
        "overlap_note": result.overlap_note,
        "hold_s": round(sum(b - a for a, b in holds), 2),
        "duration_s": round(len(samples) / 16000, 2),
        "diarize_s": round(elapsed, 2),
        "model": {"name": result.encoder, "version": result.encoder_version},
    }


def missed_in_overlap(ref, hyp, uem, collar: float) -> tuple[float, float]:
    """Of the missed speech, the seconds where two or more people speak at once in the
    reference, and how much reference speech those stretches hold (each voice counted, as DER
    counts it): DER scored on the reference's overlapped stretches alone (the same ``collar``),
    whose parts add up with the rest's. A second voice that the turns leave out is missed here;
    so is speech that no turn covers."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    region = ref.get_overlap().crop(uem, mode="intersection")
    if not region:
        return 0.0, 0.0
    parts = DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=region, detailed=True)
    return float(parts["missed detection"]), float(parts["total"])


def overall(rows: list[dict]) -> dict:
    """DER over all files (components summed, as pyannote.metrics does), mean JER, count accuracy,
    and how many wrong and right counts were doubted (``count_doubted``): a count's confidence
    is worth what it tells apart."""
    scored = sum(r["scored_s"] for r in rows) or 1e-9
    parts = {k: sum(r[k] for r in rows) for k in ("missed_s", "false_alarm_s", "confusion_s")}
    return {
        "files": len(rows),
        "der": round(sum(parts.values()) / scored, 4),
        "missed": round(parts["missed_s"] / scored, 4),
        "missed_overlap": round(sum(r["missed_overlap_s"] for r in rows) / scored, 4),
        "overlap_ref_s": round(sum(r["overlap_ref_s"] for r in rows), 2),
        "false_alarm": round(parts["false_alarm_s"] / scored, 4),
        "confusion": round(parts["confusion_s"] / scored, 4),
        "jer": round(sum(r["jer"] for r in rows) / len(rows), 4),
        "count_accuracy": round(sum(r["count_right"] for r in rows) / len(rows), 4),
        "wrong_counts": sum(not r["count_right"] for r in rows),
        "wrong_counts_doubted": sum(r["count_doubted"] and not r["count_right"] for r in rows),
        "right_counts_doubted": sum(r["count_doubted"] and r["count_right"] for r in rows),
        "scored_s": round(scored, 2),
        "diarize_s": round(sum(r["diarize_s"] for r in rows), 2),
        "model": rows[0]["model"],
    }


def role_spans(utterances, turns=None) -> list[tuple[float, float, str]]:
    """Who had which role when: each diarized speaker turn with its speaker's role (the role
    the speaker's utterances carry; a hold's, unknown), else (no turns, or roles split inside one voice by
    content) the utterances themselves."""
    roles_of: dict[str, set] = {}
    for u in utterances:
        roles_of.setdefault(u.speaker, set()).add(u.role)
    people = [t for t in turns or [] if t.speaker not in PHONE_SYSTEM]
    held = [(t.start, t.end, "unknown") for t in turns or [] if t.speaker in PHONE_SYSTEM]  # music, announcements, the welcome
    if people and all(len(roles_of.get(t.speaker, ())) == 1 for t in people):
        return sorted([(t.start, t.end, next(iter(roles_of[t.speaker]))) for t in people] + held)
    return sorted([(u.start, u.end, u.role) for u in utterances] + held)


def role_accuracy(spans: list[tuple[float, float, str]], reference: list[tuple[float, float, str]], step: float = 0.01) -> dict:
    """Share of the reference speech time (speakers named ``staff``/``customer``; others, such as
    a recorded announcement while the customer holds, are not scored) whose role
    Parley got right. At each 10 ms of reference speech the hypothesis is the role of the span
    (``role_spans``) covering it (else the nearest span within 1 s; else none: wrong)."""
    spans = sorted(spans)
    starts = np.array([s[0] for s in spans]) if spans else np.zeros(0)
    ends = np.array([s[1] for s in spans]) if spans else np.zeros(0)
    right = total = 0.0
    by_role = {}
    for start, end, role in reference:
        role = role.lower()
        if role not in SIDES:
            continue
        for t in np.arange(start, end, step):
            hyp = None
            if len(spans):
                inside = np.flatnonzero((starts <= t) & (ends >= t))
                if len(inside):
                    hyp = spans[int(inside[-1])][2]
                else:
                    gap = np.maximum(starts - t, t - ends)
                    j = int(np.argmin(gap))
                    hyp = spans[j][2] if gap[j] <= 1.0 else None
            ok = hyp == role
            right += ok
            total += 1
            got = by_role.setdefault(role, [0, 0])
            got[0] += ok
            got[1] += 1
    return {"right_s": round(right * step, 2), "speech_s": round(total * step, 2),
            "share": round(right / total, 4) if total else 0.0,
            "by_role": {r: round(a / b, 4) for r, (a, b) in by_role.items()}}


def unsure_scores(utterances, reference: list[tuple[float, float, str]]) -> dict:
    """How the utterances marked role unsure (``Utterance.role_unsure``) line up with the ones
    whose role is wrong: an utterance's right role is the reference role (staff or customer)
    over most of its time;
    ``voices_compared``: utterances with a voice margin."""
    wrong = unsure = caught = compared = 0
    for u in utterances:
        compared += u.voice_margin is not None
        said: dict[str, float] = {}
        for start, end, role in reference:
            if role.lower() in SIDES and min(end, u.end) > max(start, u.start):
                said[role.lower()] = said.get(role.lower(), 0.0) + min(end, u.end) - max(start, u.start)
        is_wrong = bool(said) and max(said, key=said.get) != u.role
        wrong, unsure, caught = wrong + is_wrong, unsure + u.role_unsure, caught + (is_wrong and u.role_unsure)
    return {"utterances": len(utterances), "voices_compared": compared, "wrong_utterances": wrong, "unsure_utterances": unsure,
            "unsure_and_wrong": caught}


def evaluate_roles(audio_path: Path, rttm_path: Path, db: Path | None = None) -> dict:
    """Run a recording through transcription and the speaker stage as the pipeline does, and
    score the roles against an RTTM whose speakers are named staff and customer."""
    from .settings import Settings
    from .speakers import SpeakerOptions, attribute_speakers
    from .transcribe import TranscribeOptions, transcribe

    reference = reference_of(rttm_path, audio_path)
    names = {s.lower() for _, _, s in reference}
    if not names & set(SIDES):
        raise ConfigError(f"the reference names speakers {sorted(names)}",
                          fix="name the two people staff and customer in the RTTM (others, such as a recorded announcement, are not scored)",
                          path=rttm_path)
    settings = Settings()
    audio, meta = load_recording(audio_path)
    transcript = transcribe(audio, TranscribeOptions.from_settings(settings))
    voiceprints = _voiceprints(db) if db else None
    result = attribute_speakers(audio, transcript, meta, SpeakerOptions.from_settings(settings), voiceprints)
    score = role_accuracy(role_spans(result.utterances, result.turns), reference)
    by_utterance = role_accuracy(role_spans(result.utterances), reference)["share"]
    row = result.rows["role_assignment"][0]
    return {"audio": str(audio_path), **score, "utterance_share": by_utterance, **unsure_scores(result.utterances, reference),
            "method": row["method"], "flagged": row["flagged"],
            "confidence": row["confidence"], "n_speakers": row["n_speakers"], "reason": row["reason"],
            "model": {"name": row["model"], "version": row["model_version"]}}


def _voiceprints(db: Path):
    from .store import Store
    from .voiceprints import load_voiceprints

    if not Path(db).exists():
        raise ConfigError("no such database", fix="give the --db that holds the enrolled voiceprints", path=db)
    with Store(db).connect(read_only=True) as con:  # a read: never migrates or holds up the database
        return load_voiceprints(con)


def register(eval_app: typer.Typer) -> None:
    """Add the ``diarization`` and ``roles`` commands to ``parley eval``."""

    @eval_app.command("diarization")
    def diarization(
        folder: Path | None = typer.Argument(None, exists=True, help="A folder of recordings, each with NAME.rttm beside it."),
        audio: Path | None = typer.Option(None, "--audio", exists=True, help="One recording (or a folder)."),
        rttm: Path | None = typer.Option(None, "--rttm", exists=True, dir_okay=False,
                                         help="Reference: who spoke when (default NAME.rttm beside each recording)."),
        collar: float = typer.Option(0.25, "--collar", help="Seconds forgiven either side of each reference boundary."),
        n_speakers: int | None = typer.Option(None, "--speakers", help="Number of speakers if known (default: estimate)."),
        model: str | None = typer.Option(None, "--model", help="Speaker encoder: auto (default, the speaker_model setting: CAM++ for a two-person call, resemblyzer otherwise), campplus or resemblyzer."),
    ) -> None:
        """Diarization error rate of Parley's diarization against RTTM references, per file and overall."""
        target = folder or audio
        if target is None:
            raise typer.BadParameter("give a FOLDER of recordings with RTTMs, or --audio")
        options = DiarizeOptions(encoder=model)
        rows = []
        for path, reference in recordings_with_rttm(target, rttm):
            row = evaluate_diarization(path, reference, collar, n_speakers, options)
            rows.append(row)
            typer.echo(
                f"{path.name}: DER {row['der']:.1%} JER {row['jer']:.1%} (missed {row['missed_s']} s, "
                f"{row['missed_overlap_s']} s of it where two or more spoke at once; false alarm "
                f"{row['false_alarm_s']} s, confusion {row['confusion_s']} s of {row['scored_s']} s); speakers "
                f"{row['n_speakers_hyp']} found, {row['n_speakers_ref']} in the reference ({row['count_reason']})"
                f"{'; count doubted' if row['count_doubted'] else ''}"
            )
        total = overall(rows)
        typer.echo(
            f"overall, {total['files']} files: DER {total['der']:.1%} (missed {total['missed']:.1%}: "
            f"{total['missed_overlap']:.1%} where two or more spoke at once, {total['missed'] - total['missed_overlap']:.1%} "
            f"elsewhere; false alarm "
            f"{total['false_alarm']:.1%}, confusion {total['confusion']:.1%}), JER {total['jer']:.1%}, speaker count "
            f"right in {total['count_accuracy']:.0%} (doubted: {total['wrong_counts_doubted']} of the {total['wrong_counts']} wrong, "
            f"{total['right_counts_doubted']} of the {total['files'] - total['wrong_counts']} right); "
            f"model {total['model']['name']} {total['model']['version']}"
        )
        typer.echo(json.dumps(rows[0] if len(rows) == 1 else {**total, "per_file": rows}))

    @eval_app.command("roles")
    def roles(
        audio: Path = typer.Option(..., "--audio", exists=True, help="A recording, or a folder of them."),
        rttm: Path | None = typer.Option(None, "--rttm", exists=True, dir_okay=False,
                                         help="Reference with speakers named staff and customer (default NAME.rttm)."),
        db: Path | None = typer.Option(None, "--db", help="Database with enrolled voiceprints (default: none used)."),
    ) -> None:
        """Share of speech time whose staff/customer role Parley gets right (transcribes each recording).

        Speech time is scored on the diarized turns with their speaker's role; ``utterance_share``
        scores the stored utterances instead (their times come from the transcript's words)."""
        rows = []
        for path, reference in recordings_with_rttm(audio, rttm):
            row = evaluate_roles(path, reference, db)
            rows.append(row)
            typer.echo(f"{path.name}: roles right on {row['share']:.1%} of {row['speech_s']} s "
                       f"({row['method']}{', flagged' if row['flagged'] else ''}); {row['unsure_utterances']} of "
                       f"{row['utterances']} utterances marked role unsure, {row['unsure_and_wrong']} of the "
                       f"{row['wrong_utterances']} with the wrong role among them")
        right, speech = sum(r["right_s"] for r in rows), sum(r["speech_s"] for r in rows) or 1e-9
        total = {"files": len(rows), "share": round(right / speech, 4), "speech_s": round(speech, 2),
                 "flagged": sum(r["flagged"] for r in rows), "model": rows[0]["model"],
                 **{k: sum(r[k] for r in rows) for k in ("utterances", "wrong_utterances", "unsure_utterances", "unsure_and_wrong")}}
        typer.echo(f"overall, {len(rows)} files: roles right on {total['share']:.1%} of {speech:.0f} s of speech; "
                   f"{total['flagged']} flagged; {total['unsure_utterances']} of {total['utterances']} utterances marked role "
                   f"unsure, {total['unsure_and_wrong']} of the {total['wrong_utterances']} with the wrong role among them")
        typer.echo(json.dumps(rows[0] if len(rows) == 1 else {**total, "per_file": rows}))


def enroll_command(db_path: str | Path, staff_id: str, audio_paths: list[str | Path]) -> dict:
    """Enrol ``staff_id`` from ``audio_paths`` and store the voiceprint in the database at ``db_path``.
    Returns a summary for the CLI to print."""
    from .store import Store

    vp = enroll(staff_id, audio_paths)
    with Store(db_path).connect() as con:
        save_voiceprint(con, vp)
    return {"staff_id": vp.staff_id, "n_clips": vp.n_clips, "speech_s": vp.speech_s, "model": vp.model,
            "model_version": vp.model_version, "db": str(db_path)}
