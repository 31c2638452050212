"""Staff voiceprints: enrol a staff member's voice from clips, store it, load it, compare it.

A voiceprint is the L2-normalised mean of speaker embeddings (the ``speaker_model`` setting's
encoder outside a two-person call: resemblyzer under the default ``auto``; the model is stored
with it) of the speech in a few clips of one staff member speaking alone. To compare, a
recording's speakers are embedded again with the voiceprint's own encoder, whichever encoder
diarized the recording (voiceprints of another encoder than the staff member's own, else than
most voiceprints', are skipped). It lives in the ``voiceprints`` table (one row per staff
member; enrolling again replaces it). A second print is made from the same clips through the
telephone band: an 8 kHz recording's voices are compared with that one (``on_the_line``). The
functions taking ``con`` use a DuckDB connection the caller opened (``Store.connect()``), so
locking and migrations stay in ``store.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .diarize import embed_spans, speech_seconds
from .errors import TerminalError
from .speaker_models import encoder, telephone_band

MIN_SPEECH_S = 3.0
"""Enrolment needs at least this much speech in all clips together."""


@dataclass
class Voiceprint:
    """One staff member's enrolled voice."""

    staff_id: str
    embedding: np.ndarray
    """L2-normalised (192 floats for CAM++, 256 for resemblyzer)."""
    n_clips: int
    speech_s: float
    """Seconds of speech the embedding was made from."""
    model: str = "resemblyzer"
    model_version: str = ""
    enrolled_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    telephone_embedding: np.ndarray | None = None
    """The same clips through the telephone band (``speaker_models.telephone_band``), L2-normalised:
    what an 8 kHz recording's voices are compared with. None: enrolled before round 47."""


def on_the_line(voiceprints: dict[str, Voiceprint] | None, telephone: bool) -> dict[str, Voiceprint] | None:
    """The voiceprints to compare a recording's voices with: for a telephone-band recording (8 kHz
    or less) each one's telephone-band print where it has one. A wideband print seldom matches the
    same voice down a phone line: LibriSpeech pairs and triples through the band, the enrolled
    speaker found as staff in 10 of 50 trials (resemblyzer; CAM++ 12) with the wideband print, 45 of
    50 (CAM++ 50) with the telephone-band one; 50 of 50 at 16 kHz (round 47)."""
    if not voiceprints or not telephone:
        return voiceprints
    return {sid: replace(vp, embedding=vp.telephone_embedding) if vp.telephone_embedding is not None else vp
            for sid, vp in voiceprints.items()}


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two voice embeddings (1 = same direction)."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def enroll(staff_id: str, audio_paths: list[str | Path]) -> Voiceprint:
    """Build a voiceprint from clips of one staff member speaking alone (any format ffmpeg reads)."""
    from faster_whisper import decode_audio

    if not audio_paths:
        raise TerminalError(f"no clips given to enrol staff member {staff_id}", fix="pass one or more audio files")
    vectors, banded, total = [], [], 0.0
    for path in audio_paths:
        try:
            samples = decode_audio(str(path), sampling_rate=16000)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
            raise TerminalError(f"cannot decode the audio ({exc})", fix="pass a readable audio file", path=path) from exc
        vector = embed_spans(samples)
        if vector is None:
            raise TerminalError("no speech found in this clip", fix="pass a clip of the staff member speaking", path=path)
        vectors.append(vector)
        on_line = embed_spans(telephone_band(samples))
        if on_line is not None:  # (speech too faint once band-limited: that clip is left out of the print)
            banded.append(on_line)
        total += speech_seconds(samples)
    if total < MIN_SPEECH_S:
        raise TerminalError(
            f"only {total:.1f} s of speech in the clips for {staff_id}",
            fix=f"give at least {MIN_SPEECH_S:.0f} s of the staff member speaking alone",
            path=audio_paths[0],
        )
    model = encoder()
    return Voiceprint(
        staff_id=staff_id,
        embedding=_unit_mean(vectors),
        n_clips=len(vectors),
        speech_s=round(total, 2),
        model=model.name,
        model_version=model.version,
        telephone_embedding=_unit_mean(banded) if banded else None,
    )


def _unit_mean(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(vectors, axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def save_voiceprint(con, vp: Voiceprint) -> None:
    """Insert or replace ``vp`` in the ``voiceprints`` table (in one transaction)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM voiceprints WHERE staff_id = ?", [vp.staff_id])
        con.execute(
            "INSERT INTO voiceprints (staff_id, embedding, n_clips, speech_s, model, model_version, enrolled_at, telephone_embedding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [vp.staff_id, [float(x) for x in vp.embedding], vp.n_clips, vp.speech_s, vp.model, vp.model_version, vp.enrolled_at,
             None if vp.telephone_embedding is None else [float(x) for x in vp.telephone_embedding]],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def load_voiceprints(con) -> dict[str, Voiceprint]:
    """Every enrolled voiceprint, by staff id ({} where the database has no ``voiceprints`` table
    yet: a reader may open one no Parley with speakers has written to)."""
    from .store import table_names

    if "voiceprints" not in table_names(con):
        return {}
    banded = "telephone_embedding" if has_telephone_prints(con) else "NULL"
    rows = con.execute(
        f"SELECT staff_id, embedding, n_clips, speech_s, model, model_version, enrolled_at, {banded} FROM voiceprints"
    ).fetchall()
    return {
        r[0]: Voiceprint(r[0], np.asarray(r[1], dtype=np.float32), r[2], r[3], r[4], r[5], r[6],
                         None if r[7] is None else np.asarray(r[7], dtype=np.float32)) for r in rows
    }


def has_telephone_prints(con) -> bool:
    """Whether the ``voiceprints`` table has its telephone-band column (a database a reader opens
    before any newer Parley wrote to it may not)."""
    return bool(con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'voiceprints' "
                            "AND column_name = 'telephone_embedding' AND database_name = current_database() "
                            "AND schema_name = current_schema()").fetchone()[0])
