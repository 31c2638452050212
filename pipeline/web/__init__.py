"""Parley's web app for team leads and compliance: scorecards, drill-down, search, SQL.

``create_app(settings)`` builds the FastAPI app; ``serve(settings, host, port)`` runs it
(`parley serve`); ``add_user(db_path, username, password, role, team)`` creates a login
(`parley users add`).
"""

from .accounts import ROLES, Accounts, User, accounts_path, add_user

__all__ = ["ROLES", "Accounts", "User", "accounts_path", "add_user", "create_app", "serve"]


def __getattr__(name: str):
    """``create_app`` and ``serve`` import FastAPI: only when asked for, so `parley` starts fast."""
    if name in ("create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
