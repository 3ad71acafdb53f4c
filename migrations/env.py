"""Alembic environment: the URL comes from emotrace's Settings (or the caller's override).

Logging is left to the caller: `emotrace serve` migrating the embedded database must not have
its handlers replaced by Alembic's ``fileConfig``.
"""

from __future__ import annotations

from alembic import context

from emotrace.db import create_db_engine
from emotrace.models import Base
from emotrace.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return str(config.attributes.get("sqlalchemy_url") or get_settings().sqlalchemy_url)


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    connectable = create_db_engine(url)
    with connectable.connect() as connection:
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=url.startswith("sqlite")
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
