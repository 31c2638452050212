"""The ``parley`` command's entry point: set the process up for speed, then run the CLI.

faster-whisper's batched pipeline makes CTranslate2 allocate and free buffers of hundreds of MB
for every batch. glibc serves those with fresh ``mmap`` pages, and touching them costs about a
million page faults per batch of 16 (a third of transcription's time went to the kernel). With
glibc's ``hugetlb`` tunable, malloc asks for transparent huge pages (2 MiB instead of 4 KiB), which
cuts the faults ~50x and transcription time by ~10-25% on Linux hosts whose THP mode is
``madvise`` (the common default). Tunables are read when a process starts, so the command
re-executes itself once with the tunable set. ``PARLEY_HUGEPAGES=0`` turns this off; hosts where
THP is ``never`` or glibc is older than 2.35 simply ignore it.
"""

from __future__ import annotations

import os
import sys

HUGEPAGES = "glibc.malloc.hugetlb=1"


def with_hugepages(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with glibc's huge-page tunable added."""
    env = dict(os.environ if env is None else env)
    current = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" not in current:
        env["GLIBC_TUNABLES"] = f"{current}:{HUGEPAGES}" if current else HUGEPAGES
    return env


def wants_reexec(env: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    env = os.environ if env is None else env
    return platform == "linux" and env.get("PARLEY_HUGEPAGES", "1") != "0" and "glibc.malloc.hugetlb" not in env.get("GLIBC_TUNABLES", "")


def reexec_with_hugepages() -> None:
    """Replace this process (same pid, same arguments) by one started with the tunable, once."""
    if wants_reexec():
        try:
            os.execve(sys.executable, sys.orig_argv, with_hugepages())
        except OSError:  # cannot re-execute here: go on without huge pages
            pass


def main() -> None:
    reexec_with_hugepages()
    from .cli import app
    from .errors import ParleyError

    try:
        app()
    except ParleyError as exc:  # a command that let one through: its one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
