"""``load-staging``: merge the workers' staged Parquet batches into DuckDB (the single writer).

Run one of these, on the machine that holds the database, on an interval schedule (e.g.
``load_staging.serve(name="loader", interval=30)``, or a deployment on a work pool with a
concurrency limit of 1). It is idempotent: re-running after a crash loads nothing twice.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from pipeline.errors import ConfigError
from pipeline.staging import load_report
from pipeline.store import Store

from flows.process_recording import settings_for


@flow(name="load-staging", log_prints=False)
def load_staging(staging_dir: str | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load every complete batch under ``staging_dir`` (default ``PARLEY_STAGING_DIR``) into the database."""
    s = settings_for(settings)
    staging = staging_dir or s.staging_dir
    if not staging:
        raise ConfigError("no staging folder given", fix="pass staging_dir or set PARLEY_STAGING_DIR")
    report = load_report(Store(s.db, s.db_lock_timeout_s), staging)
    get_run_logger().info("loaded %d staged batch(es) into %s (%d already loaded)", report.loaded, s.db, report.skipped)
    return asdict(report)


if __name__ == "__main__":
    load_staging()
