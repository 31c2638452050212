"""Shared fixtures: real test audio, a throw-away Parley folder set, and file makers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the tests in several processes (pytest-xdist): each has its own Prefect home,
    # so two temporary Prefect servers never create or migrate one SQLite database at once (even
    # where the shell exports one PREFECT_HOME for both). Made here: Prefect makes only the last
    # folder of its home, and a fresh clone has no .prefect (its temporary server then never starts).
    _home = Path(__file__).resolve().parent.parent / ".prefect" / f"tests-{os.environ['PYTEST_XDIST_WORKER']}"
    _home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(_home)

from pipeline.audio import decode, encode  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STEREO_LEFT = "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
STEREO_RIGHT = "The horizon seems extremely distant."


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces: 'case and punctuation aside'."""
    kept = "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text)
    return " ".join(kept.split())


@pytest.fixture
def workspace(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh inbox/archive/quarantine/db under tmp_path."""
    s = Settings(
        db=tmp_path / "parley.duckdb",
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        quarantine=tmp_path / "quarantine",
        stable_s=0,
    )
    s.inbox.mkdir()
    return s


def drop(settings: Settings, source: Path, name: str | None = None) -> Path:
    """Copy a test file into the inbox (as a contact centre's system would drop it)."""
    target = settings.inbox / (name or source.name)
    shutil.copy2(source, target)
    return target


def truncated_mp3(tmp_path: Path) -> Path:
    """A real MP3 of jfk.flac cut at 40% of its bytes (as an interrupted copy leaves it)."""
    audio = decode(DATA / "jfk.flac")
    full = encode(tmp_path / "full.mp3", audio.samples, 16000)
    data = full.read_bytes()
    cut = tmp_path / "truncated.mp3"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return cut


def telephone_copy(tmp_path: Path, source: Path, suffix: str) -> Path:
    """An 8 kHz copy of ``source`` in the format named by ``suffix`` (channels kept)."""
    audio = decode(source)
    n = audio.samples.shape[1] // 2
    eight_k = audio.samples[:, : n * 2].reshape(audio.samples.shape[0], n, 2).mean(axis=2).astype(np.float32)
    return encode(tmp_path / f"{source.stem}-8k{suffix}", eight_k, 8000)
