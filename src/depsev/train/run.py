"""Training entry point: :func:`train_model` (called by the Snakemake rules ``train_expert``,
``train_fusion``, ``train_baseline`` and by ``depsev train``).

It opens the TRAIN and DEV shards only, with ``purpose="train"`` (the test split is refused by
:class:`depsev.data.ChunkDataset`), builds the model (:func:`depsev.models.build_model`) or the
random forest (kind :data:`RF_KIND`), trains it, and writes a checkpoint folder
(:mod:`depsev.train.checkpoint`).  Shards used per model:

- ``expert`` / ``moe`` with modality ``audio`` or ``video``: ``<shard_root>/<modality>/``;
- ``fusion`` (modality ``fusion``) and the baselines with modality ``fusion``:
  ``<shard_root>/fusion/`` (both streams, paired by timestamp);
- ``lstm`` / ``resnet`` / ``rf`` with ``audio`` or ``video``: that modality's shards.

The model's input dimensions (``audio_dim``, ``video_dim``) are taken from the shards (the resolved
model config in ``config.json`` records them).  The returned summary holds the best epoch and the
dev participant MAE of the model AND of the training-mean predictor (every DEV participant
predicted with the mean PHQ-8 score of the training participants, one score per participant).
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from depsev import __version__
from depsev.data.dataset import ChunkDataset, data_fingerprint, split_dir
from depsev.errors import InputError
from depsev.models import KINDS, ModelConfig, build_model, count_parameters
from depsev.models import model_streams as _model_streams
from depsev.models.baselines import make_random_forest
from depsev.predict.inference import chunk_table, forest_predictions, summary_features
from depsev.train.checkpoint import save_checkpoint
from depsev.train.config import TrainConfig
from depsev.train.trainer import Trainer, participant_table

log = logging.getLogger("depsev.train")

#: the random-forest baseline (scikit-learn on chunk summary statistics)
RF_KIND = "rf"
ALL_KINDS = (*KINDS, RF_KIND)
#: splits training code reads -- never "test"
TRAINING_SPLITS = ("train", "dev")
#: chunks per block when computing random-forest summary features (bounds memory for 4096-d audio)
RF_FEATURE_BLOCK = 64


def shard_modality(kind: str, modality: str) -> str:
    """Which shard folder a model reads: ``fusion`` for two-stream models, else the modality."""
    if kind not in ALL_KINDS:
        raise ValueError(f"kind must be one of {ALL_KINDS}, got {kind!r}")
    streams = _model_streams(modality)
    return "fusion" if len(streams) == 2 else streams[0]


def load_training_data(shard_root: str | Path, kind: str, modality: str, interviewer: str | None,
                       shuffle_seed: int | None) -> tuple[ChunkDataset, ChunkDataset]:
    """Train (labels permuted when ``shuffle_seed`` is given) and dev datasets, ``purpose="train"``."""
    sm = shard_modality(kind, modality)
    train = ChunkDataset.from_shards(shard_root, sm, "train", purpose="train", interviewer=interviewer,
                                     shuffle_labels_seed=shuffle_seed)
    dev = ChunkDataset.from_shards(shard_root, sm, "dev", purpose="train", interviewer=interviewer)
    return train, dev


def resolve_model_config(model_cfg: ModelConfig | Mapping[str, Any] | None,
                         train: ChunkDataset) -> ModelConfig:
    """The model config with the input dimensions of the shards."""
    cfg = model_cfg if isinstance(model_cfg, ModelConfig) else ModelConfig.from_dict(model_cfg)
    dims = train.dims
    updates = {f"{s}_dim": d for s, d in dims.items()}
    return dataclasses.replace(cfg, **updates)


def resolve_train_config(train_cfg: TrainConfig | Mapping[str, Any] | None, seed: int) -> TrainConfig:
    cfg = train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)
    return dataclasses.replace(cfg, seed=int(seed))


def train_mean_mae(train: ChunkDataset, dev_people: pd.DataFrame) -> tuple[float, float]:
    """``(training mean, dev participant MAE of predicting it for everyone)``.

    The mean is over training PARTICIPANTS (one score each), as used for training.
    """
    mean = float(train.participant_scores().mean())
    return mean, float(np.mean(np.abs(dev_people["phq_score"].to_numpy(float) - mean)))


def _base_config(kind: str, modality: str, interviewer: str | None, seed: int, shuffle_labels: bool,
                 model_cfg: ModelConfig, train_cfg: TrainConfig, train: ChunkDataset, dev: ChunkDataset,
                 shard_root: Path) -> dict[str, Any]:
    sm = shard_modality(kind, modality)
    prov = train.provenance()
    return {
        "kind": kind, "modality": modality, "shard_modality": sm, "interviewer": interviewer, "seed": seed,
        "shuffle_labels": shuffle_labels, "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
        "data": {"shard_root": str(shard_root), "splits": list(TRAINING_SPLITS),
                 "fingerprint": data_fingerprint([split_dir(shard_root, sm, s) for s in TRAINING_SPLITS]),
                 "n_train_chunks": len(train), "n_dev_chunks": len(dev),
                 "n_train_participants": int(train.labels["participant_id"].nunique()),
                 "n_dev_participants": int(dev.labels["participant_id"].nunique()),
                 "train_band_counts": train.band_counts().tolist()},
        "features": prov, "synthetic": prov["synthetic"], "dataset_kind": prov["dataset_kind"],
        "versions": {"depsev": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }


def train_model(shard_root: str | Path, out_dir: str | Path, *, kind: str, modality: str,
                interviewer: str | None = None, seed: int,
                model_cfg: ModelConfig | Mapping[str, Any] | None = None,
                train_cfg: TrainConfig | Mapping[str, Any] | None = None,
                shuffle_labels: bool = False,
                init_experts: Mapping[str, str | Path] | None = None) -> dict[str, Any]:
    """Train one model on the train split, choose its epoch on dev, write the checkpoint folder.

    ``kind``: one of :data:`ALL_KINDS`; ``modality``: ``audio | video | fusion``; ``interviewer``:
    ``woz | ai`` keeps only that interviewer type's chunks (per-interviewer experts);
    ``shuffle_labels``: train on participant-level permuted labels (seeded by ``seed``; dev labels
    stay true) -- the shuffled-label control.  Returns the summary also stored under ``result``
    in ``config.json``: ``best_epoch``, ``epochs_run``, ``dev_participant_mae`` / ``_rmse``,
    ``train_mean``, ``train_mean_dev_mae``, ``n_parameters``, ``out_dir``, ``synthetic``.

    ``init_experts`` (kind ``moe`` only): ``{"woz": dir, "ai": dir}`` checkpoint folders of the two
    separately trained interviewer experts of the same modality (paper eq. 10-11); the mixture's
    experts start from their weights, its shared encoder from the WoZ expert's (the larger
    training set), and the gate from scratch -- then everything is fine-tuned on all training chunks.
    """
    shard_root, out = Path(shard_root), Path(out_dir)
    train, dev = load_training_data(shard_root, kind, modality, interviewer, seed if shuffle_labels else None)
    mcfg = resolve_model_config(model_cfg, train)
    tcfg = resolve_train_config(train_cfg, seed)
    config = _base_config(kind, modality, interviewer, int(seed), bool(shuffle_labels), mcfg, tcfg,
                          train, dev, shard_root)
    if init_experts:
        if kind != "moe":
            raise ValueError(f"init_experts applies to kind 'moe' only, not {kind!r}")
        config["init_experts"] = {k: str(v) for k, v in init_experts.items()}
    if kind == RF_KIND:
        return _train_forest(out, config, mcfg, tcfg, train, dev, modality)
    return _train_network(out, config, mcfg, tcfg, train, dev, kind, modality, init_experts)


def init_moe_from_experts(model: torch.nn.Module, experts: Mapping[str, str | Path], modality: str) -> None:
    """Load two trained interviewer experts into a single-modality mixture (see :func:`train_model`)."""
    from depsev.constants import INTERVIEWERS
    from depsev.predict.inference import load_checkpoint

    missing = [who for who in INTERVIEWERS if who not in experts]
    if missing:
        raise ValueError(f"init_experts needs a checkpoint for each interviewer type; missing {missing}")
    for i, who in enumerate(INTERVIEWERS):
        expert, cfg = load_checkpoint(experts[who])
        if cfg.get("kind") != "expert" or cfg.get("modality") != modality or cfg.get("interviewer") != who:
            raise InputError(experts[who], f"not a {modality} expert for {who} sessions "
                                           f"(kind={cfg.get('kind')}, modality={cfg.get('modality')}, "
                                           f"interviewer={cfg.get('interviewer')})")
        model.head.experts[i].load_state_dict(expert.expert.state_dict())
        if who == "woz":
            model.encoder.load_state_dict(expert.encoder.state_dict())


def make_loss(tcfg: TrainConfig, train: ChunkDataset) -> torch.nn.Module:
    """Focal (alpha from the training band counts) + Gaussian NLL, weighted as configured."""
    from depsev.train.losses import CombinedLoss, focal_alpha_from_counts

    alpha = focal_alpha_from_counts(train.band_counts().tolist())
    return CombinedLoss(w_focal=tcfg.w_focal, w_nll=tcfg.w_nll, alpha=alpha, gamma=tcfg.focal_gamma)


def _summary(config: dict, out: Path, dev_people: pd.DataFrame, train: ChunkDataset, **extra: Any) -> dict:
    mean, mean_mae = train_mean_mae(train, dev_people)
    err = dev_people["mu"].to_numpy(float) - dev_people["phq_score"].to_numpy(float)
    result = {"kind": config["kind"], "modality": config["modality"], "interviewer": config["interviewer"],
              "seed": config["seed"], "shuffle_labels": config["shuffle_labels"],
              "dev_participant_mae": float(np.mean(np.abs(err))),
              "dev_participant_rmse": float(np.sqrt(np.mean(err**2))),
              "train_mean": mean, "train_mean_dev_mae": mean_mae,
              "n_dev_participants": len(dev_people), "synthetic": config["synthetic"], "out_dir": str(out)}
    result.update(extra)
    return result


def _train_network(out: Path, config: dict, mcfg: ModelConfig, tcfg: TrainConfig, train: ChunkDataset,
                   dev: ChunkDataset, kind: str, modality: str,
                   init_experts: Mapping[str, str | Path] | None = None) -> dict[str, Any]:
    model = build_model(kind, modality, mcfg, seed=tcfg.seed)
    if init_experts:
        init_moe_from_experts(model, init_experts, modality)
    trainer = Trainer(model, make_loss(tcfg, train), tcfg, train, dev, log=log.info)
    res = trainer.fit()
    summary = _summary(config, out, res.dev_participants, train, best_epoch=res.best_epoch,
                       epochs_run=res.epochs_run, stopped_early=res.stopped_early,
                       n_parameters=count_parameters(res.model), device=str(trainer.device))
    config["result"] = summary
    save_checkpoint(out, config, model=res.model, curves=res.curves, dev_predictions=res.dev_chunks)
    return summary


# ---------------------------------------------------------------- random forest
def _train_forest(out: Path, config: dict, mcfg: ModelConfig, tcfg: TrainConfig, train: ChunkDataset,
                  dev: ChunkDataset, modality: str) -> dict[str, Any]:
    streams = _model_streams(modality)
    x_train = summary_features(train, streams, mcfg, tcfg.seed)
    x_dev = summary_features(dev, streams, mcfg, tcfg.seed)
    if not np.isfinite(x_train).all():
        raise InputError(split_dir(config["data"]["shard_root"], config["shard_modality"], "train"),
                         "non-finite chunk summary features")
    forest = make_random_forest(tcfg.seed, mcfg.rf_trees)
    forest.fit(x_train, train.y.numpy().astype(np.float64))
    pred = forest_predictions(forest, x_dev, mcfg.var_floor)
    pred["index"] = np.arange(len(dev))
    chunks = chunk_table(dev, pred)
    people = participant_table(chunks)
    summary = _summary(config, out, people, train, best_epoch=None, epochs_run=None,
                       n_features=int(x_train.shape[1]), n_trees=len(forest.estimators_))
    config["result"] = summary
    config["estimator"] = {"class": type(forest).__name__, "params": forest.get_params()}
    save_checkpoint(out, config, estimator=forest, dev_predictions=chunks)
    return summary
