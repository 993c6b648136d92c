"""Rule lightweight_table: the paper's Table 4 (parameters, MB, FLOPs, CPU latency)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.lightweight import lightweight_from_checkpoints
    from depsev.models import ModelConfig
    from depsev.shards.chunks import ChunkConfig

    sm = snakemake  # noqa: F821
    # this run's fusion model and the paper preset's, untrained, at the paper's chunk sizes
    sized = [(name, ModelConfig.from_dict(model), ChunkConfig.coerce(chunks))
             for name, model, chunks in sm.params.sized]
    table = lightweight_from_checkpoints(list(sm.input.models), chunks=sm.params.chunks,
                                         dataset_kind=sm.params.dataset_kind,
                                         batch_size=sm.params.batch_size, repeats=sm.params.repeats,
                                         config_name=sm.params.config_name, sized=sized)
    table.to_csv(sm.output.table, index=False)
    print(table.to_string())
