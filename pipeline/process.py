"""Process one recording, stage by stage: claim, identify, decode, transcribe, store, archive.

The stages are plain functions on plain records. ``Processor.process`` runs them through a
*runner*: ``run_local`` calls each stage in this process (tests, benchmarks); the Prefect flow in
``flows/process_recording.py`` passes a runner that makes each stage a Prefect task, so the same
code is what Prefect orchestrates. Terminal errors quarantine the file; transient ones are retried
and, if they persist, hand the file back to the inbox; nothing is lost or half-written.
"""

from __future__ import annotations

import contextvars
import json
import os
import socket
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__, ingest
from .audio import decode
from .errors import ConfigError, ParleyError, TerminalError, TransientError
from .governance.erasure import refuse_erased
from .governance.files import record_archive
from .ingest import Drop
from .models import describe, whisper_path
from .analysis import AnalysisOptions, check_configuration, redact_stage, redaction_rows, score_stage, tag_rows, tag_stage, warm_up
from .records import DecodedAudio, Transcript, Utterance
from .speaker_models import encoder as speaker_encoder
from .speaker_models import room_encoder
from .recorded import opening_end
from .speakers import SpeakerOptions, attribute_speakers
from .settings import Settings
from .staging import writer_for
from .store import Store
from .transcribe import TranscribeOptions, transcribe, transcribe_workers, whisper_model

Runner = Callable[..., Any]
"""``runner(stage_name, fn, *args)`` runs one stage and returns its result."""

RETRIES = 2
RETRY_DELAY_S = 2.0

CURRENT_FILE: contextvars.ContextVar[str | None] = contextvars.ContextVar("parley_current_file", default=None)
"""The name of the file a stage is working on, while the runner runs it (Prefect names task runs by it)."""


