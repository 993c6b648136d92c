"""Building a model from its kind and modality (see the table in :mod:`depsev.models`)."""

from __future__ import annotations

import torch
from torch import nn

from depsev.models import KINDS, model_streams
from depsev.models.baselines import lstm_baseline, resnet_baseline
from depsev.models.config import ModelConfig
from depsev.models.experts import StreamExpert
from depsev.models.fusion import FusionExpert, FusionModel
from depsev.models.moe import StreamMoEModel


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
