#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install depsev into it.
# Idempotent: re-installs only when pyproject.toml changed. Used by scripts/demo.sh, scripts/test.sh
# and .ci/run, so that each works on a fresh machine with nothing set up.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch is pinned to the CPU wheel 2.13.0 (any other request pulls a multi-GB CUDA build here);
# set DEPSEV_TORCH to override, e.g. DEPSEV_TORCH="torch==2.13.0+cu126" on a GPU node.
TORCH_SPEC=${DEPSEV_TORCH:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.depsev-installed
want="$(sha256sum pyproject.toml | cut -c1-16) ${TORCH_SPEC}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "$TORCH_SPEC"
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
