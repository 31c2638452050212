"""Records governance: retention, erasure, legal hold, the tamper-evident chain and the audit trail.

| module | one line |
|---|---|
| ``chain`` | canonical serialisation of a recording's rows, sealing changes, ``verify`` |
| ``holds`` | legal holds on a customer or a recording |
| ``erasure`` | deleting a recording (or part of it) with a tombstone; re-drops of erased files; voiceprints |
| ``policy`` | the retention policy (``data/retention.yaml``) |
| ``retention`` | what the policy makes due, and deleting it |
| ``audit`` | audit rows for commands run from the shell (who: the OS user) |
| ``cli`` | ``parley retention|erase|hold|verify|compact`` and ``parley staff list|remove`` |

Every change Parley makes to a recording's rows goes through ``chain.seal`` in the same
transaction (``Store.write_recording``, ``rescore``, the staging loader, archiving, deletions).
"""

__all__ = ["actor"]


def actor() -> str:
    """Who is acting, for chain entries, tombstones and holds: ``OS user@host``."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in a bare container: the uid says who
        import os

        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
