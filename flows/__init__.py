"""Parley's Prefect flows. Importing this package sets Prefect's offline defaults first.

With no Prefect server configured, Prefect starts a temporary local one (12-27 s here); these
defaults keep it project-local, quiet and offline. Any value already in the environment wins.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PREFECT_DEFAULTS = {
    "PREFECT_HOME": str(ROOT / ".prefect"),
    "DO_NOT_TRACK": "1",  # no client telemetry
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no server telemetry
    "PREFECT_UI_ENABLED": "false",  # the temporary server serves no UI (and fetches nothing for it)
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # the default 20 s is too short on 2 cores
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
}
for _key, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_key, _value)
