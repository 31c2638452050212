"""Speaker commands for the ``parley`` CLI: ``eval diarization`` and staff enrolment.

``register(eval_app)`` adds ``parley eval diarization --audio WAV --rttm RTTM [--collar S]``,
which prints the diarization error rate (pyannote.metrics) and, last, one JSON line.
``enroll_command`` is what ``parley staff enroll STAFF_ID AUDIO...`` runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from .diarize import diarize
from .errors import ConfigError
from .models import describe
from .voiceprints import enroll, save_voiceprint


def read_rttm(path: str | Path) -> list[tuple[float, float, str]]:
    """(start, end, speaker) for every SPEAKER line of an RTTM file."""
    turns = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
        except (IndexError, ValueError) as exc:
            raise ConfigError(
                f"line {n} is not an RTTM SPEAKER line ({line.strip()!r})",
                fix="use 'SPEAKER file 1 START DURATION <NA> <NA> NAME <NA> <NA>'",
                path=path,
            ) from exc
    if not turns:
        raise ConfigError("no SPEAKER lines", fix="give an RTTM file of who spoke when", path=path)
    return turns


def evaluate_diarization(
    audio_path: str | Path, rttm_path: str | Path, collar: float = 0.25, n_speakers: int | None = None
) -> dict:
    """Diarize ``audio_path`` and score it against ``rttm_path``: DER and its parts (pyannote.metrics,
    ``collar`` seconds forgiven around each reference boundary, overlapped speech scored)."""
    from faster_whisper import decode_audio
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = read_rttm(rttm_path)
    samples = decode_audio(str(audio_path), sampling_rate=16000)
    started = time.perf_counter()
    turns = diarize(samples, n_speakers=n_speakers)
    elapsed = time.perf_counter() - started

    def annotation(spans: list[tuple[float, float, str]]) -> Annotation:
        out = Annotation()
        for start, end, speaker in spans:
            out[Segment(start, end)] = speaker
        return out

    parts = DiarizationErrorRate(collar=collar, skip_overlap=False)(
        annotation(reference),
        annotation([(t.start, t.end, t.speaker) for t in turns]),
        uem=Timeline([Segment(0, max(len(samples) / 16000, max(end for _, end, _ in reference)))]),
        detailed=True,
    )
    return {
        "audio": str(audio_path),
        "der": round(parts["diarization error rate"], 4),
        "missed_s": round(parts["missed detection"], 3),
        "false_alarm_s": round(parts["false alarm"], 3),
        "confusion_s": round(parts["confusion"], 3),
        "scored_s": round(parts["total"], 3),
        "collar": collar,
        "n_speakers_ref": len({s for _, _, s in reference}),
        "n_speakers_hyp": len({t.speaker for t in turns}),
        "duration_s": round(len(samples) / 16000, 2),
        "diarize_s": round(elapsed, 2),
        "model": describe("resemblyzer", kind="speaker"),
    }


def register(eval_app: typer.Typer) -> None:
    """Add the ``diarization`` command to ``parley eval``."""

    @eval_app.command("diarization")
    def diarization(
        audio: Path = typer.Option(..., "--audio", exists=True, dir_okay=False, help="Recording to diarize."),
        rttm: Path = typer.Option(..., "--rttm", exists=True, dir_okay=False, help="Reference: who spoke when."),
        collar: float = typer.Option(0.25, "--collar", help="Seconds forgiven either side of each reference boundary."),
        n_speakers: int | None = typer.Option(None, "--speakers", help="Number of speakers if known (default: estimate)."),
    ) -> None:
        """Diarization error rate of Parley's diarization against an RTTM reference."""
        result = evaluate_diarization(audio, rttm, collar, n_speakers)
        typer.echo(
            f"DER {result['der']:.1%} (missed {result['missed_s']} s, false alarm {result['false_alarm_s']} s, "
            f"confusion {result['confusion_s']} s of {result['scored_s']} s); speakers {result['n_speakers_hyp']} "
            f"found, {result['n_speakers_ref']} in the reference"
        )
        typer.echo(json.dumps(result))


def enroll_command(db_path: str | Path, staff_id: str, audio_paths: list[str | Path]) -> dict:
    """Enrol ``staff_id`` from ``audio_paths`` and store the voiceprint in the database at ``db_path``.
    Returns a summary for the CLI to print."""
    from .store import Store

    vp = enroll(staff_id, audio_paths)
    with Store(db_path).connect() as con:
        save_voiceprint(con, vp)
    return {"staff_id": vp.staff_id, "n_clips": vp.n_clips, "speech_s": vp.speech_s, "model": vp.model,
            "model_version": vp.model_version, "db": str(db_path)}
