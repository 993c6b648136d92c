"""Typed training configuration: defaults <- ``config.yaml`` section ``train:`` <- command line.

:meth:`TrainConfig.resolve` merges the sources in that order; :meth:`TrainConfig.from_dict`
rejects unknown keys and wrongly typed values with :class:`~depsev.errors.InputError`;
:meth:`TrainConfig.to_dict` gives the plain (JSON-friendly) dict back.

Defaults follow the paper (section 4.2): Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight
decay, focal loss with gamma 2, gradient accumulation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from depsev.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


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
    #: clip the gradient norm to this value before each step (0 = no clipping)
    clip_grad_norm: float = 5.0
    #: class-balanced sampling of training chunks (by severity band)
    balanced_sampling: bool = False  # the paper balances classes; see config.yaml train.balanced_sampling
    seed: int = 0
    #: "auto" (cuda when available), "cpu" or "cuda"
    device: str = "auto"
    #: torch.use_deterministic_algorithms during training (restored afterwards)
    deterministic: bool = True

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise InputError(None, "train config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``betas`` as a list) -- ``TrainConfig.from_dict(cfg.to_dict()) == cfg``."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, source: str | Path | None = None,
                  base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (default: the defaults) overridden by ``d``; unknown keys raise InputError."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(source, f"train config: unknown key(s) {unknown}; known keys: {sorted(known)}")
        values = dataclasses.asdict(base) if base is not None else {}
        for name, value in d.items():
            values[name] = _coerce(name, value, source)
        try:
            return cls(**values)
        except InputError as err:
            raise InputError(source, err.problem) from None

    @classmethod
    def resolve(cls, yaml_section: Mapping[str, Any] | None = None, cli: Mapping[str, Any] | None = None,
                source: str | Path | None = None) -> TrainConfig:
        """Defaults <- ``yaml_section`` (config.yaml ``train:``) <- ``cli`` (``None`` values ignored)."""
        cfg = cls.from_dict(yaml_section, source)
        given = {k: v for k, v in (cli or {}).items() if v is not None}
        return cls.from_dict(given, "command line", base=cfg)

    def resolved_device(self) -> torch.device:
        """The torch device: ``auto`` -> cuda when available, else cpu."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError(None, "train config: device 'cuda' asked for but no CUDA device is available")
        return torch.device(self.device)


_INTS = {"batch_size", "grad_accum_steps", "max_epochs", "patience", "seed"}
_FLOATS = {"lr", "eps", "weight_decay", "min_delta", "focal_gamma", "w_focal", "w_nll", "clip_grad_norm"}
_BOOLS = {"balanced_sampling", "deterministic"}


def _coerce(name: str, value: Any, source: str | Path | None) -> Any:
    def bad(expected: str) -> InputError:
        return InputError(source, f"train config: {name} must be {expected}, got {value!r}")

    if name in _BOOLS:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if name in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if name == "betas":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in value)):
            raise bad("two numbers [beta1, beta2]")
        return (float(value[0]), float(value[1]))
    if not isinstance(value, str):  # device
        raise bad("a string")
    return value


def _check(cfg: TrainConfig) -> list[str]:
    problems = []
    for name in ("batch_size", "grad_accum_steps", "max_epochs", "patience"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        problems.append(f"lr must be > 0, got {cfg.lr}")
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        problems.append(f"betas must be in [0, 1), got {list(cfg.betas)}")
    for name in ("eps", "weight_decay", "min_delta", "focal_gamma", "w_focal", "w_nll", "clip_grad_norm"):
        if getattr(cfg, name) < 0:
            problems.append(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.w_focal == 0 and cfg.w_nll == 0:
        problems.append("w_focal and w_nll are both 0: nothing to train")
    if cfg.device not in DEVICES:
        problems.append(f"device must be one of {DEVICES}, got {cfg.device!r}")
    return problems
