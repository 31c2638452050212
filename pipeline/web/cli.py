"""`parley serve` and `parley users add`: ``register(app)`` adds them to the ``parley`` typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ParleyError
from ..settings import Settings
from .accounts import ROLES, add_user


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``users`` group (``users add``) to the ``parley`` command."""
    users = typer.Typer(help="Web app users (admin, compliance, team_lead).", no_args_is_help=True)
    app.add_typer(users, name="users")

    @app.command()
    def serve(
        db: Optional[Path] = typer.Option(None, "--db", help="DuckDB database file [default: data/parley.duckdb]."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on; keep the loopback unless a reverse proxy with TLS is in front."),
        port: int = typer.Option(8765, help="Port to listen on."),
    ) -> None:
        """Start the web app for team leads and compliance (reads the database without blocking ingestion)."""
        from .app import serve as run

        run(Settings(**({"db": db} if db else {})), host=host, port=port)

    @users.command("add")
    def users_add(
        username: str = typer.Argument(..., help="Login name."),
        role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
        team: Optional[str] = typer.Option(None, "--team", help="The team (recordings.team) a team lead may see."),
        db: Optional[Path] = typer.Option(None, "--db", help="DuckDB database file [default: data/parley.duckdb]."),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True, envvar="PARLEY_NEW_PASSWORD", help="Asked for when not given (or set PARLEY_NEW_PASSWORD)."),
    ) -> None:
        """Create a web user, or reset an existing user's password, role and team."""
        settings = Settings(**({"db": db} if db else {}))
        try:
            user = add_user(settings.db, username, password, role, team)
        except ParleyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"user {user.username}: {user.role}" + (f", team {user.team}" if user.team else ""))
