"""Engines for the incident store, and the one place SQLAlchemy errors become StoreError.

Only SQLite and PostgreSQL are supported (and tested). Creating an engine does not
connect; the first unit of work or migration does.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from healer.errors import StoreError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")

P = ParamSpec("P")
R = TypeVar("R")


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, with its directory created and pragmas set."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _create_parent_directory(parsed)
    try:
        # pre_ping: the daemon holds pooled connections for days; a PostgreSQL restart
        # should cost one reconnect, not one failed poll.
        engine = create_engine(parsed, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        # ImportError: the URL names a driver that is not installed (psycopg is an extra).
        raise StoreError(f"cannot use {_shown(parsed)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The text is not echoed: a malformed URL may still hold a password.
        raise StoreError(
            "not a database URL; expected e.g. sqlite:////var/lib/healer/healer.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from exc
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r} in {_shown(parsed)}; "
            f"the store supports {', '.join(SUPPORTED_BACKENDS)}"
        )
    return parsed


def translating(operation: Callable[P, R]) -> Callable[P, R]:
    """Raise database failures from `operation` as StoreError, naming the operation."""

    @functools.wraps(operation)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return operation(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise StoreError(f"{operation.__name__}: {describe(exc)}") from exc

    return translated


def describe(exc: SQLAlchemyError) -> str:
    # The driver's own message, without the SQL text and bound values SQLAlchemy adds,
    # which may carry incident data into logs and chat.
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip()}"
    return f"{type(exc).__name__}: {exc}"


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _create_parent_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory for {database}: {exc}") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        # The sqlite3 module would otherwise begin transactions only before DML, so
        # reads and DDL would run outside the unit of work's transaction; we issue
        # BEGIN ourselves in on_begin instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # why: another process writing (a second replica, the CLI) makes us wait a
            # while rather than fail at once with "database is locked"
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL lets the web app read while the daemon writes.
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE (asked for by migrations) takes the write lock at once, so a second
        # writer waits instead of deadlocking on a lock upgrade
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))
