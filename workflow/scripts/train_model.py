"""Rules train_expert / train_moe / train_fusion / train_baseline (thin wrapper over depsev.train.run)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    import logging

    from depsev.train.run import train_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sm = snakemake  # noqa: F821
    shard_root = Path(sm.input.train_shards).parents[1]
    init = {k: sm.input[k] for k in ("woz", "ai") if k in sm.input.keys()}
    start = sm.input.get("init_from")
    summary = train_model(shard_root, sm.output.model, kind=sm.params.kind,
                          modality=sm.wildcards.get("modality", "fusion"),
                          interviewer=sm.wildcards.get("interviewer"), seed=int(sm.wildcards.seed),
                          model_cfg=sm.params.model_cfg, train_cfg=sm.params.train_cfg,
                          shuffle_labels=bool(sm.params.shuffle), init_experts=init or None,
                          init_from=start)
    write_json(summary, Path(sm.output.model) / "summary.json")
    print(summary)
