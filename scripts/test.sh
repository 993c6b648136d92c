#!/usr/bin/env bash
# The test command: installs what it needs (scripts/bootstrap.sh), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
python -m pytest "$@"
