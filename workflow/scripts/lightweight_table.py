"""Rule lightweight_table: the paper's Table 4 (parameters, MB, FLOPs, CPU latency)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.lightweight import lightweight_from_checkpoints

    sm = snakemake  # noqa: F821
    table = lightweight_from_checkpoints(list(sm.input.models), chunks=sm.params.chunks,
                                         dataset_kind=sm.params.dataset_kind,
                                         batch_size=sm.params.batch_size, repeats=sm.params.repeats)
    table.to_csv(sm.output.table, index=False)
    print(table.to_string())
