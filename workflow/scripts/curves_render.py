"""Rule curves_render: a model's training curves (the paper's figures 6-8) (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.report import render_training_curves

    sm = snakemake  # noqa: F821
    render_training_curves(sm.input.model, sm.params.dataset_kind, sm.output.png, model=sm.wildcards.model)
