"""``retention``: delete what the retention policy makes due, once a day (``retention/daily`` in
prefect.yaml). A day with nothing due, or no database yet, is a successful run that deletes
nothing; held recordings are kept and logged. The run logs the chain head: a daily copy of it
outside the database lets `parley verify --anchor` prove later that nothing before it changed.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from pipeline.governance.audit import record
from pipeline.governance.policy import load_policy
from pipeline.governance.retention import apply
from pipeline.store import Store

from flows.process_recording import settings_for


@flow(name="retention", log_prints=False)
def retention(dry_run: bool = False, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``PARLEY_RETENTION_POLICY`` to the database (``dry_run``: only log what would go)."""
    s = settings_for(settings)
    policy = load_policy(s.retention_policy)  # a broken policy fails the run, naming its line
    logger = _logger()
    if s.db.exists():
        record(s.db, "retention", "dry-run" if dry_run else "apply", f"policy {policy.digest} (flow)")
    run = apply(Store(s.db, s.db_lock_timeout_s), policy, dry_run=dry_run, archive_root=s.archive)
    for d in run.held:
        logger.info("kept %s of recording %s: under legal hold %s", ", ".join(d.parts), d.recording[:12], ", ".join(f"H{h}" for h in d.held))
    gone = [d for d in run.due if not d.held] if dry_run else run.deleted
    for d in gone:
        logger.info("%s %s of recording %s", "would delete" if dry_run else "deleted", ", ".join(d.parts), d.recording[:12])
    logger.info(
        "retention %s: %d recordings considered, %d %s, %d held, %d files removed; chain head %s",
        run.today, run.considered, len(gone), "due" if dry_run else "deleted", len(run.held), run.files_removed,
        f"{run.head[0]}:{run.head[1]}" if run.head else "none",
    )
    return {
        "today": str(run.today), "considered": run.considered, "deleted": [d.recording for d in gone], "held": [d.recording for d in run.held],
        "files_removed": run.files_removed, "head": list(run.head) if run.head else None,
    }


def _logger():
    """The flow run's logger; Prefect's own when called outside a run (``retention.fn(...)``)."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("parley.retention")


if __name__ == "__main__":
    retention()
