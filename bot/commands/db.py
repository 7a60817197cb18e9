"""``python -m bot db upgrade|current``: apply or inspect the database migrations."""

from __future__ import annotations

import argparse
import asyncio

from core.config import load_settings

# SQLAlchemy and Alembic are imported by the functions that run the command.


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``db`` subcommand group."""
    p = subparsers.add_parser("db", help="database migrations",
                              description="Manage the database schema (Alembic migrations).")
    sub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = sub.add_parser("upgrade", help="apply every pending migration (also done at start-up)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=run_upgrade)
    cur = sub.add_parser("current", help="print the revision the database is at")
    cur.set_defaults(func=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations and report the revision."""
    from core.db.session import Database

    settings = load_settings()

    async def go() -> str | None:
        db = Database(settings.database_url)
        try:
            return await db.upgrade(args.revision)
        finally:
            await db.dispose()

    rev = asyncio.run(go())
    print(f"database {_safe_url(settings.database_url)} is at revision {rev}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    """Print the database's revision and the newest one shipped."""
    from core.db.session import Database, head_revision

    settings = load_settings()

    async def go() -> str | None:
        db = Database(settings.database_url)
        try:
            return await db.current_revision()
        finally:
            await db.dispose()

    rev = asyncio.run(go())
    head = head_revision()
    state = "up to date" if rev == head else f"behind (code has {head}); run: python -m bot db upgrade"
    print(f"revision {rev or '(empty database)'}: {state}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
