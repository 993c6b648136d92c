"""Typed configuration of every depsev model (one dataclass, defaults = the documented model).

The workflow merges the ``model`` section of ``config.yaml`` over these defaults with
:meth:`ModelConfig.from_dict`, which rejects unknown keys and wrongly typed values with a clear
message; :meth:`ModelConfig.to_dict` gives the plain dict back (``from_dict(to_dict()) == cfg``).

Sizes are chosen so that the fusion model has about half the paper's 128,905 parameters
(see ``tests/test_models.py`` for the exact number); the 4096 -> ``audio_proj`` input projection of
the VGGish fc2 frames is the largest single matrix, so ``audio_proj`` is kept small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depsev.configtools import dataclass_from_dict, dataclass_to_dict, raise_problems

#: how the mixture-of-experts combines the experts' uncertainties (see depsev.models.moe)
MOE_VARIANCES = ("paper", "mixture")
#: how error messages name this section
SECTION = "model config"


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the encoders, experts, mixture of experts, fusion and baselines."""

    #: feature dimension of an audio frame (VGGish fc2)
    audio_dim: int = 4096
    #: feature dimension of a video frame (6 pose + 8 gaze + 17 AU intensity + 18 AU presence)
    video_dim: int = 49
    #: width of the linear projection of each audio frame before the audio LSTM
    audio_proj: int = 8
    #: hidden size of the per-modality encoder LSTMs
    hidden: int = 32
    #: hidden size of each expert's LSTM head
    expert_hidden: int = 16
    #: hidden size of the fusion LSTM (paper eq. 23)
    fusion_hidden: int = 32
    #: number of common time steps both modalities are pooled to before fusion
    fusion_steps: int = 30
    #: at most this many time steps enter each encoder LSTM: a longer chunk is first brought to
    #: ``encoder_steps`` equal time bins by masked average pooling (after the audio projection);
    #: 0 = run the encoder LSTM over every frame.  The LSTM runs step by step, so this sets the
    #: model's latency (see ``depsev bench model``).
    encoder_steps: int = 60
    #: dropout probability (the paper retains neurons with p = 0.5, i.e. drops half)
    dropout: float = 0.5
    #: lower bound of every predicted variance, in PHQ points squared
    var_floor: float = 0.01
    #: "mixture" (proper mixture variance, default) or "paper" (sigma = sum g_i sigma_i, eq. 15)
    moe_variance: str = "mixture"
    #: re-weight the gate by each expert's precision: g_i <- (g_i / var_i) / sum_j (g_j / var_j)
    precision_weighting: bool = False
    #: ResNet baseline: channels, residual blocks, kernel size (odd)
    resnet_channels: int = 32
    resnet_blocks: int = 2
    resnet_kernel: int = 3
    #: random forest baseline: number of trees, audio dims kept by the seeded random projection
    rf_trees: int = 200
    rf_audio_dims: int = 32

    def __post_init__(self) -> None:
        raise_problems(SECTION, _check_values(self))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (``ModelConfig.from_dict(cfg.to_dict()) == cfg``)."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str | Path | None = None) -> ModelConfig:
        """Defaults overridden by ``d`` (e.g. the ``model`` section of config.yaml).

        Raises :class:`~depsev.errors.InputError` (naming ``source``) for unknown keys, values of
        the wrong type, or values out of range.  Integers are accepted for float fields; bools are
        never accepted as numbers (:func:`depsev.configtools.dataclass_from_dict`).
        """
        return dataclass_from_dict(cls, d, source, SECTION)


def _check_values(cfg: ModelConfig) -> list[str]:
    """Human-readable range problems of ``cfg`` (empty when valid)."""
    problems = []
    for name in ("audio_dim", "video_dim", "audio_proj", "hidden", "expert_hidden", "fusion_hidden",
                 "fusion_steps", "resnet_channels", "resnet_blocks", "resnet_kernel", "rf_trees",
                 "rf_audio_dims"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(cfg.encoder_steps, int) or isinstance(cfg.encoder_steps, bool) or cfg.encoder_steps < 0:
        problems.append("encoder_steps must be a non-negative integer (0 = every frame), "
                        f"got {cfg.encoder_steps!r}")
    if not 0.0 <= float(cfg.dropout) < 1.0:
        problems.append(f"dropout must be in [0, 1), got {cfg.dropout!r}")
    if not float(cfg.var_floor) > 0.0:
        problems.append(f"var_floor must be > 0, got {cfg.var_floor!r}")
    if cfg.moe_variance not in MOE_VARIANCES:
        problems.append(f"moe_variance must be one of {MOE_VARIANCES}, got {cfg.moe_variance!r}")
    if isinstance(cfg.resnet_kernel, int) and cfg.resnet_kernel % 2 == 0:
        problems.append(f"resnet_kernel must be odd (same-length convolution), got {cfg.resnet_kernel}")
    return problems
