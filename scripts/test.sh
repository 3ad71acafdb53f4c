#!/usr/bin/env bash
# The test command: install emotrace with its dev extras into .venv, make sure Postgres, Redis and
# Chromium are there, lint, check the formatting, type-check, audit the locked dependencies and run
# the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
# The page's generated API types are checked against a fresh openapi-typescript run, which needs
# web/node_modules; without Node that one check skips and says so.
if command -v npm >/dev/null; then (cd web && npm ci --no-audit --no-fund --silent) || echo "npm ci failed: the type check skips" >&2; fi
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m mypy ml emotrace api worker bench tests
bash scripts/audit.sh
exec .venv/bin/python -m pytest "$@"
