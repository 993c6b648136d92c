#!/usr/bin/env bash
# The test command: installs what it needs (scripts/bootstrap.sh), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
# three worker processes: the suite's long files (the whole-DAG run, the SLURM run -- mostly waiting on
# the scheduler --, the learning checks) start first and run side by side (tests/conftest.py orders
# them); a file's tests stay in one worker, so module fixtures are made once. Override with
# DEPSEV_TEST_WORKERS=0 (one process: e.g. for pdb) or another number.
# One compute thread per worker (the tests' tensors are small, and more threads than cores only spin).
# A Snakemake run inside a test gives each job its rule's threads. More threads than cores are
# running at times (three workers and a test's Snakemake jobs on 2 cores): OpenMP threads that wait
# sleep instead of spinning (measured: three 2-thread torch processes on 2 cores took 32 % less CPU).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
python -m pytest -n "${DEPSEV_TEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder "$@"