@dataclass
class Outcome:
    """What happened to one dropped file."""

    source_name: str
    status: str
    """done, duplicate, quarantined, retry (handed back to the inbox) or skipped (taken by another worker)."""
    recording_id: str | None = None
    duration_s: float | None = None
    utterances: int = 0
    message: str | None = None
    path: str | None = None
    """Where the file is now (archive or quarantine)."""
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_local(name: str, fn: Callable, *args, **kwargs):
    """Run a stage in this process, retrying transient errors like the Prefect tasks do."""
    for attempt in range(RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except TransientError:
            if attempt == RETRIES:
                raise
            time.sleep(RETRY_DELAY_S * (attempt + 1))


# -- stages ------------------------------------------------------------------------------------
METADATA_LOOKALIKES = (".yaml", ".yml", ".xml", ".csv", ".txt", ".toml", ".ini")
"""Extensions of files dropped as a recording's metadata in a format Parley does not read as a
sidecar (``ingest.SIDECAR_SUFFIX``, JSON): quarantined with a fix that says so."""


def identify(drop: Drop, filename_pattern: str, audio_extensions: list[str]) -> Drop:
    """Hash the content (the recording id), check the file type, read the metadata."""
    drop.sha256, drop.size_bytes = ingest.sha256_file(drop.path)
    suffix = Path(drop.source_name).suffix.lower()
    if suffix in METADATA_LOOKALIKES and suffix not in audio_extensions:  # metadata in another format: say what a sidecar is
        stem = Path(drop.source_name).stem
        raise TerminalError(
            f"'{suffix}' is not a recording type Parley takes, and sidecars are JSON: a recording's metadata is read "
            f"from NAME.json beside it only",
            fix=f"write the metadata as {stem}.json beside the recording before dropping it, e.g. "
                '{"staff_id": "S1042", "team": "billing", "channel": "face-to-face"}; for a recording taken '
                "already, drop it again with its JSON: the fields it lacks are filled in (speakers and scores are not redone)",
            stage="ingest",
        )
    if suffix not in audio_extensions:
        raise TerminalError(
            f"'{suffix or 'no extension'}' is not a recording type Parley takes",
            fix=f"drop audio files ({', '.join(audio_extensions)}), or add the extension to PARLEY_AUDIO_EXTENSIONS",
            stage="ingest",
        )
    drop.meta, drop.metadata_source = ingest.read_metadata(drop, filename_pattern)
    return drop


def decode_stage(drop: Drop, max_duration_s: float) -> DecodedAudio:
    try:
        return decode(drop.path, max_duration_s=max_duration_s)
    except TerminalError as exc:
        exc.path = drop.source_name  # name the file as dropped, not its claimed path
        raise


def transcribe_stage(audio: DecodedAudio, options: TranscribeOptions) -> Transcript:
    return transcribe(audio, options)


def _final(future: Future) -> Any:
    """What a batch job came to: an ``Outcome``, or the ``Future`` of its analysis, waited for."""
    result = future.result()
    return _final(result) if isinstance(result, Future) else result


def _finished(future: Future) -> bool:
    """A batch job and the analysis it handed on are both done."""
    return future.done() and (future.exception() is not None or not isinstance(future.result(), Future) or _finished(future.result()))


# -- the processor -----------------------------------------------------------------------------
@dataclass
class _Pending:
    """A recording between its transcription and its analysis (in memory, one process)."""

    run_id: str
    started: datetime
    timings: dict[str, float]
    runner: Runner
    name: str = ""
    """The file's name as dropped."""
    drop: Drop | None = None
    audio: DecodedAudio | None = None
    transcript: Transcript | None = None

    def stage(self, name: str, fn: Callable, *args):
        """Run one stage through the runner and add its wall time to ``timings``."""
        t0 = time.perf_counter()
        token = CURRENT_FILE.set(self.name)
        try:
            return self.runner(name, fn, *args)
        finally:
            CURRENT_FILE.reset(token)
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


class Processor:
    """Processes files into one database with one set of settings; models stay loaded."""

    def __init__(self, settings: Settings | None = None, *, move: bool = True, flow_run_id: str | None = None):
        self.settings = settings or Settings()
        if self.settings.node:
            os.environ.setdefault("PARLEY_NODE", self.settings.node)  # claims and content locks name this machine
        self.store = writer_for(self.settings)  # the database, or a staging folder for multi-worker set-ups
        self.db = Store(self.settings.db, self.settings.db_lock_timeout_s)  # reads (voiceprints) always come from the database
        self.options = TranscribeOptions.from_settings(self.settings)
        self.speaker_options = SpeakerOptions.from_settings(self.settings)
        self.analysis = AnalysisOptions.from_settings(self.settings)
        whisper_path(self.options.model)  # a bad model name or a broken taxonomy/rule/rubric
        check_configuration(self.analysis)  # fails here, before any file is touched
        self._warm: Future | None = None
        self._content_locks: set[str] = set()
        """Content hashes this processor holds the inbox's content lock for (released after each batch)."""
        self._content_lock = threading.Lock()
        self.move = move
        self.flow_run_id = flow_run_id

    def process(self, path: Path, runner: Runner = run_local) -> Outcome:
        """Claim ``path`` and take it all the way to the archive or the quarantine."""
        self._warm_up()
        try:
            first = self._front(Path(path), runner)
            return first if isinstance(first, Outcome) else self._back(first, runner)
        finally:
            self._unlock_content()

    def _warm_up(self) -> Future:
        """The analysis models loading in the background, started on the first call: they load
        while the first file is claimed, decoded and transcribed, and its analysis waits for them."""
        if self._warm is None:
            loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-warm-up")
            self._warm = loader.submit(warm_up, self.analysis)
            loader.shutdown(wait=False)  # the thread ends when the models are loaded
        return self._warm

    def process_many(
        self,
        paths: list[Path],
        runner: Runner = run_local,
        on_outcome: Callable[[Outcome], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Outcome]:
        """``process`` every path, overlapping recordings: ``transcribe_workers`` threads each
        claim, decode and transcribe one recording at a time (one model worker each), while one
        thread analyses and stores the transcribed ones (speakers, redaction, tagging, rules).
        Outcomes are reported in the order of ``paths``. A configuration error stops the batch:
        no new file is claimed, the ones under way finish and are reported, then the error is
        raised. Once ``should_stop()`` is true (Ctrl-C in `parley watch`), no new file is claimed:
        the ones under way finish and are reported."""
        workers = transcribe_workers(self.options)
        held = threading.Semaphore(workers + 2)  # recordings in memory between claim and store
        latest: dict[str, Future] = {}  # content hash -> done when the batch's latest copy of it is
        latest_lock = threading.Lock()
        stop = threading.Event()
        outcomes: list[Outcome] = []
        started: list[Future] = []
        errors: list[BaseException] = []

        def report_finished(wait: bool) -> None:
            while started and (wait or _finished(started[0])):
                try:
                    outcome = _final(started.pop(0))
                except Exception as exc:  # noqa: BLE001 - a configuration error: raised once the rest is reported
                    stop.set()
                    errors.append(exc)
                    continue
                if outcome is None:  # not begun: the batch had stopped
                    continue
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)

        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-analyse") as back, \
                    ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parley-transcribe") as front:

                def submit(executor: ThreadPoolExecutor, fn: Callable, *args) -> Future:
                    # the caller's context goes along (a Prefect flow run: the stages' task runs join it)
                    return executor.submit(contextvars.copy_context().run, fn, *args)

                def settled(analysis: Future) -> None:
                    held.release()
                    if analysis.exception() is not None:  # a configuration error: claim nothing more
                        stop.set()

                def one(path: Path) -> "Outcome | Future | None":
                    """Claim, decode and transcribe ``path``; its analysis is handed on (a Future)."""
                    mine: Future | None = None
                    handed_on = False
                    try:
                        if stop.is_set():
                            return None
                        read = self._read(path, runner)
                        if isinstance(read, _Pending):
                            with latest_lock:  # byte-identical copies in one batch queue up behind each other
                                before = latest.get(read.drop.sha256)
                                latest[read.drop.sha256] = mine = Future()
                            if before is not None:  # a duplicate once the copy before it is stored
                                before.result()
                                pending = read
                                read = self._guarded(pending.drop, pending.run_id, lambda: self._if_done(pending) or pending)
                        result = self._transcribe(read) if isinstance(read, _Pending) else read
                        if isinstance(result, Outcome):
                            return result
                        analysis = submit(back, self._back, result, runner)
                        handed_on = True
                        analysis.add_done_callback(settled)
                        analysis.add_done_callback(lambda _, copy=mine: copy.set_result(None))
                        mine = None
                        return analysis
                    except BaseException:
                        stop.set()  # a configuration error (its file is back in the inbox): claim nothing more
                        raise
                    finally:
                        if mine is not None:
                            mine.set_result(None)
                        if not handed_on:
                            held.release()

                try:
                    if paths:
                        self._warm_up()
                    for path in paths:
                        while not held.acquire(timeout=0.05):
                            report_finished(wait=False)
                        if should_stop is not None and should_stop():
                            stop.set()
                        if stop.is_set():
                            held.release()
                            break
                        started.append(submit(front, one, Path(path)))
                        if len(started) == 1:
                            whisper_model(self.options)  # loads while the first file is claimed and decoded
                        report_finished(wait=False)
                    report_finished(wait=True)
                except BaseException:  # an interrupt, or the model failing to load: files not begun stay unclaimed
                    stop.set()
                    front.shutdown(wait=False, cancel_futures=True)
                    raise
            if errors:
                raise errors[0]
        finally:  # after every thread is done (leaving the with-block waits for them)
            self._unlock_content()
        return outcomes

    def _lock_content(self, drop: Drop) -> "Outcome | None":
        """Take the inbox's content lock for this file's hash; if another live worker holds it
        (it claimed a byte-identical copy), give the file back and skip it: on the next poll it
        is recorded as a duplicate of what that worker stored."""
        with self._content_lock:  # a batch's transcription threads may hold copies of the same content
            if not self.move or drop.sha256 in self._content_locks:
                return None
            holder = ingest.lock_content(self.settings.inbox, drop.sha256, lease_s=self.settings.claim_lease_s)
            if holder is None:
                self._content_locks.add(drop.sha256)
                return None
        ingest.release(drop)
        return Outcome(drop.source_name, "skipped", drop.sha256, message=f"the same content is being processed by {holder}; checked again on the next poll")

    def _unlock_content(self) -> None:
        for sha256 in self._content_locks:
            ingest.unlock_content(self.settings.inbox, sha256)
        self._content_locks.clear()

    def _front(self, path: Path, runner: Runner) -> "Outcome | _Pending":
        """Claim, identify, skip duplicates, decode, transcribe."""
        read = self._read(path, runner)
        return read if isinstance(read, Outcome) else self._transcribe(read)

    def _read(self, path: Path, runner: Runner) -> "Outcome | _Pending":
        """Claim, identify, skip content already done, decode."""
        pending = _Pending(run_id=str(uuid.uuid4()), started=_now(), timings={}, runner=runner, name=path.name)
        try:
            drop = pending.stage("claim", self._claim, path)
        except TransientError as exc:  # e.g. a read-only inbox subfolder: that file waits, the batch goes on
            return Outcome(path.name, "retry", message=exc.one_line(), path=str(path))
        if drop is None:
            return Outcome(path.name, "skipped", message="claimed by another worker")
        pending.drop = drop

        def body():
            pending.stage("identify", identify, drop, self.settings.filename_pattern, self.settings.audio_extensions)
            refuse_erased(self.db, drop.sha256, self.settings.readmit_erased)  # erased content is not taken again
            busy = self._lock_content(drop)
            if busy is not None:
                return busy
            duplicate = self._if_done(pending)
            if duplicate is not None:
                return duplicate
            pending.audio = pending.stage("decode", decode_stage, drop, self.settings.max_duration_s)
            return pending

        return self._guarded(drop, pending.run_id, body)

    def _transcribe(self, pending: "_Pending") -> "Outcome | _Pending":
        """Transcribe a decoded recording."""

        def body():
            pending.transcript = pending.stage("transcribe", transcribe_stage, pending.audio, self.options)
            return pending

        return self._guarded(pending.drop, pending.run_id, body)

    def _if_done(self, pending: "_Pending") -> "Outcome | None":
        """The duplicate's outcome when this content is already processed, else None."""
        state = self.store.recording_state(pending.drop.sha256)
        if state and state[0] == "done":
            pending.audio = None
            return self._duplicate(pending.drop, state[1], pending.run_id, pending.started, pending.timings)
        return None

    def _back(self, pending: "_Pending", runner: Runner) -> Outcome:
        """Speakers, redaction, tags, scorecards, then one transaction, then the archive."""
        drop, audio, transcript, stage = pending.drop, pending.audio, pending.transcript, pending.stage

        def body():
            self._warm_up().result()  # the tagger is loaded (or its configuration error is raised here)
            utterances, tables, spans = self._analyse(stage, drop, audio, transcript)
            target = drop.path
            if self.move:
                target = ingest.archive_path(self.settings.archive, drop, pending.started, redacted=bool(spans))
            rows = recording_rows(drop, audio, transcript, utterances, target, pending.run_id, pending.started)
            rows["tables"] |= tables
            run = self._run_row(pending.run_id, drop, pending.started, pending.timings, "done", transcript)
            if self.move and ingest.claim_lost(drop):  # this worker stalled past its lease; another took the file back
                return Outcome(drop.source_name, "skipped", drop.sha256, message="the claim's lease ran out and the file went back to the inbox; another worker takes it")
            stage("store", self._store, drop, rows, run)
            if self.move:
                stage("archive", self._archive, drop, target, [(sp.start_s, sp.end_s) for sp in spans], audio)
            return Outcome(
                drop.source_name, "done", drop.sha256, audio.info.duration_s, len(utterances), path=str(target), timings=pending.timings
            )

        return self._guarded(drop, pending.run_id, body)

    def _guarded(self, drop: Drop, run_id: str, body: Callable[[], Any]) -> Any:
        """Run ``body``; a failure becomes an outcome (quarantine, or back to the inbox) and never
        stops the batch, except a configuration error, which stops it before the next file."""
        try:
            return body()
        except TransientError as exc:
            return self._retry_later(drop, exc, run_id)
        except ConfigError:
            if self.move:
                ingest.release(drop)  # the file is fine; the set-up is not
            raise
        except ParleyError as exc:
            return self._quarantine(drop, exc, run_id, "terminal")
        except Exception as exc:  # noqa: BLE001 - a bug or a model crash on odd input must not stop the batch
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            wrapped = TerminalError(f"internal error while processing ({detail})", fix="report this with the file to the Parley maintainers", path=drop.source_name)
            return self._quarantine(drop, wrapped, run_id, "internal", tb=traceback.format_exc())

    def _analyse(self, stage: Callable, drop: Drop, audio: DecodedAudio, transcript: Transcript):
        """Speakers, redaction, tags, rules and scorecards: (utterances, table rows, redacted spans)."""
        speakers = stage("speakers", attribute_speakers, audio, transcript, drop.meta, self.speaker_options, self._voiceprints())
        utterances = speakers.utterances
        tables: dict[str, list[dict]] = dict(speakers.rows)
        spans: list = []
        if self.analysis.redaction:  # before anything else sees the text
            redaction = stage("redact", redact_stage, utterances, self.analysis.keep_raw_text, self.options.vocabulary)
            spans = redaction.spans
            tables |= redaction_rows(redaction)
        tags = []
        if self.analysis.tagging:
            tags = stage("tag", tag_stage, utterances, drop.meta, self.analysis)
            tables |= tag_rows(tags)
        if self.analysis.scoring:
            scored = stage("score", score_stage, utterances, tags, speakers.rows["dynamics"], audio.info.duration_s, self.analysis, drop.meta.channel,
                           opening_end(speakers.turns, utterances))
            tables |= scored.rows()
        return utterances, tables, spans

    # -- stage bodies needing the processor's state --------------------------------------
    def _claim(self, path: Path) -> Drop | None:
        if not self.move:
            return Drop(path=path, source_name=path.name, source_dir=path.parent, received_at=_now(), sidecar=ingest.sidecar_for(path))
        return ingest.claim(path, lease_s=self.settings.claim_lease_s, run=self.flow_run_id)

    def _store(self, drop: Drop, rows: dict[str, Any], run: dict[str, Any]) -> None:
        self.store.write_recording(
            rows["recording"], rows["tables"], recording_id=drop.sha256, run=run, drop=_drop_row(drop, "processed", None, run["run_id"])
        )

    def _archive(self, drop: Drop, target: Path, spans: list[tuple[float, float]], audio: DecodedAudio | None = None) -> None:
        """Move the file to the archive; with redacted spans, archive a silenced copy instead,
        made from ``audio`` (the decoded 16 kHz channels) unless ``redacted_copy`` is original."""
        try:
            if spans:
                from .redact import write_redacted_audio

                source = None  # "original": decoded again at its own rate
                if self.settings.redacted_copy == "speech":  # no audio here: a crash came between store and archive
                    source = audio if audio is not None else decode_stage(drop, self.settings.max_duration_s)
                tmp = target.with_name(f".{target.name}.parley-tmp{target.suffix}")
                write_redacted_audio(drop.path, tmp, spans, mode=self.settings.redaction_audio, audio=source)
                os.replace(tmp, target)
                if self.settings.keep_original_audio:
                    ingest.move_to_archive(drop, target.with_name(f"{target.stem}.original{Path(drop.source_name).suffix}"))
                else:
                    ingest.discard(drop)
            else:
                ingest.move_to_archive(drop, target)
        except OSError as exc:
            raise TransientError(
                f"the recording is stored but could not be moved to the archive {target.parent} ({exc.strerror or exc})",
                fix="free disk space or make the archive folder writable; the file stays in the inbox and is archived on the next run",
                path=drop.source_name,
                stage="archive",
            ) from exc
        record_archive(self.store, drop.sha256, target, drop.source_name)  # the archived files' hashes, chained

    def _voiceprints(self) -> dict:
        """Enrolled staff voiceprints (read per recording, so a new enrolment counts at once)."""
        from .voiceprints import load_voiceprints

        if not self.db.path.exists():
            return {}
        with self.db.connect(read_only=True) as con:  # a read: never hold up `parley sql`
            return load_voiceprints(con)

    # -- outcomes ------------------------------------------------------------------------
    def _duplicate(self, drop: Drop, archived: str | None, run_id: str, started: datetime, timings) -> Outcome:
        """Same content seen before: record the drop; finish an archive move a crash interrupted."""
        if self.move and archived and not Path(archived).exists():
            self._archive(drop, Path(archived), self.store.redaction_spans(drop.sha256))
            outcome, detail = "processed", "archived after an interrupted run"
        else:
            outcome, detail = "duplicate", f"same content as recording {drop.sha256[:12]}"
            filled = self._merge_metadata(drop)
            if filled:
                detail += f"; its {drop.metadata_source} filled {', '.join(filled)}"
            if self.move:
                ingest.discard(drop)  # the bytes are the stored recording's; its metadata is in the drops row
        self.store.append("drops", [_drop_row(drop, outcome, detail, run_id)])
        status = "done" if outcome == "processed" else "duplicate"
        return Outcome(drop.source_name, status, drop.sha256, message=detail, path=archived, timings=timings)

    def _merge_metadata(self, drop: Drop) -> list[str]:
        """A duplicate's metadata fills the fields the stored recording lacks (the copy without a
        sidecar may have won the race); a field both have keeps the stored value, and the drops
        row keeps the duplicate's own. Returns the fields filled."""
        fields = {k: v for k, v in drop.meta.as_dict().items() if k != "extra" and v not in (None, "")}
        if drop.metadata_source == "none" or not (fields or drop.meta.extra):
            return []
        return self.store.merge_metadata(drop.sha256, fields, drop.meta.extra or {}, drop.metadata_source)

    def _quarantine(self, drop: Drop, exc: ParleyError, run_id: str, kind: str, tb: str | None = None) -> Outcome:
        exc.path = drop.source_name
        message = exc.one_line()
        target = None
        if self.move:
            try:
                target = ingest.quarantine(
                    drop,
                    self.settings.quarantine,
                    message,
                    {"stage": exc.stage, "kind": kind, "sha256": drop.sha256, "when": _now().isoformat(timespec="seconds"), "traceback": tb},
                )
            except TransientError as unwritable:  # full or read-only quarantine: keep the file, say why
                return self._retry_later(drop, unwritable, run_id)
        self._record_error(drop, exc, run_id, kind, target)
        self.store.append("drops", [_drop_row(drop, "quarantined", message, run_id)])
        return Outcome(drop.source_name, "quarantined", drop.sha256, message=message, path=str(target) if target else None)

    def _retry_later(self, drop: Drop, exc: TransientError, run_id: str) -> Outcome:
        if self.move:
            ingest.release(drop)
        try:
            self._record_error(drop, exc, run_id, "transient", None)
        except ParleyError:
            pass  # the database itself is what is unavailable; the message below still says why
        return Outcome(drop.source_name, "retry", drop.sha256, message=exc.one_line(), path=str(drop.source_dir / drop.source_name))

    def _record_error(self, drop: Drop, exc: ParleyError, run_id: str, kind: str, target: Path | None) -> None:
        """One ``errors`` row per problem: a transient error that repeats (the same file, stage and
        message, no outcome since) counts another attempt on its first row instead."""
        self.store.record_error(
                {
                    "error_id": str(uuid.uuid4()),
                    "occurred_at": _now(),
                    "recording_id": drop.sha256,
                    "source_name": drop.source_name,
                    "source_path": str(drop.source_dir),
                    "stage": exc.stage,
                    "kind": kind,
                    "message": exc.one_line(),
                    "fix": exc.fix,
                    "quarantine_path": str(target) if target else None,
                    "run_id": run_id,
                }
        )

    def _run_row(self, run_id: str, drop: Drop, started: datetime, timings: dict, status: str, transcript: Transcript) -> dict:
        return {
            "run_id": run_id,
            "recording_id": drop.sha256,
            "source_name": drop.source_name,
            "flow_run_id": self.flow_run_id,
            "pipeline_version": __version__,
            "settings_hash": self.settings.output_hash(),
            "settings": json.loads(self.settings.model_dump_json()),
            "models": {
                "whisper": describe(self.options.model, kind="whisper"),
                "encoder": describe(self.analysis.encoder),
                # the encoders this run's settings give a two-person call and any other recording
                "speaker": describe(speaker_encoder(self.settings.speaker_model, two_person=True).name, kind="speaker"),
                "speaker_other": describe(speaker_encoder(self.settings.speaker_model).name, kind="speaker"),
                # heard beside it by the count rules of a recording whose count is estimated (auto: CAM++)
                "speaker_other_rules": (describe(room.name, kind="speaker")
                                        if (room := room_encoder(self.settings.speaker_model)) else None),
            },
            "redecodes": transcript.decoding.get("redecoded") if transcript.decoding else None,
            "decoding": transcript.decoding or None,
            "timings": timings,  # serialised when the store stage inserts it: the stages before it
            "started_at": started,
            "finished_at": _now(),
            "status": status,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }


