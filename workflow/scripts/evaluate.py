"""Rule evaluate: predictions of every seed on dev and test, participant- and chunk-level metrics."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import log_to, single_log, write_json

with log_to(single_log(snakemake)):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.evaluate.tables import evaluate_predictions
    from depsev.predict.inference import predict_split

    sm = snakemake  # noqa: F821
    manifest = read_manifest(sm.input.manifest)
    train = manifest.loc[(manifest["split"] == "train") & (manifest["status"] == "ok"), "phq_score"]
    train_scores = train.astype(float).to_numpy()
    outputs = {(Path(p).parent.name, Path(p).stem): p for p in sm.output.predictions}
    metric_files = {(Path(p).parent.name, Path(p).stem): p for p in sm.output.metrics}
    for model_dir in sm.input.models:
        seed_dir = Path(model_dir).name
        for split in ("dev", "test"):
            pred = predict_split(model_dir, sm.input[split], manifest)
            pred.to_parquet(outputs[(seed_dir, split)], index=False)
            metrics = evaluate_predictions(pred, train_scores, source=outputs[(seed_dir, split)])
            metrics.update(model=sm.wildcards.model, seed=int(seed_dir.removeprefix("seed")))
            write_json(metrics, metric_files[(seed_dir, split)])
            print(sm.wildcards.model, seed_dir, split, metrics["participant"])
