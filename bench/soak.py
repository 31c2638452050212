"""Soak: hundreds of files dropped at once into a watched inbox; nothing processed twice, nothing lost.

    python bench/soak.py [--files 500] [--workers 1] [--work DIR]

Builds an inbox from the real clips in ``tests/data`` (distinct trims and gains, so contents
differ), plus exact duplicates, empty, truncated, non-audio and 2-hour files, bad sidecars, odd,
unicode and backslash names, same names in sub-folders. Runs ``parley watch --local`` (``--workers``
of them on the same inbox and database) while a reader runs ``parley sql`` in a loop, then checks
every file's fate against what was dropped. Prints one JSON object; exit status 1 on any problem.
``tests/test_soak.py`` runs the same thing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
PARLEY = str(Path(sys.executable).with_name("parley"))
SPEECH = ("jfk.flac", "stereo_diarization.wav", "pyannote_sample.wav")
MAX_DURATION_S = 3600.0
"""The soak's PARLEY_MAX_DURATION_S: its 2-hour files must be quarantined for length."""

REASONS = {
    "empty": "the file is empty",
    "truncated": "truncated",
    "not-audio": "not a readable audio file",
    "extension": "is not a recording type Parley takes",
    "too-long": "over the 1.0 h limit",
    "bad-sidecar": "is not valid JSON",
}
"""What the quarantine note of each kind of bad file must say."""

ODD_NAMES = [
    "café ñandú 日本語 通话", "emoji 📞 call", "Ελληνικά", "עברית", "e\u0301te\u0301 NFD", "with space and 'quotes'",
    'double"quote', "semi;colon&amp", "-leading-dash", "$(rm -rf ~)", "back\\slash", "C:\\calls\\2026\\x",
    "calls\\..\\..\\etc\\passwd", "fake\u2215slash", "fraction\u2044slash", "full\uff0fwidth", "dot..dot", "trailing space ",
    "new\nline", "tab\tname", "%2Fencoded%2F", "x" * 230,
]


@dataclass
class Expected:
    """What each dropped file should become, keyed by its path relative to the inbox."""

    good: dict[str, str] = field(default_factory=dict)
    """relative path -> sha256 (processed once; later copies of the same content are duplicates)."""
    bad: dict[str, str] = field(default_factory=dict)
    """relative path -> kind (a key of REASONS)."""
    skipped: list[str] = field(default_factory=list)
    """Hidden and partial files: never taken, left where they are."""
    with_utterances: set[str] = field(default_factory=set)
    """Contents that hold speech (every one of them must have utterances)."""

    @property
    def total(self) -> int:
        return len(self.good) + len(self.bad) + len(self.skipped)


# -- building an inbox -----------------------------------------------------------------------
def _speech() -> list[tuple[np.ndarray, int]]:
    out = []
    for name in SPEECH:
        data, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
        out.append((data, rate))
    return out


def clips(n: int, seed: int = 0, seconds: tuple[float, float] = (1.5, 3.0)) -> list[tuple[np.ndarray, int]]:
    """``n`` distinct short slices of the real test speech (random offset, length and gain)."""
    rng = random.Random(seed)
    sources = [(data, rate, 0.25 * float(np.percentile(_rms(data), 95))) for data, rate in _speech()]
    out = []
    for i in range(n):
        data, rate, loud = sources[i % len(sources)]
        while True:  # a slice that is mostly speech, not a pause between turns
            length = int(rng.uniform(*seconds) * rate)
            start = rng.randrange(0, max(1, data.shape[0] - length))
            piece = data[start : start + length]
            if (_rms(piece) > loud).mean() >= 0.6:
                break
        out.append((piece * rng.uniform(0.5, 1.0), rate))
    return out


