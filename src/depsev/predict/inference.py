"""Inference shared by training (dev predictions), evaluation and ``depsev predict``.

Lives outside ``depsev.train`` so that evaluation and prediction never import training code:
checkpoint loading, chunk-level prediction tables, and the random-forest baseline's prediction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from depsev.constants import BAND_EDGES, INTERVIEWERS, N_BANDS
from depsev.errors import InputError
from depsev.evaluate.aggregate import P_BAND_COLUMNS
from depsev.models import ModelConfig, batch_summary_features
from depsev.models import model_streams as _model_streams

MODEL_FILE = "model.pt"
#: the random forest, in skops' format: loading it runs no code (a pickle could)
SKLEARN_FILE = "model.skops"
#: what random forests were written as before: a pickle, which depsev refuses to load
LEGACY_PICKLE = "model.joblib"
#: the one type depsev trusts beyond skops' defaults: a tree's node arrays, which scikit-learn indexes
#: without bounds checks -- :func:`check_forest` checks them after loading, before any prediction
FOREST_TRUSTED = ("sklearn.tree._tree.Tree",)
CONFIG_FILE = "config.json"
#: chunks per block when computing random-forest summary features (bounds memory for 4096-d audio)
RF_FEATURE_BLOCK = 64


def prediction_arrays(pred: Any, index: torch.Tensor) -> dict[str, np.ndarray]:
    """One batch's model output as numpy arrays (``mu``, ``var``, ``probs`` and, where the model
    has them, the expert ``gate`` and modality ``alpha`` weights)."""
    cols = {"mu": pred.mu, "var": pred.var, "probs": torch.softmax(pred.logits.float(), dim=-1)}
    if getattr(pred, "gate", None) is not None:
        cols["gate"] = pred.gate
    if getattr(pred, "alpha", None) is not None:
        cols["alpha"] = pred.alpha
    out = {k: v.detach().float().cpu().numpy() for k, v in cols.items()}
    out["index"] = index.cpu().numpy()
    return out


def chunk_table(dataset: Any, out: dict[str, np.ndarray]) -> pd.DataFrame:
    """Chunk predictions joined to the dataset's labels (columns of ``aggregate_participants``).

    ``out``: ``index`` (rows of ``dataset.labels``), ``mu``, ``var``, ``probs [N, 5]``, optional
    ``gate [N, 2]`` (woz, ai) and ``alpha [N, 2]`` (audio, video).
    """
    labels = dataset.labels.iloc[out["index"]].reset_index(drop=True)
    df = labels[["participant_id", "chunk_index", "split", "interviewer", "phq_score", "band"]].copy()
    df["gender"] = labels["gender"] if "gender" in labels else ""
    return pd.concat([df, prediction_frame(out)], axis=1)


def prediction_frame(out: dict[str, np.ndarray]) -> pd.DataFrame:
    """Chunk predictions as a table: ``mu, var, p_band_0..4`` (+ ``gate_*``, ``alpha_*``)."""
    df = pd.DataFrame({"mu": out["mu"].astype(np.float64), "var": out["var"].astype(np.float64)})
    probs = out["probs"].astype(np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    for k in range(N_BANDS):
        df[P_BAND_COLUMNS[k]] = probs[:, k]
    if "gate" in out:
        for j, name in enumerate(INTERVIEWERS):
            df[f"gate_{name}"] = out["gate"][:, j].astype(np.float64)
    if "alpha" in out:
        for j, name in enumerate(("audio", "video")):
            df[f"alpha_{name}"] = out["alpha"][:, j].astype(np.float64)
    return df




def summary_features(dataset: Any, streams: tuple[str, ...], mcfg: ModelConfig,
                     seed: int) -> np.ndarray:
    """Random-forest inputs of every chunk (:func:`depsev.models.batch_summary_features`), in blocks."""
    blocks = []
    for start in range(0, len(dataset), RF_FEATURE_BLOCK):
        idx = range(start, min(start + RF_FEATURE_BLOCK, len(dataset)))
        items = [dataset[i] for i in idx]
        batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        blocks.append(batch_summary_features(batch, streams, mcfg, seed=seed))
    return np.concatenate(blocks, axis=0)


def forest_predictions(forest: Any, x: np.ndarray, var_floor: float) -> dict[str, np.ndarray]:
    """``mu`` = mean of the trees, ``var`` = their variance + ``var_floor``, ``probs`` = share of
    trees whose prediction falls in each severity band."""
    per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])  # [trees, N]
    bands = np.clip(np.digitize(per_tree, BAND_EDGES[1:-1]), 0, N_BANDS - 1)
    probs = np.stack([(bands == k).mean(axis=0) for k in range(N_BANDS)], axis=1)
    return {"mu": per_tree.mean(axis=0), "var": per_tree.var(axis=0) + var_floor, "probs": probs}




def read_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder (InputError when absent or not JSON)."""
    path = Path(ckpt_dir) / CONFIG_FILE
    if not path.is_file():
        raise InputError(path, "checkpoint has no config.json")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})") from exc


