"""`parley serve` and `parley users ...`: ``register(app)`` adds them to the ``parley`` typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ParleyError
from ..settings import Settings
from .accounts import ROLES, Accounts, accounts_path, add_user


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``users`` group (``add``, ``list``, ``disable``, ``enable``, ``remove``,
    ``unlock``) to the ``parley`` command. Each users command leaves an audit row (the OS user)."""
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
        typer.echo(f"user {user.username}: {user.role}" + (f", team {user.team}" if user.team else "") + "; any earlier sessions of this user were ended")
        _audit(settings, "user_added", username, f"{role} {team or ''}".strip())

    def _accounts(db: Optional[Path]) -> tuple[Settings, Accounts]:
        settings = Settings(**({"db": db} if db else {}))
        return settings, Accounts(accounts_path(settings.db))

    def _audit(settings: Settings, action: str, username: str, detail: str | None = None) -> None:
        from ..governance.audit import record

        record(settings.db, action, username, detail)

    def _change(action: str, username: str, db: Optional[Path], change) -> int:
        settings, accounts = _accounts(db)
        try:
            done = change(accounts)
        except ParleyError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        _audit(settings, action, username)
        return done

    DbOpt = typer.Option(None, "--db", help="DuckDB database file [default: data/parley.duckdb].")

    @users.command("list")
    def users_list(db: Optional[Path] = DbOpt) -> None:
        """List web users: role, team, disabled, live sessions, last login."""
        settings, accounts = _accounts(db)
        _audit(settings, "users_list", None)
        rows = accounts.list_users()
        if not rows:
            typer.echo("no web users (add one with `parley users add NAME --role admin`)")
        for u in rows:
            state = "DISABLED" if u["disabled"] else "active"
            typer.echo(f"{u['username']:<20} {u['role']:<11} {u['team'] or '-':<12} {state:<8} sessions {u['sessions']}  last login {(u['last_login'] or 'never')[:16]}")

    @users.command("disable")
    def users_disable(username: str = typer.Argument(..., help="Login name."), db: Optional[Path] = DbOpt) -> None:
        """Stop a user logging in and end their sessions (their audit rows stay)."""
        ended = _change("user_disabled", username, db, lambda a: a.set_disabled(username, True))
        typer.echo(f"disabled {username}: {ended} session(s) ended")

    @users.command("enable")
    def users_enable(username: str = typer.Argument(..., help="Login name."), db: Optional[Path] = DbOpt) -> None:
        """Let a disabled user log in again."""
        _change("user_enabled", username, db, lambda a: a.set_disabled(username, False))
        typer.echo(f"enabled {username}")

    @users.command("remove")
    def users_remove(
        username: str = typer.Argument(..., help="Login name."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        db: Optional[Path] = DbOpt,
    ) -> None:
        """Delete a user and end their sessions (their audit rows stay)."""
        if not yes and not typer.confirm(f"Remove web user {username}?", default=False):
            raise typer.Exit(1)
        ended = _change("user_removed", username, db, lambda a: a.remove_user(username))
        typer.echo(f"removed {username}: {ended} session(s) ended")

    @users.command("unlock")
    def users_unlock(username: str = typer.Argument(..., help="Login name."), db: Optional[Path] = DbOpt) -> None:
        """Forget a user name's wrong passwords, lifting a login lock early."""
        from .throttle import LoginThrottle

        settings, accounts = _accounts(db)
        n = LoginThrottle(accounts.path).unlock(username)
        _audit(settings, "user_unlocked", username, f"{n} wrong password(s) forgotten")
        typer.echo(f"unlocked {username}: {n} wrong password(s) forgotten")