def recording_rows(
    drop: Drop, audio: DecodedAudio, transcript: Transcript, utterances: list[Utterance], archive: Path, run_id: str, started: datetime
) -> dict:
    """The ``recordings`` row and the utterance/word rows of one processed recording."""
    meta = drop.meta
    recording = {
        "id": drop.sha256,
        "source_name": drop.source_name,
        "source_path": str(drop.source_dir),
        "archive_path": str(archive),
        "size_bytes": drop.size_bytes,
        "format": audio.info.format,
        "codec": audio.info.codec,
        "layout": audio.info.layout,
        "channels": audio.info.channels,
        "sample_rate": audio.info.sample_rate,
        "duration_s": audio.info.duration_s,
        **{k: getattr(meta, k) for k in ("staff_id", "team", "site", "channel", "direction", "customer_ref", "started_at", "n_speakers")},
        "metadata_source": drop.metadata_source,
        "metadata_extra": meta.extra or None,
        "language": transcript.language,
        "status": "done",
        "received_at": drop.received_at,
        "processed_at": _now(),
        "run_id": run_id,
    }
    utterance_rows, words = [], []
    for u in utterances:
        utterance_rows.append(
            {
                "idx": u.index, "speaker": u.speaker, "role": u.role, "role_confidence": u.role_confidence, "channel": u.channel,
                "start_s": u.start, "end_s": u.end, "text": u.text, "avg_logprob": u.avg_logprob,
                "no_speech_prob": u.no_speech_prob, "n_words": len(u.words), "voice_margin": u.voice_margin,
                "role_unsure": u.role_unsure if u.voice_margin is not None else None,  # NULL where no voices were compared
            }
        )
        for i, w in enumerate(u.words):
            words.append(
                {
                    "utterance_idx": u.index, "idx": i, "start_s": w.start, "end_s": w.end, "word": w.word,
                    "probability": w.probability, "speaker": w.speaker, "channel": w.channel,
                }
            )
    return {"recording": recording, "tables": {"utterances": utterance_rows, "words": words}}


def _drop_row(drop: Drop, outcome: str, detail: str | None, run_id: str) -> dict:
    return {
        "drop_id": str(uuid.uuid4()),
        "recording_id": drop.sha256,
        "source_name": drop.source_name,
        "source_path": str(drop.source_dir),
        "size_bytes": drop.size_bytes,
        "received_at": drop.received_at,
        "outcome": outcome,
        "detail": detail,
        "metadata": {k: v for k, v in drop.meta.as_dict().items() if v not in (None, {}, "")} or None,
        "run_id": run_id,
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)
