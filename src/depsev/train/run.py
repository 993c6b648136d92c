"""Training entry point: :func:`train_model` (called by the Snakemake rules ``train_expert``,
``train_moe``, ``train_fusion`` and ``train_baseline``; there is no separate training command).

It opens the TRAIN and DEV shards only, with ``purpose="train"`` (the test split is refused by
:class:`depsev.data.ChunkDataset`), builds the model (:func:`depsev.models.build_model`) or the
random forest (kind :data:`RF_KIND`), trains it, and writes a checkpoint folder
(:func:`depsev.checkpoint.save_checkpoint`).  Shards used per model:

- ``expert`` / ``moe`` with modality ``audio`` or ``video``: ``<shard_root>/<modality>/``;
- ``fusion`` (modality ``fusion``) and the baselines with modality ``fusion``:
  ``<shard_root>/fusion/`` (both streams, paired by timestamp);
- ``lstm`` / ``resnet`` / ``rf`` with ``audio`` or ``video``: that modality's shards.

The model's input dimensions (``audio_dim``, ``video_dim``) are taken from the shards (the resolved
model config in ``config.json`` records them).

``config.json["features"]["preparation"]`` records how the training features were prepared, so that
``depsev predict`` prepares a new session the same way (:func:`feature_preparation`): the audio
cleaning settings (``segmentation``, ``denoise``, ``normalize_audio``), the face
``confidence_threshold`` and OpenFace image, ``min_coverage``, the VGGish weights mode / file / sha256.
It is the ``preparation`` the train and dev shards carry in their metadata (the shard stage read it
from the feature files: :mod:`depsev.shards.preparation`); training reads nothing else, neither the
feature files nor the workflow configuration.

The returned summary holds the best epoch and the dev participant MAE of the model AND of the
training-mean predictor (every DEV participant predicted with the mean PHQ-8 score of the training
participants, one score per participant).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from depsev import __version__
from depsev.checkpoint import load_checkpoint, save_checkpoint
from depsev.data.dataset import ChunkDataset, data_fingerprint, split_dir
from depsev.errors import InputError
from depsev.inference import chunk_table, forest_predictions, summary_features
from depsev.models import KINDS, MIXTURE_KINDS, ModelConfig, build_model, count_parameters
from depsev.models import model_streams as _model_streams
from depsev.models.baselines import make_random_forest
from depsev.models.experts import init_prediction_priors
from depsev.shards.preparation import PREPARATION_KEY, merge_splits
from depsev.train.config import TrainConfig
from depsev.train.trainer import Trainer, participant_table

#: the random-forest baseline (scikit-learn on chunk summary statistics)
RF_KIND = "rf"
ALL_KINDS = (*KINDS, RF_KIND)
#: splits training code reads -- never "test"
TRAINING_SPLITS = ("train", "dev")


def shard_modality(kind: str, modality: str) -> str:
    """Which shard folder a model reads: ``fusion`` for two-stream models, else the modality."""
    if kind not in ALL_KINDS:
        raise ValueError(f"kind must be one of {ALL_KINDS}, got {kind!r}")
    streams = _model_streams(modality)
    return "fusion" if len(streams) == 2 else streams[0]


def load_training_data(shard_root: str | Path, kind: str, modality: str, interviewer: str | None,
                       shuffle_seed: int | None, dev_interviewer: str | None = "same"
                       ) -> tuple[ChunkDataset, ChunkDataset]:
    """Train and dev datasets, ``purpose="train"``.

    ``interviewer`` keeps one interviewer type's training chunks; the dev chunks are that type's too
    (``dev_interviewer="same"``) or all (``None``).  With ``shuffle_seed`` (the shuffled-label control)
    the labels of BOTH are permuted at participant level, each over its whole split: the control's
    epoch and checkpoint choice must not see the true dev labels either, or picking the best of tens
    of epochs on a dozen dev participants lets it "learn" dev by selection.  Evaluation reads the true
    labels (``purpose="evaluate"``).
    """
    sm = shard_modality(kind, modality)
    train = ChunkDataset.from_shards(shard_root, sm, "train", purpose="train", interviewer=interviewer,
                                     shuffle_labels_seed=shuffle_seed)
    dev_who = interviewer if dev_interviewer == "same" else dev_interviewer
    dev = ChunkDataset.from_shards(shard_root, sm, "dev", purpose="train", interviewer=dev_who,
                                   shuffle_labels_seed=shuffle_seed)
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


# ---------------------------------------------------------------- feature preparation
def feature_preparation(train: ChunkDataset, dev: ChunkDataset) -> dict[str, Any]:
    """How the model's training features were prepared (``config.json["features"]["preparation"]``):
    the ``preparation`` of the train and dev shards' metadata, merged
    (:func:`depsev.shards.preparation.merge_splits`: settings must agree, session counts are summed).

    Keys are the argument names of ``depsev predict``'s ``predict_session`` where one exists:
    ``segmentation``, ``denoise``, ``normalize_audio`` (audio_clean), ``confidence_threshold``,
    ``openface_image`` / ``openface_binary`` (face_frames), ``min_coverage`` (chunking),
    ``vggish_weights_mode`` / ``_file`` / ``_sha256`` (pretrained weights only) / ``_path``;
    ``segmentation_used`` counts the training and dev sessions per segmentation actually used
    (transcript / vad / none), ``sessions`` the sessions whose feature files recorded settings.
    Shards without a preparation, or whose splits disagree, raise :class:`~depsev.errors.InputError`.
    """
    where = train.files[0].parent if train.files else None
    return merge_splits({"train": train.meta, "dev": dev.meta}, where=where)


def _base_config(kind: str, modality: str, interviewer: str | None, seed: int, shuffle_labels: bool,
                 model_cfg: ModelConfig, train_cfg: TrainConfig, train: ChunkDataset, dev: ChunkDataset,
                 shard_root: Path, preparation: dict[str, Any]) -> dict[str, Any]:
    sm = shard_modality(kind, modality)
    prov = {**train.provenance(), PREPARATION_KEY: preparation}
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
                init_experts: Mapping[str, str | Path] | None = None,
                init_from: str | Path | None = None) -> dict[str, Any]:
    """Train one model on the train split, choose its epoch on dev, write the checkpoint folder.

    ``kind``: one of :data:`ALL_KINDS`; ``modality``: ``audio | video | fusion``; ``interviewer``:
    ``woz | ai`` keeps only that interviewer type's chunks (per-interviewer experts; their epoch is
    chosen on that type's dev participants, or on all with ``train.expert_dev: all``);
    ``shuffle_labels``: train on participant-level permuted labels (seeded by ``seed``, permuted over
    the whole split before any interviewer selection; the dev labels used to choose the epoch are
    permuted the same way) -- the shuffled-label control.  Returns the
    summary also stored under ``result`` in ``config.json``: ``best_epoch``, ``epochs_run``,
    ``dev_participant_mae`` / ``_rmse``, ``train_mean``, ``train_mean_dev_mae``, ``n_parameters``,
    ``out_dir``, ``synthetic``.

    Interviewer experts (paper eq. 10-11) and their mixture (eq. 12-15):

    - ``init_from`` (kind ``expert``): the checkpoint folder of a trained expert of the same modality
      whose weights this expert starts from -- the AI-agent expert starts from the WoZ expert
      (``train.ai_expert_init: woz``) and is fine-tuned on the AI-agent sessions;
    - ``init_experts`` (kinds ``moe`` and ``fusion``): ``{"woz": dir, "ai": dir}`` checkpoint folders of
      the two trained experts of the same modality; each of the mixture's experts (with its own
      encoders) starts from its checkpoint, the gate from scratch; then the gate alone is trained
      with the experts frozen (``train.mixture_training: gate``, default) or everything
      (``all``), for ``train.mixture_epochs`` epochs (0 = ``max_epochs``).

    The feature preparation recorded in ``config.json["features"]["preparation"]`` is the train and
    dev shards' (:func:`feature_preparation`).
    """
    shard_root, out = Path(shard_root), Path(out_dir)
    tcfg = resolve_train_config(train_cfg, seed)
    if init_experts and kind not in MIXTURE_KINDS:
        raise ValueError(f"init_experts applies to kinds {MIXTURE_KINDS} only, not {kind!r}")
    if init_from is not None and kind != "expert":
        raise ValueError(f"init_from applies to kind 'expert' only, not {kind!r}")
    dev_who = None if (interviewer is not None and tcfg.expert_dev == "all") else "same"
    train, dev = load_training_data(shard_root, kind, modality, interviewer,
                                    seed if shuffle_labels else None, dev_who)
    mcfg = resolve_model_config(model_cfg, train)
    prep = feature_preparation(train, dev)
    config = _base_config(kind, modality, interviewer, int(seed), bool(shuffle_labels), mcfg, tcfg,
                          train, dev, shard_root, prep)
    if init_experts:
        config["init_experts"] = {k: str(v) for k, v in init_experts.items()}
        config["mixture_training"] = tcfg.mixture_training
    if init_from is not None:
        config["init_from"] = str(init_from)
    if kind == RF_KIND:
        return _train_forest(out, config, mcfg, tcfg, train, dev, modality)
    return _train_network(out, config, mcfg, tcfg, train, dev, kind, modality, init_experts, init_from)


def _load_expert(ckpt: str | Path, modality: str, who: str | None, shuffle_labels: bool | None = None
                 ) -> torch.nn.Module:
    """A trained expert checkpoint of ``modality`` (for interviewer type ``who`` when given), checked."""
    expert, cfg = load_checkpoint(ckpt)
    wrong_who = who is not None and cfg.get("interviewer") != who
    if cfg.get("kind") != "expert" or cfg.get("modality") != modality or wrong_who:
        raise InputError(ckpt, f"not a {modality} expert{f' for {who} sessions' if who else ''} "
                               f"(kind={cfg.get('kind')}, modality={cfg.get('modality')}, "
                               f"interviewer={cfg.get('interviewer')})")
    if shuffle_labels is not None and bool(cfg.get("shuffle_labels")) != shuffle_labels:
        raise InputError(ckpt, f"expert trained with shuffle_labels={cfg.get('shuffle_labels')}, the model "
                               f"being trained has shuffle_labels={shuffle_labels}")
    return expert


def _load_weights(target: torch.nn.Module, source: torch.nn.Module, where: str | Path) -> None:
    try:
        target.load_state_dict(source.state_dict())
    except RuntimeError as exc:
        raise InputError(where, "expert weights do not fit this model (different model config?): "
                                f"{exc}") from exc


def init_mixture_from_experts(model: torch.nn.Module, experts: Mapping[str, str | Path], modality: str,
                              shuffle_labels: bool | None = None) -> None:
    """Load two trained interviewer experts into a mixture (``moe`` or ``fusion``): expert ``i`` of the
    mixture (with its own encoders) takes all the weights of the checkpoint of interviewer type ``i``."""
    from depsev.constants import INTERVIEWERS

    missing = [who for who in INTERVIEWERS if who not in experts]
    if missing:
        raise ValueError(f"init_experts needs a checkpoint for each interviewer type; missing {missing}")
    for i, who in enumerate(INTERVIEWERS):
        expert = _load_expert(experts[who], modality, who, shuffle_labels)
        _load_weights(model.experts[i], expert, experts[who])


def freeze_experts(model: torch.nn.Module) -> None:
    """Train a mixture's gate only: the experts' parameters are frozen and the experts stay in eval
    mode (no dropout) while the gate trains (:meth:`depsev.models.MixtureOfExperts.freeze_experts`)."""
    model.freeze_experts()


def make_loss(tcfg: TrainConfig, train: ChunkDataset) -> torch.nn.Module:
    """Focal (alpha from the training band counts) + Gaussian NLL, weighted as configured."""
    from depsev.train.losses import CombinedLoss, focal_alpha_from_counts

    alpha = focal_alpha_from_counts(train.band_counts().tolist())
    return CombinedLoss(w_focal=tcfg.w_focal, w_nll=tcfg.w_nll, alpha=alpha, gamma=tcfg.focal_gamma,
                        nll_beta=tcfg.nll_beta)


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
                   init_experts: Mapping[str, str | Path] | None = None,
                   init_from: str | Path | None = None) -> dict[str, Any]:
    model = build_model(kind, modality, mcfg, seed=tcfg.seed)
    fit_cfg = tcfg
    if init_experts:
        init_mixture_from_experts(model, init_experts, modality, bool(config["shuffle_labels"]))
        if tcfg.mixture_training == "gate":
            freeze_experts(model)
        if tcfg.mixture_epochs:
            fit_cfg = dataclasses.replace(tcfg, max_epochs=tcfg.mixture_epochs)
    if init_from is not None:
        start = _load_expert(init_from, modality, None, bool(config["shuffle_labels"]))
        _load_weights(model, start, init_from)
    elif not init_experts and tcfg.init_priors:
        y = train.y.double()
        init_prediction_priors(model, float(y.mean()), float(y.var(unbiased=False)),
                               torch.as_tensor(train.band_counts(), dtype=torch.float32))
    trainer = Trainer(model, make_loss(tcfg, train), fit_cfg, train, dev,
                      label=f"train {out.parent.name}/{out.name}")
    res = trainer.fit()
    summary = _summary(config, out, res.dev_participants, train, best_epoch=res.best_epoch,
                       epochs_run=res.epochs_run, stopped_early=res.stopped_early,
                       n_parameters=count_parameters(res.model, trainable_only=False),
                       n_trained_parameters=count_parameters(res.model), device=str(trainer.device))
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
