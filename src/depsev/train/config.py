"""Typed training configuration: defaults <- ``config.yaml`` section ``train:`` <- command line.

:meth:`TrainConfig.resolve` merges the sources in that order; :meth:`TrainConfig.from_dict`
rejects unknown keys and wrongly typed values with :class:`~depsev.errors.InputError`;
:meth:`TrainConfig.to_dict` gives the plain (JSON-friendly) dict back.

Defaults follow the paper (section 4.2): Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight
decay, focal loss with gamma 2, gradient accumulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depsev.configtools import dataclass_from_dict, dataclass_to_dict, raise_problems
from depsev.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
#: how the AI-agent expert starts: from the trained WoZ expert (then fine-tuned on AI sessions) or
#: from scratch (random weights, AI sessions only)
AI_EXPERT_INITS = ("woz", "scratch")
#: which dev participants choose an interviewer expert's epoch: its own interviewer type's, or all
EXPERT_DEVS = ("own", "all")
#: what a mixture (moe / fusion) trains after loading its two experts: the gate only (experts frozen)
#: or everything
MIXTURE_TRAININGS = ("gate", "all")
#: how error messages name this section
SECTION = "train config"
#: the largest modality_dropout: each stream is hidden with this probability, never both at once
MAX_MODALITY_DROPOUT = 0.5


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and loss weights of one training run."""

    #: Adam learning rate, betas, eps (paper section 4.2)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    #: L2 penalty added by Adam (``torch.optim.Adam(weight_decay=...)``)
    weight_decay: float = 1e-4
    #: chunks per mini-batch
    batch_size: int = 16
    #: mini-batches whose gradients are summed before one optimiser step
    grad_accum_steps: int = 1
    max_epochs: int = 60
    #: stop after this many epochs without a better dev participant MAE
    patience: int = 10
    #: an epoch counts as better when dev participant MAE drops by more than this
    min_delta: float = 0.0
    #: focal loss focusing parameter (paper eq. 17/25)
    focal_gamma: float = 2.0
    #: weights of the focal (band) and Gaussian NLL (score) terms of the loss
    w_focal: float = 1.0
    w_nll: float = 1.0
    #: beta-NLL exponent of the score loss (:class:`depsev.train.losses.ScoreNLL`; 0 = plain NLL)
    nll_beta: float = 0.0
    #: clip the gradient norm to this value before each step (0 = no clipping)
    clip_grad_norm: float = 5.0
    #: class-balanced sampling of training chunks (by severity band)
    balanced_sampling: bool = False  # the paper balances classes; see config.yaml train.balanced_sampling
    #: modality dropout (two-stream models only): per training chunk, the audio stream is hidden
    #: with this probability and the video stream with this probability -- never both (at most
    #: 0.5) -- by setting its mask row to all False, as a missing stream is at predict time
    #: (:func:`depsev.train.trainer.modality_dropout`); never at dev evaluation; 0 = off
    modality_dropout: float = 0.0
    #: a fresh model's prediction heads start as the training prior (mean, variance, band frequencies of
    #: the training chunks): :func:`depsev.models.experts.init_prediction_priors`
    init_priors: bool = True
    #: interviewer experts (paper eq. 10-11): how the AI-agent expert starts (:data:`AI_EXPERT_INITS`)
    ai_expert_init: str = "woz"
    #: dev participants an expert's epoch is chosen on (:data:`EXPERT_DEVS`)
    expert_dev: str = "own"
    #: mixtures (moe, fusion) start from the two trained experts, then train (:data:`MIXTURE_TRAININGS`)
    mixture_training: str = "gate"
    #: epochs of a mixture's training (0 = max_epochs); patience applies as usual
    mixture_epochs: int = 0
    seed: int = 0
    #: "auto" (cuda when available), "cpu" or "cuda"
    device: str = "auto"
    #: torch.use_deterministic_algorithms during training (restored afterwards)
    deterministic: bool = True

    def __post_init__(self) -> None:
        raise_problems(SECTION, _check(self))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``betas`` as a list) -- ``TrainConfig.from_dict(cfg.to_dict()) == cfg``."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str | Path | None = None,
                  base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (default: the defaults) overridden by ``d``; unknown keys raise InputError
        (:func:`depsev.configtools.dataclass_from_dict`)."""
        return dataclass_from_dict(cls, d, source, SECTION, base)

    def resolved_device(self) -> Any:
        """The torch device: ``auto`` -> cuda when available, else cpu."""
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError(None, "train config: device 'cuda' asked for but no CUDA device is available")
        return torch.device(self.device)


def _check(cfg: TrainConfig) -> list[str]:
    problems = []
    for name in ("batch_size", "grad_accum_steps", "max_epochs", "patience"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        problems.append(f"lr must be > 0, got {cfg.lr}")
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        problems.append(f"betas must be in [0, 1), got {list(cfg.betas)}")
    for name in ("eps", "weight_decay", "min_delta", "focal_gamma", "w_focal", "w_nll", "clip_grad_norm",
                 "nll_beta"):
        if getattr(cfg, name) < 0:
            problems.append(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if not 0.0 <= cfg.modality_dropout <= MAX_MODALITY_DROPOUT:
        problems.append(f"modality_dropout must be in [0, {MAX_MODALITY_DROPOUT}] (the probability of hiding "
                        f"each stream; never both), got {cfg.modality_dropout}")
    if cfg.w_focal == 0 and cfg.w_nll == 0:
        problems.append("w_focal and w_nll are both 0: nothing to train")
    for name, allowed in (("ai_expert_init", AI_EXPERT_INITS), ("expert_dev", EXPERT_DEVS),
                          ("mixture_training", MIXTURE_TRAININGS)):
        if getattr(cfg, name) not in allowed:
            problems.append(f"{name} must be one of {allowed}, got {getattr(cfg, name)!r}")
    if cfg.mixture_epochs < 0:
        problems.append(f"mixture_epochs must be >= 0 (0 = max_epochs), got {cfg.mixture_epochs}")
    if cfg.device not in DEVICES:
        problems.append(f"device must be one of {DEVICES}, got {cfg.device!r}")
    return problems
