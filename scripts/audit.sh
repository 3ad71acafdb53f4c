#!/usr/bin/env bash
# Known-vulnerability check of every package the service image installs (requirements.lock),
# with pip-audit in a virtual environment of its own. Fails when a vulnerability is reported.
# pip-audit asks PyPI's per-release JSON API; a package it cannot look up is listed as skipped
# (a mirror without that API, no network), and the summary line says how many were checked.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-audit/bin/pip-audit ]; then
    python3 -m venv .venv-audit
    .venv-audit/bin/python -m pip install --quiet --disable-pip-version-check "pip-audit==2.10.1" 2>/dev/null
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
.venv-audit/bin/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off \
    --format json --output "$report" 2>/dev/null || status=$?
.venv-audit/bin/python - "$report" "$status" <<'PY'
import json, sys
report, status = json.load(open(sys.argv[1])), int(sys.argv[2])
deps = report["dependencies"]
skipped = [d for d in deps if d.get("skip_reason")]
found = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
print(f"pip-audit: {len(deps) - len(skipped)} of {len(deps)} locked packages checked, "
      f"{len(skipped)} not reachable in the vulnerability service, {len(found)} known vulnerabilities")
for name, version, vuln in found:
    print(f"  {name} {version}: {vuln}")
sys.exit(1 if found or status not in (0, 1) else 0)
PY
