#!/usr/bin/env bash
# The main job on the built-in SYNTHETIC demo cohort: installs what it needs, then runs the whole
# Snakemake workflow with config.yaml (dataset.kind: demo). Extra arguments go to snakemake.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
snakemake --cores "${DEPSEV_CORES:-all}" "$@"
snakemake --report results/report.html
echo
echo "Done (SYNTHETIC demo cohort -- no figure here is a result on a real corpus):"
echo "  report:   results/report.html"
echo "  tables:   results/tables/{headline,comparison_grid,published,lightweight}.csv"
echo "  QC:       results/qc/summary.tsv, results/qc/integrity.json"
echo "  features: results/features/, shards: results/shards/<modality>/<split>/part-*.parquet"
