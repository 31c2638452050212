"""Audit rows for commands run from the shell: who (the OS user), what, when.

One audit trail for the whole of Parley: the ``audit`` table of ``NAME.web.sqlite`` beside the
database (``pipeline.web.accounts``), where the web app writes its views, audio plays, searches,
SQL queries, exports and logins. The shell commands that read or change records about people
(``sql``, ``report``, ``retag``, ``rescore``, ``erase``, ``hold``, ``retention``, ``verify``,
``compact``, ``staff list|remove``, ``users ...``) add theirs with role ``cli``, the OS user as
the user and ``shell@HOST`` as the client. SQLite takes the row in microseconds without
DuckDB's write lock, so a read-only command stays read-only on the database itself.

A command that cannot write its audit row fails (``ConfigError``): nothing is shown or changed
without a trace.
"""

from __future__ import annotations

import getpass
import socket
import sqlite3
from pathlib import Path

from ..errors import ConfigError


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no name for this uid (a bare container)
        import os

        return f"uid{os.getuid()}"


def record(db_path: str | Path, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Append one audit row for a shell command on the database at ``db_path``."""
    from ..web.accounts import Accounts, User, accounts_path

    path = accounts_path(db_path)
    try:
        Accounts(path).audit(User(os_user(), "cli"), action, target, detail, f"shell@{socket.gethostname()}")
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"cannot write the audit row to {path} ({exc})",
            fix="make the folder of the database writable for this user: every command that reads or changes records is audited there",
            path=path,
        ) from exc
