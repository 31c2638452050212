"""Parley's errors. Each one names the file it is about and the fix.

``TerminalError``: the input itself is bad (empty, not audio, truncated, bad sidecar); retrying
cannot help, so the file goes to quarantine. ``TransientError``: the machine was busy or a
resource was briefly unavailable (database lock, disk momentarily full); Prefect retries it.
"""

from __future__ import annotations


class ParleyError(Exception):
    """Base error: ``problem`` says what is wrong, ``fix`` what to do, ``path`` which file."""

    transient = False

    def __init__(self, problem: str, fix: str = "", path: str | None = None, stage: str | None = None):
        self.problem = problem
        self.fix = fix
        self.path = str(path) if path is not None else None
        self.stage = stage
        super().__init__(problem)

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        end = "" if self.problem.endswith((".", "!", "?")) else "."  # a path's ".." stays as it is
        return f"{where}{self.problem}{end}{fix}"


class TerminalError(ParleyError):
    """Bad input: retrying cannot help; the file is quarantined."""


class TransientError(ParleyError):
    """A passing condition (lock, busy disk); the stage may be retried."""

    transient = True


class ConfigError(ParleyError):
    """Bad configuration (settings, taxonomy, rubric, model name): fails at start-up."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ParleyError) and exc.transient
