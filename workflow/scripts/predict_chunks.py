"""Rule predict_chunks: a trained model's chunk predictions on the dev or test split (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import log_to, single_log

with log_to(single_log(snakemake)):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.predict.inference import predict_split

    sm = snakemake  # noqa: F821
    df = predict_split(sm.input.model, sm.input.shards, read_manifest(sm.input.manifest))
    df.to_parquet(sm.output.predictions, index=False)
    print(f"{len(df)} chunk predictions, {df['participant_id'].nunique()} participants")
