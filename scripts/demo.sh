#!/usr/bin/env bash
# The main job on the built-in SYNTHETIC demo cohort: installs what it needs, then runs the whole
# Snakemake workflow with config.yaml (dataset.kind: demo). Extra arguments go to snakemake.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
snakemake --cores "${DEPSEV_CORES:-all}" "$@"
echo
echo "Done. Outputs (SYNTHETIC demo cohort) are under results/: manifest.parquet, qc/summary.tsv,"
echo "features/, normalize/, shards/<modality>/<split>/part-*.parquet"