def save_forest(estimator: Any, path: str | Path) -> Path:
    """Write a fitted random forest in skops' format (no pickle); :func:`load_forest` reads it."""
    import skops.io as sio

    path = Path(path)
    sio.dump(estimator, path)
    return path


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
    from today's shards and ``depsev predict``; they must be retrained, not reused.
    """
    from depsev.shards.schema import SCHEMA_VERSION

    version = (config.get("features") or {}).get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(where, f"model trained on chunk shards of schema version {version!r}; this depsev "
                                f"builds version {SCHEMA_VERSION} (fusion audio placed by time, interviewer "
                                "experts with their own encoders): retrain it with the current workflow")


def checkpoint_model_config(config: dict) -> ModelConfig:
    """The :class:`ModelConfig` a checkpoint was trained with (``config["model"]``).

    Checkpoints written before ``encoder_steps`` existed ran their encoders over every frame: a
    saved model section without the key means ``encoder_steps = 0``, not today's default.
    """
    saved = dict(config["model"])
    saved.setdefault("encoder_steps", 0)
    return ModelConfig.from_dict(saved)


@torch.no_grad()
def predict_dataset(model: Any, config: dict, dataset: Any, *, batch_size: int = 64) -> pd.DataFrame:
    """Chunk-level predictions of a loaded checkpoint on a :class:`depsev.data.ChunkDataset`."""
    if config.get("kind") == "rf":
        streams = _model_streams(config["modality"])
        mcfg = checkpoint_model_config(config)
        x = summary_features(dataset, streams, mcfg, int(config["train"]["seed"]))
        pred = forest_predictions(model, x, mcfg.var_floor)
        pred["index"] = np.arange(len(dataset))
        return chunk_table(dataset, pred)
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        for k, v in prediction_arrays(model(batch), batch["index"]).items():
            parts.setdefault(k, []).append(v)
    if not parts:
        return chunk_table(dataset, {"index": np.zeros(0, int), "mu": np.zeros(0), "var": np.zeros(0),
                                     "probs": np.zeros((0, N_BANDS))})
    return chunk_table(dataset, {k: np.concatenate(v) for k, v in parts.items()})


def check_features_match(config: dict, provenance: dict, where: str | Path) -> None:
    """Refuse inputs prepared differently from the model's training data (feature set, VGGish
    weights, normalization statistics)."""
    trained = config.get("features", {})
    for key in sorted(set(trained) & set(provenance)):
        if key in ("synthetic", "dataset_kind"):
            continue
        if json.dumps(trained[key], sort_keys=True) != json.dumps(provenance[key], sort_keys=True):
            raise InputError(where, f"features do not match the model: {key} is {provenance[key]!r} here "
                                    f"but the model was trained with {trained[key]!r}")


def split_dataset(shard_dir: str | Path) -> Any:
    """The :class:`~depsev.data.dataset.ChunkDataset` of ``results/shards/<modality>/<split>``
    (``purpose="evaluate"``: true labels), to predict several checkpoints on one read."""
    from depsev.data.dataset import ChunkDataset

    shard_dir = Path(shard_dir)
    return ChunkDataset.from_shards(shard_dir.parents[1], shard_dir.parent.name, shard_dir.name,
                                    purpose="evaluate")


def predict_split(model_dir: str | Path, shard_dir: str | Path, manifest: pd.DataFrame | None = None,
                  dataset: Any = None) -> pd.DataFrame:
    """Chunk predictions of the checkpoint in ``model_dir`` on the shards in ``shard_dir``
    (``results/shards/<modality>/<split>``), with gender joined from the manifest.  ``dataset``: that
    folder's :func:`split_dataset`, when the caller has read it already."""
    shard_dir = Path(shard_dir)
    model, config = load_checkpoint(model_dir)
    split, modality = shard_dir.name, shard_dir.parent.name
    if modality != config.get("shard_modality", modality):
        raise InputError(shard_dir, f"model {model_dir} reads {config['shard_modality']} shards, "
                                    f"not {modality}")
    if dataset is None:
        dataset = split_dataset(shard_dir)
    elif (dataset.modality, dataset.split) != (modality, split):
        raise ValueError(f"dataset of {dataset.modality}/{dataset.split} given for {shard_dir}")
    check_features_match(config, dataset.provenance(), shard_dir)
    df = predict_dataset(model, config, dataset)
    if manifest is not None and len(df):
        gender = dict(zip(manifest["participant_id"].astype(int), manifest["gender"].astype(str),
                          strict=True))
        df["gender"] = df["participant_id"].astype(int).map(gender).fillna("")
    return df
