#!/usr/bin/env bash
# Regenerate requirements.lock: install the service's dependencies (the image's `.[s3]`) into a
# throwaway virtual environment and freeze it. Run after changing dependencies in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=$(mktemp -d)
trap 'rm -rf "$env_dir"' EXIT
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install --quiet --disable-pip-version-check ".[s3]"
{
    echo "# Every package of the service image (\`pip install \".[s3]\"\`), pinned: the Dockerfile installs"
    echo "# from this file and pip-audit checks it (scripts/audit.sh). Regenerate with scripts/lock.sh."
    "$env_dir/bin/pip" freeze --exclude emotrace
} > requirements.lock
