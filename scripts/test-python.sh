#!/usr/bin/env bash
# Run tests on another supported Python: scripts/test-python.sh VERSION [pytest args].
# Makes .venv-VERSION with that interpreter (pyenv's build, or pythonVERSION on PATH), installs
# emotrace with its dev extras there, and runs pytest with the remaining arguments. A version that
# is not installed is skipped with a message (exit 0); any other failure fails.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/test-python.sh VERSION [pytest args]}
shift

find_python() {
    local candidate
    for candidate in "$HOME"/.pyenv/versions/"$version"*/bin/python; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    if command -v "python$version" >/dev/null 2>&1; then command -v "python$version"; return 0; fi
    return 1
}

if ! python=$(find_python); then
    echo "SKIPPED: Python $version is not installed (no ~/.pyenv/versions/$version*, no python$version on PATH)" >&2
    exit 0
fi
echo "Python $version: $("$python" --version 2>&1) at $python" >&2

venv=".venv-$version"
if [ ! -x "$venv/bin/python" ]; then "$python" -m venv "$venv"; fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
exec "$venv/bin/python" -m pytest "$@"
