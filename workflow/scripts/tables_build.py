"""Rule tables_build: the comparison grid (Table 5), headline, published (Table 6) and aggregation tables."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.published import published_table
    from depsev.evaluate.tables import (
        aggregation_table,
        comparison_grid,
        dataset_label,
        headline_table,
        read_metrics_tree,
        with_config,
    )

    sm = snakemake  # noqa: F821
    label = dataset_label(sm.params.dataset_kind)
    metrics = read_metrics_tree(Path(sm.input.metrics[0]).parents[2])
    name = sm.params.config_name  # every table says which configuration produced it
    grid = comparison_grid(metrics, label)
    with_config(grid, name).to_csv(sm.output.grid, index=False)
    # the synthetic cohort's ground_truth/ folder: oracle.json (per split) and participants.csv (per
    # participant, for the oracle on the dev AI-agent participants)
    ground_truth = Path(sm.input.oracle).parent if "oracle" in sm.input.keys() else None
    headline = headline_table(
        metrics, label, control="moe-fusion-shuffled" if sm.params.shuffled_control else None,
        oracle=None if ground_truth is None else ground_truth / "oracle.json",
        oracle_participants=None if ground_truth is None else ground_truth / "participants.csv")
    with_config(headline, name).to_csv(sm.output.headline, index=False)
    with_config(published_table(grid, label), name).to_csv(sm.output.published, index=False)
    with_config(aggregation_table(metrics, label), name).to_csv(sm.output.aggregation, index=False)
    print(headline.to_string())
