"""Migrations: `emotrace migrate` builds the schema on an empty database, the result matches the
models exactly, and every revision downgrades cleanly, on Postgres and on the embedded SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from emotrace import db
from emotrace.devstack import create_database, database_url_for, drop_database, run_cli
from emotrace.models import Base
from emotrace.settings import Settings
from tests.services import PG_ADMIN_URL

TABLES = {"client", "api_key", "job", "chunk", "frame_emotion", "frame_face", "job_summary"}


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    name = create_database(PG_ADMIN_URL, "emotrace_migrations")
    try:
        yield database_url_for(PG_ADMIN_URL, name)
    finally:
        db.dispose_engines(close=True)
        drop_database(PG_ADMIN_URL, name)


def tables(url: str) -> set[str]:
    engine = create_engine(Settings(database_url=url).sqlalchemy_url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[object]:
    engine = create_engine(Settings(database_url=url).sqlalchemy_url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
    finally:
        engine.dispose()


def test_migrate_upgrades_an_empty_database_and_downgrades_cleanly(empty_database: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database, "EMOTRACE_HOME": str(tmp_path)}
    assert tables(empty_database) == set()

    upgraded = run_cli("migrate", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert tables(empty_database) == TABLES
    assert schema_differences(empty_database) == [], "models and migrations disagree"

    downgraded = run_cli("migrate", "base", "--downgrade", env=env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert tables(empty_database) == set()

    again = run_cli("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert tables(empty_database) == TABLES


def test_the_embedded_sqlite_database_migrates_both_ways(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    db.migrate(settings)
    url = settings.sqlalchemy_url
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == TABLES
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
    db.check_schema(settings)
    db.downgrade(settings, "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
    finally:
        engine.dispose()
    db.dispose_engines(close=True)


def test_serving_refuses_an_unmigrated_postgres(empty_database: str) -> None:
    from emotrace.errors import DatabaseNotMigrated

    with pytest.raises(DatabaseNotMigrated):
        db.prepare_database(Settings(database_url=empty_database))
