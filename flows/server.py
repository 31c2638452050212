"""Which Prefect server Parley talks to, and making sure it answers before any file is touched.

- ``PREFECT_API_URL`` set (a long-running ``prefect server start``): ``check_server`` asks its
  ``/health`` once and turns a server that does not answer into one line with the fix, instead of
  minutes of retries and a traceback.
- Not set: Prefect starts a temporary server in a subprocess on the first flow run.
  ``detach_temporary_server`` makes that subprocess a session of its own, so Ctrl-C in the
  terminal reaches only Parley (which finishes the file under way and exits) and not the server
  the running flow still reports to.
"""

from __future__ import annotations

import subprocess
from typing import Any

import httpx

from pipeline.errors import ConfigError


def api_url() -> str | None:
    """The configured Prefect API URL (environment or Prefect profile), or None."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def check_server(timeout_s: float = 5.0) -> str | None:
    """Raise ``ConfigError`` (one line, with the fix) when ``PREFECT_API_URL`` is set and that
    server does not answer; returns the URL (None: the temporary server will be used)."""
    url = api_url()
    if not url:
        return None
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
        raise ConfigError(
            f"the Prefect server at {url} does not answer ({reason})",
            fix="start it (`prefect server start`), or unset PREFECT_API_URL to use a temporary one, or add --local to run without Prefect",
        ) from exc
    return url


def require_server(what: str) -> str:
    """The configured server's URL, checked; a clear error when none is configured."""
    url = check_server()
    if url is None:
        raise ConfigError(
            f"{what} needs a Prefect server (the temporary one serves single runs, not work pools)",
            fix="start one (`prefect server start`) and set PREFECT_API_URL=http://127.0.0.1:4200/api",
        )
    return url


def detach_temporary_server() -> None:
    """Have Prefect's temporary server start in its own session (not killed by Ctrl-C meant for
    Parley). Call before the first flow run; harmless when a server is configured."""
    from prefect.server.api.server import SubprocessASGIServer

    if None in SubprocessASGIServer._instances:  # already made (and maybe started)
        return

    class DetachedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            popen = subprocess.Popen

            def detached(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
                return popen(*args, **kwargs, start_new_session=True)

            subprocess.Popen = detached  # type: ignore[misc] - only for this one call, in this thread
            try:
                return super()._run_uvicorn_command()
            finally:
                subprocess.Popen = popen  # type: ignore[misc]

    DetachedServer(None)  # Prefect looks its temporary server up by port None: it finds this one