def _rms(x: np.ndarray, frame: int = 480) -> np.ndarray:
    """Loudness of each 30 ms frame (channels mixed)."""
    mono = x.mean(axis=1)[: len(x) // frame * frame].reshape(-1, frame)
    return np.sqrt((mono**2).mean(axis=1))


def write_clips(folder: Path, n: int, seed: int = 0, prefix: str = "call") -> dict[str, str]:
    """Write ``n`` distinct speech clips as WAV into ``folder``; name -> sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, (data, rate) in enumerate(clips(n, seed)):
        path = folder / f"{prefix}-{i:04d}.wav"
        sf.write(path, data, rate, subtype="PCM_16")
        written[path.name] = sha256(path)
    if len(set(written.values())) != n:
        raise AssertionError("clip contents are not distinct; change the seed")
    return written


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _long_flac(path: Path, seconds: float, rate: int = 8000) -> None:
    """Hours of near-silence with a quiet tone: written in blocks, a few MB as FLAC."""
    block = rate * 60
    tone = (0.01 * np.sin(2 * np.pi * 440 * np.arange(block) / rate)).astype(np.float32)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as fh:
        for minute in range(int(seconds // 60)):
            fh.write(tone if minute % 30 == 0 else np.zeros(block, np.float32))


def build_inbox(inbox: Path, n_files: int = 500, seed: int = 0) -> Expected:
    """Drop ``n_files`` files into ``inbox``: about 2/3 good, the rest duplicates, bad and skipped."""
    rng = random.Random(seed)
    exp = Expected()
    inbox.mkdir(parents=True, exist_ok=True)
    n_bad = max(8, n_files // 10)
    n_dup = max(4, n_files // 8)
    n_skip = 2
    n_good = n_files - n_bad - n_dup - n_skip - 4  # 4: silence, two same-named files in sub-folders, one with a sidecar
    counter = iter(range(10**6))

    def name(default: str) -> str:
        """The next odd name (cycling through ODD_NAMES, numbered to stay unique)."""
        k = next(counter)
        return f"{ODD_NAMES[k % len(ODD_NAMES)]} {k}"

    def good(rel: str, data: np.ndarray, rate: int, speech: bool = True) -> str:
        path = inbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, rate, subtype="PCM_16")
        digest = sha256(path)
        exp.good[rel] = digest
        if speech:
            exp.with_utterances.add(digest)
        return digest

    pieces = clips(n_good + 2, seed)
    good_paths = []
    for i, (data, rate) in enumerate(pieces[:n_good]):
        rel = f"{name(f'call-{i:04d}')}.wav" if i % 3 == 0 else f"call-{i:04d}.wav"
        good(rel, data, rate)
        good_paths.append(rel)
    for sub, (data, rate) in zip(("site-a", "site-b"), pieces[n_good:]):
        good(f"{sub}/same-name.wav", data, rate)  # same name, different content
    good("silence.wav", np.zeros(16000, np.float32), 16000, speech=False)
    data, rate = clips(1, seed + 99)[0]
    good("with-sidecar.wav", data, rate)
    (inbox / "with-sidecar.json").write_text(json.dumps({"staff_id": "S1042", "team": "billing", "customer_ref": "C-9"}))
    for i in range(n_dup):  # exact copies under other names, some in a sub-folder
        src = rng.choice(good_paths)
        rel = f"dups/{name(f'copy-{i:03d}')}.wav" if i % 3 == 0 else f"copy-{i:03d}-of-{Path(src).stem[:40]}.wav"
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_bytes((inbox / src).read_bytes())
        exp.good[rel] = exp.good[src]
    _bad_files(inbox, exp, n_bad, rng, name)
    (inbox / ".hidden-call.wav").write_bytes((inbox / good_paths[0]).read_bytes())
    (inbox / "still-copying.wav.part").write_bytes(b"RIFF")
    exp.skipped += [".hidden-call.wav", "still-copying.wav.part"]
    return exp


def _bad_files(inbox: Path, exp: Expected, n_bad: int, rng: random.Random, name) -> None:
    speech, rate = clips(1, 7)[0]
    full = inbox.parent / "full.wav"
    sf.write(full, speech, rate, subtype="PCM_16")
    wav = full.read_bytes()
    full.unlink()
    makers = {
        "empty": lambda p: p.write_bytes(b""),
        "truncated": lambda p: p.write_bytes(wav[: rng.randint(200, len(wav) // 2)]),
        "not-audio": lambda p: p.write_bytes(rng.choice([b"not audio at all\n", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", b"<html><body>404</body></html>"])),
    }
    kinds = ["too-long", "too-long", "extension", "extension", "bad-sidecar", "bad-sidecar"]
    kinds += [list(makers)[i % len(makers)] for i in range(n_bad - len(kinds))]
    for i, kind in enumerate(kinds):
        stem = name(f"bad-{kind}-{i:03d}") if i % 4 == 1 else f"bad-{kind}-{i:03d}"
        if i == len(kinds) - 1:
            stem = "y" * 246  # the longest name a file system takes (255 bytes) with its note beside it
        if kind == "too-long":
            rel = f"{stem}.flac"
            _long_flac(inbox / rel, 2 * 3600)
        elif kind == "extension":
            rel = f"{stem}{['.txt', '.pdf'][i % 2]}"
            (inbox / rel).write_text("minutes of the meeting\n")
        elif kind == "bad-sidecar":
            rel = f"{stem}.wav"
            sf.write(inbox / rel, speech * (0.3 + 0.1 * i), rate, subtype="PCM_16")
            (inbox / f"{stem}.json").write_text('{"staff_id": "S1", team: billing')
        else:
            rel = f"{stem}.wav"
            makers[kind](inbox / rel)
        exp.bad[rel] = kind


# -- running -----------------------------------------------------------------------------------
class Reader(threading.Thread):
    """Runs ``parley sql`` in a loop (as a compliance analyst would) and times each answer."""

    def __init__(self, db: Path, env: dict):
        super().__init__(daemon=True)
        self.db, self.env = db, env
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.db.exists():
                time.sleep(0.2)
                continue
            elapsed, error = self.ask()
            if error is None:
                self.latencies.append(elapsed)
            else:
                self.failures.append(error)
            time.sleep(0.5)

    def ask(self) -> tuple[float, str | None]:
        """One ``parley sql`` query: (seconds, None) or (seconds, what went wrong)."""
        t0 = time.perf_counter()
        res = subprocess.run(
            [PARLEY, "sql", "SELECT count(*) FROM recordings", "--format", "csv", "--db", str(self.db)],
            capture_output=True, text=True, env=self.env, timeout=300,
        )
        ok = res.returncode == 0 and res.stdout.splitlines()[1:2]
        return time.perf_counter() - t0, None if ok else (res.stderr or res.stdout).strip()[-300:]

    def idle_latencies(self, n: int) -> list[float]:
        return [t for t, error in (self.ask() for _ in range(n)) if error is None]


def env_for(work: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PARLEY_STABLE_S="0", PARLEY_POLL_INTERVAL_S="0.3", PARLEY_MAX_DURATION_S=str(MAX_DURATION_S),
        PARLEY_BEAM_SIZE="1", PARLEY_CPU_THREADS="1", HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8",
    )
    return env


def folders(work: Path) -> list[str]:
    return ["--db", str(work / "parley.duckdb"), "--archive", str(work / "archive"), "--quarantine", str(work / "quarantine")]


def start_watcher(work: Path, env: dict, log_name: str = "watch") -> subprocess.Popen:
    log = (work / f"{log_name}.log").open("ab")
    return subprocess.Popen([PARLEY, "watch", str(work / "inbox"), "--local", *folders(work)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)


def settled(inbox: Path, skipped: list[str]) -> bool:
    """Nothing left to take: only skipped files in the inbox, no claimed files."""
    left = [p for p in inbox.rglob("*") if p.is_file() and p.relative_to(inbox).as_posix() not in skipped]
    return not left


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_soak(work: Path, n_files: int = 500, workers: int = 1, timeout_s: float = 1800, seed: int = 0) -> dict:
    """Build the inbox, run the watchers and a reader until everything is taken; check; report."""
    inbox = work / "inbox"
    t0 = time.perf_counter()
    expected = build_inbox(inbox, n_files, seed)
    built_s = time.perf_counter() - t0
    env = env_for(work)
    reader = Reader(work / "parley.duckdb", env)
    reader.start()
    t0 = time.perf_counter()
    procs = [start_watcher(work, env, f"watch-{i}") for i in range(workers)]
    try:
        while not settled(inbox, expected.skipped):
            if time.perf_counter() - t0 > timeout_s:
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(1)
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            stop(p)
        reader.stop.set()
        reader.join(300)
    idle = reader.idle_latencies(5)  # the same query with nothing else running: CLI start-up alone
    problems = check(work, expected)
    crashed = [f"watcher {i} exited with {p.returncode}" for i, p in enumerate(procs) if p.returncode not in (0, -signal.SIGTERM)]
    lat = sorted(reader.latencies)
    return {
        "files": expected.total, "good": len(expected.good), "unique": len(set(expected.good.values())), "bad": len(expected.bad),
        "workers": workers, "build_s": round(built_s, 1), "wall_s": round(wall, 1),
        "files_per_s": round(expected.total / wall, 2),
        "reader_queries": len(lat), "reader_failures": reader.failures[:5], "reader_failed": len(reader.failures),
        "reader_p50_s": round(statistics.median(lat), 2) if lat else None,
        "reader_p95_s": round(lat[int(0.95 * (len(lat) - 1))], 2) if lat else None,
        "reader_max_s": round(lat[-1], 2) if lat else None,
        "reader_idle_p50_s": round(statistics.median(idle), 2) if idle else None,
        "problems": crashed + problems,
    }


# -- checking ----------------------------------------------------------------------------------
def check(work: Path, exp: Expected) -> list[str]:
    """Every dropped file's fate against ``exp``; returns the problems found (empty: all good)."""
    from pipeline.store import Store

    store = Store(work / "parley.duckdb")
    inbox, problems = work / "inbox", []

    def rel(source_path: str, name: str) -> str:
        return (Path(source_path) / name).relative_to(inbox).as_posix()

    drops: dict[str, list[str]] = {}
    for source_path, name, outcome in store.query("SELECT source_path, source_name, outcome FROM drops").rows:
        drops.setdefault(rel(source_path, name), []).append(outcome)
    errors = {rel(p, n): m for p, n, m in store.query("SELECT source_path, source_name, message FROM errors WHERE kind <> 'transient'").rows}
    runs = store.query("SELECT recording_id, count(*) FROM runs WHERE status = 'done' GROUP BY 1").rows
    recordings = store.query("SELECT id, count(*) FROM recordings GROUP BY 1").rows
    no_utterances = {r[0] for r in store.query("SELECT id FROM recordings WHERE id NOT IN (SELECT recording_id FROM utterances)").rows}

    unique = set(exp.good.values())
    if sorted(r[0] for r in recordings) != sorted(unique):
        problems.append(f"recordings: {len(recordings)} stored, {len(unique)} distinct good contents dropped")
    problems += [f"recording {rid[:12]} stored {n} times" for rid, n in recordings if n != 1]
    problems += [f"recording {rid[:12]} processed {n} times" for rid, n in runs if n != 1]
    problems += [f"recording {rid[:12]} has no utterances" for rid in no_utterances & exp.with_utterances]
    for digest in unique:
        processed = [r for r, h in exp.good.items() if h == digest and "processed" in drops.get(r, [])]
        if len(processed) != 1:
            problems.append(f"content {digest[:12]} processed from {len(processed)} drops: {processed}")
    for r in exp.good:
        if not drops.get(r) or set(drops[r]) - {"processed", "duplicate"}:
            problems.append(f"{r!r}: drops say {drops.get(r)}")
    # Each recording's file is in the archive once, where the database says (it may be a redacted copy).
    archive_paths = store.query("SELECT id, archive_path FROM recordings").rows
    in_archive = {str(p) for p in (work / "archive").rglob("*") if p.is_file() and not p.name.endswith(".json")}
    problems += [f"recording {rid[:12]}: its archived file {path} is missing" for rid, path in archive_paths if path not in in_archive]
    extra = in_archive - {path for _, path in archive_paths}
    if extra:
        problems.append(f"files in the archive that no recording points to: {sorted(extra)[:5]}")
    notes = [n.read_text(encoding="utf-8") for n in (work / "quarantine").rglob("*.error.txt")]
    for r, kind in exp.bad.items():
        message = errors.get(r, "")
        if REASONS[kind] not in message:
            problems.append(f"{r!r} ({kind}): error says {message!r}")
        saying = sum(1 for note in notes if note.startswith(message + "\n"))
        if saying != 1:
            problems.append(f"{r!r} ({kind}): {saying} quarantine notes say {message!r}")
        if drops.get(r) != ["quarantined"]:
            problems.append(f"{r!r} ({kind}): drops say {drops.get(r)}")
    n_quarantined = sum(1 for p in (work / "quarantine").rglob("*") if p.is_file() and not p.name.endswith((".error.txt", ".json")))
    if n_quarantined != len(exp.bad):
        problems.append(f"quarantine holds {n_quarantined} files, {len(exp.bad)} bad files were dropped")
    for r in exp.skipped:
        if not (inbox / r).exists():
            problems.append(f"{r!r} (skipped by design) is gone from the inbox")
    left = [p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file() and p.relative_to(inbox).as_posix() not in exp.skipped]
    if left:
        problems.append(f"left in the inbox: {left[:5]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="folder to work in (default: a new temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="parley-soak-"))
    report = run_soak(work, args.files, args.workers)
    report["work"] = str(work)
    print(json.dumps(report, ensure_ascii=False))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
