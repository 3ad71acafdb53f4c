#!/usr/bin/env bash
# Regenerate the pinned package lists. Run after changing dependencies in pyproject.toml.
#   requirements.lock        the service image (`.[s3]`): the Dockerfile installs from it and
#                            pip-audit checks it (scripts/audit.sh)
#   requirements-train.lock  training (`.[train]`): installed as constraints, it fixes the whole
#                            export toolchain (TensorFlow, tf2onnx, onnx and what they pull in, such
#                            as protobuf), whose versions decide an export's node names; each export
#                            records them in its metadata (`toolchain`)
# scripts/lock.sh [service|train]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

freeze() {  # extra, output file, what the file is for
    local env_dir
    env_dir=$(mktemp -d)
    python3 -m venv "$env_dir"
    "$env_dir/bin/pip" install --quiet --disable-pip-version-check ".[$1]"
    {
        echo "# $3"
        echo "# Regenerate with scripts/lock.sh."
        "$env_dir/bin/pip" freeze --exclude emotrace
    } > "$2"
    rm -rf "$env_dir"
}

what=${1:-both}
if [[ $what == service || $what == both ]]; then
    freeze s3 requirements.lock \
        "Every package of the service image (\`pip install \".[s3]\"\`), pinned: the Dockerfile installs from this file and pip-audit checks it (scripts/audit.sh)."
fi
if [[ $what == train || $what == both ]]; then
    freeze train requirements-train.lock \
        "Every package of training (\`pip install -c requirements-train.lock -e \".[train]\"\`), pinned: retrained exports come from one toolchain."
fi
