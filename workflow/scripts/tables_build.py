"""Rule tables_build: the comparison grid (Table 5), headline and published (Table 6) tables."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import log_to, single_log

with log_to(single_log(snakemake)):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.published import published_table
    from depsev.evaluate.tables import (
        comparison_grid,
        dataset_label,
        headline_table,
        read_metrics_tree,
    )

    sm = snakemake  # noqa: F821
    label = dataset_label(sm.params.dataset_kind)
    metrics = read_metrics_tree(Path(sm.input.metrics[0]).parents[2])
    grid = comparison_grid(metrics, label)
    grid.to_csv(sm.output.grid, index=False)
    oracle = Path(sm.input.oracle).with_name("oracle.json") if "oracle" in sm.input.keys() else None
    headline = headline_table(metrics, label, oracle=oracle)
    headline.to_csv(sm.output.headline, index=False)
    published_table(grid, label).to_csv(sm.output.published, index=False)
    print(headline.to_string())
