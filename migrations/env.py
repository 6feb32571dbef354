"""Alembic environment for the incident store (schema: healer.adapters.store.schema).

`healer.adapters.store.upgrade` hands over an open connection in
`config.attributes["connection"]`; the `alembic` command line instead names a URL with
`-x url=...` or `sqlalchemy.url`, falling back to the default SQLite store.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from healer.adapters.store.engine import create_store_engine
from healer.adapters.store.schema import Base
from healer.adapters.store.sql import default_store_url


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def command_line_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    return url or context.config.get_main_option("sqlalchemy.url") or default_store_url()


def run_offline(url: str) -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_command_line() -> None:
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name)
    url = command_line_url()
    if context.is_offline_mode():
        run_offline(url)
        return
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            run_on(connection)
    finally:
        engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    run_command_line()
