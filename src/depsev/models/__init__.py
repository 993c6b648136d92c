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

import importlib
from typing import Any

from depsev.constants import STREAMS

KINDS = ("expert", "moe", "fusion", "lstm", "resnet")
#: kinds that are a mixture of two interviewer-type experts (started from trained ``expert`` models)
MIXTURE_KINDS = ("moe", "fusion")
MODALITIES = ("audio", "video", "fusion")

#: public names and the submodule that defines them, imported on first use: ``ModelConfig`` and
#: ``model_streams`` do not import torch (the workflow's DAG build and light jobs read them)
_LAZY = {
    "ModelConfig": "config",
    "Prediction": "experts", "StreamExpert": "experts",
    "FusionExpert": "fusion", "FusionModel": "fusion",
    "MixtureOfExperts": "moe", "StreamMoEModel": "moe", "combine_experts": "moe",
    "batch_summary_features": "baselines", "chunk_summary_features": "baselines",
    "lstm_baseline": "baselines", "make_random_forest": "baselines", "resnet_baseline": "baselines",
    "build_model": "build", "count_parameters": "build",
}

__all__ = ["KINDS", "MIXTURE_KINDS", "MODALITIES", "STREAMS", "model_streams", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"depsev.models.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'depsev.models' has no attribute {name!r}")


def model_streams(modality: str) -> tuple[str, ...]:
    """Streams a modality uses: audio -> (audio,), video -> (video,), fusion/both -> (audio, video)."""
    if modality in ("fusion", "both"):
        return STREAMS
    if modality in STREAMS:
        return (modality,)
    raise ValueError(f"modality must be one of {MODALITIES} (or 'both'), got {modality!r}")
