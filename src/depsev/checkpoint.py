"""A trained model's folder: its file names, writing it, and loading it back safely.

Below :mod:`depsev.train` (which writes the folder), :mod:`depsev.evaluate` and :mod:`depsev.predict`
(which read it): it imports none of them.

Files written by :func:`save_checkpoint` into ``out_dir``:

``model.pt``
    the state dict of the chosen (best dev) epoch (``torch.save``; neural models), or
``model.skops``
    the fitted random forest in skops' format (no pickle: loading it runs no code;
    :func:`load_forest` also bounds-checks its trees);
``config.json``
    everything needed to rebuild and judge the model: ``kind``, ``modality``, ``interviewer``,
    ``seed``, ``shuffle_labels``, the RESOLVED ``model`` and ``train`` configs, ``data`` (the
    fingerprint of the train and dev shards), ``features`` (provenance from the shard metadata:
    feature sets, normalization sha256, chunk config, dataset kind; and, under the one key
    ``preparation``, how the features were prepared -- audio cleaning settings, VGGish weights mode /
    file / sha256, face confidence threshold, OpenFace image, min_coverage -- as the train and dev
    shards carry it (:mod:`depsev.shards.preparation`); ``depsev predict`` uses it as its defaults
    and checks explicit arguments against it), ``synthetic``, and the
    ``result`` (best epoch, dev participant MAE of the model and of the training-mean predictor);
``curves.csv``
    per epoch: train loss, dev loss, dev participant MAE / RMSE (neural models); the figure is drawn by
    :func:`depsev.evaluate.report.render_training_curves` (rule ``curves_render``:
    ``snakemake results/plots/curves/<model>-seed<k>.png``), not in the training job (matplotlib costs
    ~1 s of every training job's start-up);
``dev_predictions.parquet``
    chunk-level dev predictions of the chosen epoch (``participant_id, chunk_index, ..., mu, var,
    p_band_0..4`` -- the input of :func:`depsev.evaluate.aggregate.aggregate_participants`).

:func:`load_checkpoint` rebuilds the model (torch weights with ``weights_only=True``; the forest with
skops, trusting only scikit-learn's tree arrays, which :func:`check_forest` bounds-checks) and refuses
pickles, checkpoints of another shard schema version (:func:`check_checkpoint_version`) and, through
:func:`check_features_match`, inputs prepared differently from the training data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from depsev.errors import InputError, read_json
from depsev.models import ModelConfig

MODEL_FILE = "model.pt"
#: the random forest, in skops' format: loading it runs no code (a pickle could)
SKLEARN_FILE = "model.skops"
#: what random forests were written as before: a pickle, which depsev refuses to load
LEGACY_PICKLE = "model.joblib"
#: the one type depsev trusts beyond skops' defaults: a tree's node arrays, which scikit-learn indexes
#: without bounds checks -- :func:`check_forest` checks them after loading, before any prediction
FOREST_TRUSTED = ("sklearn.tree._tree.Tree",)
CONFIG_FILE = "config.json"
CURVES_CSV = "curves.csv"
DEV_PREDICTIONS = "dev_predictions.parquet"


# ---------------------------------------------------------------- writing
def write_config(out_dir: Path, config: dict[str, Any]) -> Path:
    """Write ``config.json`` (indented, sorted keys) into ``out_dir``; return its path."""
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


def save_forest(estimator: Any, path: str | Path) -> Path:
    """Write a fitted random forest in skops' format (no pickle); :func:`load_forest` reads it."""
    import skops.io as sio

    path = Path(path)
    sio.dump(estimator, path)
    return path


