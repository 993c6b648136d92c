"""depsev models: tensors in, :class:`Prediction` out (no file access, no training logic).

Every model built by :func:`build_model` has ``forward(batch) -> Prediction`` where ``batch`` is a
dict of batch-first tensors ``xa [B, La, 4096]``, ``ma [B, La]`` bool, ``xv [B, Lv, 49]``,
``mv [B, Lv]`` bool, ``z [B]`` long (0 = woz, 1 = ai); a model reads only the keys it needs.

Kinds x modalities (``modality`` "fusion" = both streams; "both" is accepted as an alias):

==========  ===============  =====================================================================
kind        modalities       model
==========  ===============  =====================================================================
expert      audio, video     its own encoder -> expert head (one interviewer type, no gate)
expert      fusion           its own encoders -> gated fusion -> fusion LSTM -> expert head
moe         audio, video     two single-stream experts (each its own encoder) + gate (eq. 12-15)
fusion      fusion           two fusion experts (each its own encoders, fusion LSTM) + gate
lstm        all three        plain LSTM baseline (encoders, masked mean, heads)
resnet      all three        1-D ResNet baseline
==========  ===============  =====================================================================

The random-forest baseline is not a torch module: see :func:`make_random_forest` and
:func:`batch_summary_features`.
"""

from __future__ import annotations

import torch
from torch import nn

from depsev.models.baselines import (
    batch_summary_features,
    chunk_summary_features,
    lstm_baseline,
    make_random_forest,
    resnet_baseline,
)
from depsev.models.config import ModelConfig
from depsev.models.encoders import STREAMS
from depsev.models.experts import Prediction, StreamExpert
from depsev.models.fusion import FusionExpert, FusionModel
from depsev.models.moe import MixtureOfExperts, StreamMoEModel, combine_experts

KINDS = ("expert", "moe", "fusion", "lstm", "resnet")
#: kinds that are a mixture of two interviewer-type experts (started from trained ``expert`` models)
MIXTURE_KINDS = ("moe", "fusion")
MODALITIES = ("audio", "video", "fusion")

__all__ = [
    "KINDS", "MIXTURE_KINDS", "MODALITIES", "STREAMS", "ModelConfig", "Prediction", "FusionModel",
    "FusionExpert", "StreamExpert", "MixtureOfExperts", "StreamMoEModel", "build_model", "combine_experts",
    "count_parameters", "chunk_summary_features", "batch_summary_features", "make_random_forest",
    "model_streams",
]


def model_streams(modality: str) -> tuple[str, ...]:
    """Streams a modality uses: audio -> (audio,), video -> (video,), fusion/both -> (audio, video)."""
    if modality in ("fusion", "both"):
        return STREAMS
    if modality in STREAMS:
        return (modality,)
    raise ValueError(f"modality must be one of {MODALITIES} (or 'both'), got {modality!r}")


def build_model(kind: str, modality: str, cfg: ModelConfig | None = None,
                seed: int | None = None) -> nn.Module:
    """A fresh model of ``kind`` for ``modality`` (see the module table).

    ``seed``: when given, the weights are initialised under ``torch.manual_seed(seed)`` inside a
    forked RNG (the global torch RNG is left as it was), so the same seed gives identical weights.
    """
    cfg = cfg if cfg is not None else ModelConfig()
    streams = model_streams(modality)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    single = len(streams) == 1
    if kind == "moe" and not single:
        raise ValueError("kind 'moe' takes one stream (audio or video); use kind 'fusion' for both")
    if kind == "fusion" and single:
        raise ValueError("kind 'fusion' needs modality 'fusion' (both streams)")
    if seed is None:
        return _construct(kind, streams, cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _construct(kind, streams, cfg)


def _construct(kind: str, streams: tuple[str, ...], cfg: ModelConfig) -> nn.Module:
    if kind == "expert":
        return StreamExpert(streams[0], cfg) if len(streams) == 1 else FusionExpert(cfg)
    if kind == "moe":
        return StreamMoEModel(streams[0], cfg)
    if kind == "fusion":
        return FusionModel(cfg)
    if kind == "lstm":
        return lstm_baseline(streams, cfg)
    return resnet_baseline(streams, cfg)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
