"""Rule evaluate: predictions of every seed on dev and test, participant- and chunk-level metrics.

The chunk weighting of the participant aggregation is chosen first, on the dev predictions of all
seeds only (:func:`depsev.evaluate.aggregate.choose_weighting`); the test split is predicted after
that choice is made, so its predictions cannot influence it.  Every split's metrics then use it.  A
shuffled-label control (``shuffle_labels`` in its checkpoints' config.json) makes no choice on the
true dev labels: it takes the default weighting.
"""

import json
from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.evaluate.aggregate import DEFAULT_WEIGHTING, choose_weighting
    from depsev.evaluate.predictions import predict_split, split_dataset
    from depsev.evaluate.tables import evaluate_predictions

    sm = snakemake  # noqa: F821
    manifest = read_manifest(sm.input.manifest)
    train = manifest.loc[(manifest["split"] == "train") & (manifest["status"] == "ok"), "phq_score"]
    train_scores = train.astype(float).to_numpy()
    outputs = {(Path(p).parent.name, Path(p).stem): p for p in sm.output.predictions}
    metric_files = {(Path(p).parent.name, Path(p).stem): p for p in sm.output.metrics}
    seeds = [Path(model_dir).name for model_dir in sm.input.models]

    # 1. dev predictions of every seed, and the chunk weighting chosen on them alone
    dev, data = {}, {"dev": split_dataset(sm.input.dev)}
    for model_dir, seed_dir in zip(sm.input.models, seeds, strict=True):
        dev[seed_dir] = predict_split(model_dir, sm.input.dev, manifest, dataset=data["dev"])
        dev[seed_dir].to_parquet(outputs[(seed_dir, "dev")], index=False)
    control = any(json.loads((Path(d) / "config.json").read_text()).get("shuffle_labels")
                  for d in sm.input.models)
    weighting, choice = choose_weighting([dev[s] for s in seeds],
                                         sources=[outputs[(s, "dev")] for s in seeds],
                                         fixed=DEFAULT_WEIGHTING if control else None)
    print(sm.wildcards.model, "chunk weighting chosen on dev:", weighting)
    print(choice.to_string(index=False))

    # 2. metrics of every split with that weighting (test predicted only now)
    for model_dir, seed_dir in zip(sm.input.models, seeds, strict=True):
        for split in ("dev", "test"):
            if split == "dev":
                pred = dev[seed_dir]
            else:
                if split not in data:
                    data[split] = split_dataset(sm.input[split])
                pred = predict_split(model_dir, sm.input[split], manifest, dataset=data[split])
                pred.to_parquet(outputs[(seed_dir, split)], index=False)
            metrics = evaluate_predictions(pred, train_scores, weighting=weighting, weighting_choice=choice,
                                           source=outputs[(seed_dir, split)])
            metrics.update(model=sm.wildcards.model, seed=int(seed_dir.removeprefix("seed")))
            write_json(metrics, metric_files[(seed_dir, split)])
            print(sm.wildcards.model, seed_dir, split, metrics["participant"])