# ---------------------------------------------------------------- reading
def read_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder (InputError when absent or not JSON)."""
    return read_json(Path(ckpt_dir) / CONFIG_FILE, missing="checkpoint has no config.json")


def load_forest(path: str | Path) -> Any:
    """The random forest in ``path`` (written by :func:`save_forest`), loaded without running code.

    skops loads only the types it trusts plus :data:`FOREST_TRUSTED`; anything else in the file, a file
    that is not skops', an estimator that is not a ``RandomForestRegressor``, or trees whose node
    arrays point outside themselves (:func:`check_forest`) raise :class:`InputError` naming the file.
    """
    import skops.io as sio
    from sklearn.ensemble import RandomForestRegressor

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted types for a file that is not its format
        raise InputError(path, f"not a readable skops file ({type(exc).__name__}: {exc})") from exc
    foreign = sorted(set(untrusted) - set(FOREST_TRUSTED))
    if foreign:
        raise InputError(path, f"holds types depsev does not load: {foreign}")
    try:
        estimator = sio.load(path, trusted=list(FOREST_TRUSTED))
    except Exception as exc:
        raise InputError(path, f"cannot load ({type(exc).__name__}: {exc})") from exc
    if type(estimator) is not RandomForestRegressor:
        raise InputError(path, f"holds a {type(estimator).__name__}, not a RandomForestRegressor")
    check_forest(estimator, path)
    return estimator


def check_forest(estimator: Any, source: str | Path | None = None) -> None:
    """Bounds-check every tree of a loaded forest before scikit-learn indexes into it.

    Every internal node's children lie after it and inside the tree, leaves have no children, every
    split feature exists, and the value table has one row per node: a crafted file cannot make
    ``predict`` read outside the arrays.  Raises :class:`InputError`.
    """
    from sklearn.tree import DecisionTreeRegressor

    n_features = int(getattr(estimator, "n_features_in_", -1))
    trees = getattr(estimator, "estimators_", None)
    if n_features < 1 or not trees:
        raise InputError(source, "random forest without fitted trees or feature count")
    for i, tree in enumerate(trees):
        if type(tree) is not DecisionTreeRegressor or int(getattr(tree, "n_features_in_", -1)) != n_features:
            raise InputError(source, f"tree {i} is not a DecisionTreeRegressor on {n_features} features")
        t = tree.tree_
        n = int(t.node_count)
        left, right, feature = (np.asarray(a, dtype=np.int64) for a in
                                (t.children_left, t.children_right, t.feature))
        idx = np.arange(n)
        leaf = left == -1
        bad = ((left.shape != (n,)) or (right.shape != (n,)) or (feature.shape != (n,))
               or np.asarray(t.value).shape[0] != n or int(t.n_features) != n_features or n < 1
               or bool(np.any(leaf != (right == -1)))
               or bool(np.any(~leaf & ((left <= idx) | (left >= n) | (right <= idx) | (right >= n))))
               or bool(np.any(~leaf & ((feature < 0) | (feature >= n_features)))))
        if bad:
            raise InputError(source, f"tree {i}: node arrays point outside the tree; refusing to use it")


def load_checkpoint(ckpt_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[Any, dict]:
    """``(model, config)``: the rebuilt torch model in eval mode (or the fitted estimator).

    Torch models are rebuilt with :func:`depsev.models.build_model` from the resolved model
    config and loaded with ``weights_only=True``.
    """
    ckpt = Path(ckpt_dir)
    config = read_config(ckpt)
    check_checkpoint_version(config, ckpt / CONFIG_FILE)
    if (ckpt / SKLEARN_FILE).is_file():
        return load_forest(ckpt / SKLEARN_FILE), config
    if (ckpt / LEGACY_PICKLE).is_file():
        raise InputError(ckpt / LEGACY_PICKLE, "a pickle, which can run code when loaded: depsev loads no "
                                               f"pickles. Retrain the model (forests are now {SKLEARN_FILE})")
    path = ckpt / MODEL_FILE
    if not path.is_file():
        raise InputError(ckpt, f"checkpoint has neither {MODEL_FILE} nor {SKLEARN_FILE}")
    from depsev.models import build_model

    for key in ("kind", "modality", "model"):
        if key not in config:
            raise InputError(ckpt / CONFIG_FILE, f"config.json lacks {key!r}")
    model = build_model(config["kind"], config["modality"], checkpoint_model_config(config))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, ValueError) as exc:
        raise InputError(path, f"cannot load the weights into a {config['kind']}/{config['modality']} "
                               f"model ({exc})") from exc
    model.eval()
    return model, config


def check_checkpoint_version(config: dict, where: str | Path) -> None:
    """Refuse a checkpoint trained on chunk shards of another schema version (InputError).

    Version 1 shards packed a fusion chunk's audio into its first slots whatever its time, and its
    mixtures shared one encoder between the interviewer experts: such models read the data differently
    from today's shards and ``depsev predict``; they must be retrained, not reused.  Version 2 shards
    did not carry the feature preparation: their checkpoints recorded it in another layout, pieced
    together from feature files and the workflow configuration, which ``depsev predict`` no longer reads.
    """
    from depsev.shards.schema import SCHEMA_VERSION

    version = (config.get("features") or {}).get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(where, f"model trained on chunk shards of schema version {version!r}; this depsev "
                                f"builds version {SCHEMA_VERSION} (fusion audio placed by time, interviewer "
                                "experts with their own encoders, the feature preparation carried by the "
                                "shards and recorded once in features.preparation): retrain it with the "
                                "current workflow")


def checkpoint_model_config(config: dict) -> ModelConfig:
    """The :class:`ModelConfig` a checkpoint was trained with (``config["model"]``).

    Checkpoints written before ``encoder_steps`` existed ran their encoders over every frame: a
    saved model section without the key means ``encoder_steps = 0``, not today's default.
    """
    saved = dict(config["model"])
    saved.setdefault("encoder_steps", 0)
    return ModelConfig.from_dict(saved)


def check_features_match(config: dict, provenance: dict, where: str | Path) -> None:
    """Refuse inputs prepared differently from the model's training data (feature set, normalization
    statistics, the settings of the feature ``preparation``: VGGish weights, audio cleaning, face
    confidence threshold, ...; its session counts are not compared)."""
    from depsev.shards.preparation import COUNT_KEYS, PREPARATION_KEY

    trained = config.get("features", {})
    for key in sorted(set(trained) & set(provenance)):
        # "balance": the train split's down-sampling (chunks.balance_train), never applied to dev/test
        if key in ("synthetic", "dataset_kind", "balance"):
            continue
        mine, theirs = trained[key], provenance[key]
        if key == PREPARATION_KEY and isinstance(mine, dict) and isinstance(theirs, dict):
            mine, theirs = ({k: v for k, v in d.items() if k not in COUNT_KEYS} for d in (mine, theirs))
        if json.dumps(mine, sort_keys=True) != json.dumps(theirs, sort_keys=True):
            raise InputError(where, f"features do not match the model: {key} is {theirs!r} here "
                                    f"but the model was trained with {mine!r}")
