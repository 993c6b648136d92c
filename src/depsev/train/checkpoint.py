"""A trained model's folder: weights, resolved configuration, curves and dev predictions.

Files written by :func:`save_checkpoint` into ``out_dir``:

``model.pt``
    the state dict of the chosen (best dev) epoch (``torch.save``; neural models), or
``model.skops``
    the fitted random forest in skops' format (no pickle: loading it runs no code;
    :func:`depsev.predict.inference.load_forest` also bounds-checks its trees);
``config.json``
    everything needed to rebuild and judge the model: ``kind``, ``modality``, ``interviewer``,
    ``seed``, ``shuffle_labels``, the RESOLVED ``model`` and ``train`` configs, ``data`` (the
    fingerprint of the train and dev shards), ``features`` (provenance from the shard metadata:
    VGGish weights mode, feature sets, normalization sha256, dataset kind; and ``preparation``: how
    the features were prepared -- audio cleaning settings, face confidence threshold, min_coverage,
    VGGish weights file sha256 -- which ``depsev predict`` uses as its defaults and checks explicit
    arguments against, see :func:`depsev.train.run.feature_preparation`), ``synthetic``, and the
    ``result`` (best epoch, dev participant MAE of the model and of the training-mean predictor);
``curves.csv``
    per epoch: train loss, dev loss, dev participant MAE / RMSE (neural models); the figure is drawn by
    :func:`depsev.evaluate.report.render_training_curves` (rule ``curves_render``:
    ``snakemake results/plots/curves/<model>-seed<k>.png``), not in the training job (matplotlib costs
    ~1 s of every training job's start-up);
``dev_predictions.parquet``
    chunk-level dev predictions of the chosen epoch (``participant_id, chunk_index, ..., mu, var,
    p_band_0..4`` -- the input of :func:`depsev.evaluate.aggregate.aggregate_participants`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from depsev.predict.inference import (  # noqa: F401 - re-exported
    CONFIG_FILE,
    MODEL_FILE,
    SKLEARN_FILE,
    load_checkpoint,
    read_config,
    save_forest,
)

CURVES_CSV = "curves.csv"
DEV_PREDICTIONS = "dev_predictions.parquet"


def write_config(out_dir: Path, config: dict[str, Any]) -> Path:
    path = out_dir / CONFIG_FILE
    path.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    return path


def save_checkpoint(out_dir: str | Path, config: dict[str, Any], *, model: nn.Module | None = None,
                    estimator: Any = None, curves: pd.DataFrame | None = None,
                    dev_predictions: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the files of the module docstring (which ones: what is given); return their paths.

    Exactly one of ``model`` (torch) and ``estimator`` (scikit-learn) must be given.
    """
    if (model is None) == (estimator is None):
        raise ValueError("give exactly one of model (torch) and estimator (scikit-learn)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if model is not None:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, out / MODEL_FILE)
        paths["model"] = out / MODEL_FILE
    else:
        paths["model"] = save_forest(estimator, out / SKLEARN_FILE)
    paths["config"] = write_config(out, config)
    if curves is not None:
        curves.to_csv(out / CURVES_CSV, index=False)
        paths["curves_csv"] = out / CURVES_CSV
    if dev_predictions is not None:
        dev_predictions.to_parquet(out / DEV_PREDICTIONS, index=False)
        paths["dev_predictions"] = out / DEV_PREDICTIONS
    return paths
