"""Alembic migrations of emotrace's schema; run them with `emotrace migrate`."""
