"""Batched inference shared by training (dev predictions every epoch), evaluation and ``depsev predict``.

Below :mod:`depsev.train`, :mod:`depsev.evaluate` and :mod:`depsev.predict`: it imports none of them.

- :func:`predict_batches` is THE loop that runs a torch model over batches (eval mode, no gradients)
  and collects its outputs as numpy arrays (:func:`prediction_arrays`); the trainer's dev
  predictions (with its loss, through ``on_batch``), :func:`predict_dataset` and
  :func:`depsev.predict.batches.run_model` all go through it;
- :func:`chunk_table` / :func:`prediction_frame` turn those arrays into the chunk-level table
  :func:`depsev.evaluate.aggregate.aggregate_participants` reads;
- :func:`summary_features` and :func:`forest_predictions`: the random-forest baseline's inputs and
  prediction (used when it is trained and when it is evaluated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from depsev.checkpoint import checkpoint_model_config
from depsev.constants import BAND_EDGES, INTERVIEWERS, N_BANDS, P_BAND_COLUMNS
from depsev.models import STREAMS, ModelConfig, batch_summary_features, model_streams

#: chunks per block when computing random-forest summary features (bounds memory for 4096-d audio)
RF_FEATURE_BLOCK = 64


# ---------------------------------------------------------------- batches
def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of ``batch`` on ``device`` (``non_blocking``)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def dataset_batches(dataset: Any, batch_size: int, keys: Sequence[str] | None = None
                    ) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive items of ``dataset`` stacked into batches of ``batch_size`` (the last one shorter);
    ``keys``: the item keys to keep (default: all)."""
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        yield {k: torch.stack([it[k] for it in items]) for k in (items[0] if keys is None else keys)}


# ---------------------------------------------------------------- the loop
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


def empty_predictions() -> dict[str, np.ndarray]:
    """The arrays of :func:`predict_batches` for no chunk at all."""
    return {"index": np.zeros(0, int), "mu": np.zeros(0), "var": np.zeros(0), "probs": np.zeros((0, N_BANDS))}


@torch.no_grad()
def predict_batches(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]], *,
                    device: torch.device | None = None,
                    on_batch: Callable[[Any, dict[str, torch.Tensor]], None] | None = None
                    ) -> dict[str, np.ndarray]:
    """Run ``model`` (in eval mode, without gradients) over ``batches``; return the concatenated
    :func:`prediction_arrays` (``index``, ``mu``, ``var``, ``probs``, optional ``gate`` / ``alpha``).

    Every batch needs an ``index`` tensor (which rows it holds).  ``device``: move each batch there
    first (:func:`to_device`); ``on_batch(pred, batch)`` is called with each batch's model output
    (still inside ``no_grad``), e.g. to add up a loss.  No batch: :func:`empty_predictions`.
    """
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        if device is not None:
            batch = to_device(batch, device)
        pred = model(batch)
        if on_batch is not None:
            on_batch(pred, batch)
        for k, v in prediction_arrays(pred, batch["index"]).items():
            parts.setdefault(k, []).append(v)
    if not parts:
        return empty_predictions()
    return {k: np.concatenate(v) for k, v in parts.items()}


# ---------------------------------------------------------------- tables
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
        for j, name in enumerate(STREAMS):
            df[f"alpha_{name}"] = out["alpha"][:, j].astype(np.float64)
    return df


# ---------------------------------------------------------------- random forest
def summary_features(dataset: Any, streams: tuple[str, ...], mcfg: ModelConfig,
                     seed: int) -> np.ndarray:
    """Random-forest inputs of every chunk (:func:`depsev.models.batch_summary_features`), in blocks."""
    blocks = [batch_summary_features(batch, streams, mcfg, seed=seed)
              for batch in dataset_batches(dataset, RF_FEATURE_BLOCK)]
    return np.concatenate(blocks, axis=0)


def forest_predictions(forest: Any, x: np.ndarray, var_floor: float) -> dict[str, np.ndarray]:
    """``mu`` = mean of the trees, ``var`` = their variance + ``var_floor``, ``probs`` = share of
    trees whose prediction falls in each severity band."""
    per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])  # [trees, N]
    bands = np.clip(np.digitize(per_tree, BAND_EDGES[1:-1]), 0, N_BANDS - 1)
    probs = np.stack([(bands == k).mean(axis=0) for k in range(N_BANDS)], axis=1)
    return {"mu": per_tree.mean(axis=0), "var": per_tree.var(axis=0) + var_floor, "probs": probs}


# ---------------------------------------------------------------- a loaded checkpoint on a dataset
def predict_dataset(model: Any, config: dict, dataset: Any, *, batch_size: int = 64) -> pd.DataFrame:
    """Chunk-level predictions of a loaded checkpoint (:func:`depsev.checkpoint.load_checkpoint`:
    a torch model or the random forest) on a :class:`depsev.data.ChunkDataset`."""
    if config.get("kind") == "rf":
        mcfg = checkpoint_model_config(config)
        x = summary_features(dataset, model_streams(config["modality"]), mcfg, int(config["train"]["seed"]))
        pred = forest_predictions(model, x, mcfg.var_floor)
        pred["index"] = np.arange(len(dataset))
        return chunk_table(dataset, pred)
    return chunk_table(dataset, predict_batches(model, dataset_batches(dataset, batch_size)))
