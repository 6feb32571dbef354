"""The incident store: incidents, their timelines, action intents and results, approvals.

Owns the SQL schema (ORM models here, Alembic migrations in `migrations/`), the JSON form
of domain values, and `SqlStore`, which implements `healer.ports.IncidentStore` on SQLite
or PostgreSQL.
"""

from healer.adapters.store.migrate import downgrade, upgrade
from healer.adapters.store.sql import SqlStore, default_store_url
from healer.adapters.store.unit import SqlUnitOfWork, StoredIntent

__all__ = [
    "SqlStore",
    "SqlUnitOfWork",
    "StoredIntent",
    "default_store_url",
    "downgrade",
    "upgrade",
]
