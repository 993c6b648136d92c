"""Rule plots_render: the report's figures for one model, seed and split (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.report import FIGURES, render_split_figures

    sm = snakemake  # noqa: F821
    render_split_figures(sm.input.predictions, sm.params.dataset_kind, {k: sm.output[k] for k in FIGURES},
                         model="moe-fusion", split=sm.wildcards.split, metrics=sm.input.metrics)
