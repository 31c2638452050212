"""The `parley` entry point re-executes itself once with glibc's huge-page tunable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.launch import HUGEPAGES, wants_reexec, with_hugepages

SCRIPT = """
import os, sys
print("before", os.getpid(), flush=True)
from pipeline.launch import reexec_with_hugepages
reexec_with_hugepages()
print("after", os.getpid(), os.environ.get("GLIBC_TUNABLES"), sys.argv[1:], flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "PARLEY_HUGEPAGES")}
    return env | extra


@pytest.mark.skipif(sys.platform != "linux", reason="glibc tunables are Linux-only")
def test_reexec_keeps_pid_and_arguments_and_sets_the_tunable_once():
    out = subprocess.run([sys.executable, "-c", SCRIPT, "x y", "--z"], env=_env(), capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    # the script starts twice ("before" printed by each image), in one process, and finishes once
    assert [line.split()[0] for line in lines] == ["before", "before", "after"]
    pid = lines[0].split()[1]
    assert lines[1].split()[1] == pid and lines[2].split()[1] == pid
    assert lines[2] == f"after {pid} {HUGEPAGES} ['x y', '--z']"


def test_switched_off_or_already_set_means_no_reexec():
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=_env(PARLEY_HUGEPAGES="0"), capture_output=True, text=True, check=True).stdout
    assert [line.split()[0] for line in out.splitlines()] == ["before", "after"]
    assert not wants_reexec({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, platform="linux")
    assert not wants_reexec({}, platform="darwin")
    assert wants_reexec({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, platform="linux")


def test_existing_tunables_are_kept():
    assert with_hugepages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{HUGEPAGES}"
    assert with_hugepages({})["GLIBC_TUNABLES"] == HUGEPAGES


def test_a_parley_error_that_reaches_the_entry_point_is_one_line(monkeypatch, capsys) -> None:
    """A command that lets a ParleyError through still ends with its one line and status 2."""
    import pipeline.cli
    from pipeline import launch
    from pipeline.errors import ConfigError

    def command() -> None:
        raise ConfigError("no such database", fix="give --db", path="../data/parley.duckdb")

    monkeypatch.setenv("PARLEY_HUGEPAGES", "0")
    monkeypatch.setattr(pipeline.cli, "app", command)
    with pytest.raises(SystemExit) as stopped:
        launch.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: ../data/parley.duckdb: no such database. Fix: give --db\n"
