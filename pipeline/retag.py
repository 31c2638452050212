"""``parley retag``: run the taggers again over stored transcripts, without transcribing again.

Taxonomies, training data or the encoder changed: every stored interaction (or those since a
date) gets new ``tags`` rows under a new run id (its ``runs`` row says ``retag``), and the
scorecards, which use tags, are recomputed with the current rubrics.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import date, datetime, timezone
from typing import Callable

from . import __version__
from .analysis import AnalysisOptions, tag_rows, tagging_options
from .models import describe
from .queries import existing_columns
from .records import RecordingMeta, Utterance
from .settings import Settings
from .store import Store

_UTTERANCES = """SELECT idx, speaker, role, role_confidence, channel, start_s, end_s, text, {voices}
                 FROM utterances WHERE recording_id = ? ORDER BY idx"""


def stored_utterances(store: Store, recording_id: str) -> list[Utterance]:
    """A stored interaction's utterances (their stored text is the redacted text), with their
    voice margins where the database has them (migration 0013)."""
    with store.connect(read_only=True) as con:
        voices = "voice_margin, role_unsure" if {"voice_margin", "role_unsure"} <= existing_columns(con, "utterances") else "NULL, NULL"
    return [
        Utterance(index=i, speaker=spk, role=role, role_confidence=conf, channel=ch, start=start, end=end, text=text or "", redacted_text=text,
                  voice_margin=margin, role_unsure=bool(unsure))
        for i, spk, role, conf, ch, start, end, text, margin, unsure in store.query(_UTTERANCES.format(voices=voices), [recording_id]).rows
    ]


def retag(settings: Settings, since: date | None = None, on_progress: Callable[[str], None] | None = None) -> int:
    """Re-tag stored interactions (started or processed on/after ``since``); returns how many."""
    from .scoring import rescore
    from .tagging import load_tagger

    store = Store(settings.db, settings.db_lock_timeout_s)
    options = AnalysisOptions.from_settings(settings)
    tagger = load_tagger(tagging_options(options))
    recordings = store.query(
        """SELECT id, staff_id, team, site, channel, direction, customer_ref, started_at FROM recordings
           WHERE status = 'done' AND (CAST(? AS DATE) IS NULL OR coalesce(started_at, processed_at) >= CAST(? AS DATE))
             AND id IN (SELECT recording_id FROM utterances)  -- a transcript the retention policy deleted is not re-tagged as empty
           ORDER BY coalesce(started_at, processed_at)""",
        [since, since],
    ).rows
    for rec_id, staff_id, team, site, channel, direction, customer_ref, started_at in recordings:
        t0, started = time.perf_counter(), datetime.now(timezone.utc)
        meta = RecordingMeta(staff_id=staff_id, team=team, site=site, channel=channel, direction=direction, customer_ref=customer_ref, started_at=started_at)
        tags = tagger.tag(stored_utterances(store, rec_id), meta)
        run_id = str(uuid.uuid4())
        run = {
            "run_id": run_id, "recording_id": rec_id, "pipeline_version": __version__, "settings_hash": settings.output_hash(),
            "settings": json.loads(settings.model_dump_json()), "models": {"encoder": describe(options.encoder)},
            "timings": {"tag": round(time.perf_counter() - t0, 4)}, "started_at": started, "finished_at": datetime.now(timezone.utc),
            "status": "retag", "host": socket.gethostname(), "pid": os.getpid(),
        }
        store.write_recording(None, tag_rows(tags), recording_id=rec_id, run=run, replace_all=False)
        if on_progress:
            on_progress(rec_id)
    if recordings and options.scoring:
        with store.connect() as con:
            for rubric_file in sorted(options.rubrics.glob("*.yaml")):  # the files load_rubrics reads
                rescore(con, rubric_file)
    return len(recordings)
