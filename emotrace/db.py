"""Engine and sessions from Settings, and the one migration entry point.

Data functions elsewhere take a ``Session`` and never commit; whoever opens the session (a
request, a task, a CLI command) owns the transaction through :func:`session_scope`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from emotrace.errors import DatabaseNotMigrated
from emotrace.settings import Settings

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite enforces foreign keys only when asked; WAL and a busy timeout let the embedded
    worker threads write while requests read."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A request that cannot get a connection within pool_timeout gets 503 and Retry-After.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=10)


def get_engine(settings: Settings) -> Engine:
    """One engine (one pool) per database URL per process, created on first use, never at import."""
    url = settings.sqlalchemy_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_db_engine(url)
        return engine


def dispose_engines(*, close: bool) -> None:
    """Drop the pooled connections. A forked worker child passes ``close=False``: the connections
    are its parent's, and closing them would end the parent's sessions (pools must not cross fork);
    a process done with its databases (tests) closes them.

    The engines stay registered (each gets a fresh, empty pool): code that already holds one, such
    as an app's sessionmaker, keeps using it, so a later call must still find it to close what it
    opened since."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose(close=close)


def get_sessionmaker(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session committed on success and rolled back on any exception."""
    session = get_sessionmaker(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(settings: Settings | None) -> Any:
    from alembic.config import Config

    import migrations

    config = Config(str(ALEMBIC_INI))
    # __path__, not __file__: an editable install may expose the package as a namespace.
    config.set_main_option("script_location", str(Path(next(iter(migrations.__path__))).resolve()))
    if settings is not None:
        config.attributes["sqlalchemy_url"] = settings.sqlalchemy_url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database schema to ``revision`` (all migrations by default)."""
    from alembic import command

    command.upgrade(_alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Undo migrations down to ``revision`` (``base``: an empty database)."""
    from alembic import command

    command.downgrade(_alembic_config(settings), revision)


def current_revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(settings).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The code's newest migration: fixed for the life of the process, and /readyz asks often."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def check_schema(settings: Settings) -> None:
    """Raise unless the database is at the code's migration head: a service on an old schema
    would fail request by request instead of at startup."""
    current = current_revision(settings)
    if current != head_revision():
        raise DatabaseNotMigrated(f"database schema is at {current or 'nothing'}: run `emotrace migrate`")


def prepare_database(settings: Settings) -> None:
    """Embedded SQLite migrates itself (nobody else shares it); Postgres must be at head."""
    if settings.sqlalchemy_url.startswith("sqlite"):
        migrate(settings)
    else:
        check_schema(settings)
