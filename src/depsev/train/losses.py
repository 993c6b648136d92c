"""Losses: focal loss over the five severity bands (paper eq. 17 / 25), Gaussian negative
log-likelihood of the PHQ-8 score, and their weighted sum.

- :class:`FocalLoss`: ``FL = -alpha_t (1 - p_t)**gamma log p_t`` with ``p_t`` the softmax
  probability of the true band and ``alpha_t`` its class weight, averaged over the batch.  With
  ``gamma = 0`` it is the alpha-weighted cross-entropy (averaged over the batch, NOT normalised by
  the sum of the weights as ``F.cross_entropy(weight=...)`` is).
- :func:`focal_alpha_from_counts`: inverse-frequency class weights, normalised to mean 1.
- :class:`ScoreNLL`: Gaussian NLL (``torch.nn.GaussianNLLLoss``) of the score on the 0..1 scale:
  target ``y / 24``, mean ``mu / 24``, variance ``var / 24**2`` (the models predict ``mu`` in PHQ
  points and ``var`` in points squared; dividing a variable by 24 divides its variance by 576).
  On this scale the NLL is comparable in size to the focal loss.  ``full=False`` (the constant
  ``0.5 log 2 pi`` is left out), ``eps`` clamps the scaled variance from below.
- :class:`CombinedLoss`: ``w_focal * focal + w_nll * nll``; returns the parts for logging.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depsev.constants import BAND_EDGES, N_BANDS, PHQ_MAX
from depsev.models.experts import Prediction


def focal_alpha_from_counts(counts: Tensor | list[int] | list[float]) -> Tensor:
    """Inverse-frequency class weights ``w_c = (1 / n_c) / mean_k(1 / n_k)`` (mean 1).

    ``counts``: number of training examples per band (length 5).  A band with count 0 (absent from
    training, so it never contributes a training loss term) gets the weight of the rarest present
    band before normalisation, so it is not dropped from validation losses.  Raises ValueError on
    negative counts or when every count is 0.
    """
    c = torch.as_tensor(counts, dtype=torch.float64).flatten()
    if c.numel() != N_BANDS:
        raise ValueError(f"need {N_BANDS} class counts, got {c.numel()}")
    if bool((c < 0).any()) or not bool((c > 0).any()):
        raise ValueError(f"class counts must be >= 0 and not all 0, got {c.tolist()}")
    inv = torch.where(c > 0, 1.0 / c.clamp_min(1e-300), torch.zeros_like(c))
    inv = torch.where(c > 0, inv, inv.max())
    return (inv / inv.mean()).to(torch.float32)


class FocalLoss(nn.Module):
    """``mean_b [ -alpha_{t_b} (1 - p_{t_b})**gamma log p_{t_b} ]`` over a batch of band logits."""

    alpha: Tensor

    def __init__(self, alpha: Tensor | None = None, gamma: float = 2.0):
        super().__init__()
        a = torch.ones(N_BANDS) if alpha is None else torch.as_tensor(alpha, dtype=torch.float32).flatten()
        if a.numel() != N_BANDS or bool((a < 0).any()):
            raise ValueError(f"alpha must be {N_BANDS} non-negative class weights, got {a.tolist()}")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.register_buffer("alpha", a)
        self.gamma = float(gamma)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """``logits [B, 5]``, ``target [B]`` long band indices -> scalar."""
        log_p = F.log_softmax(logits, dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
        p = log_p.exp()
        loss = -self.alpha[target.long()] * (1.0 - p).pow(self.gamma) * log_p
        return loss.mean()


class ScoreNLL(nn.Module):
    """Gaussian NLL of the PHQ-8 score on the 0..1 scale (see module docstring), optionally beta-NLL.

    ``beta`` > 0 (Seitzer et al. 2022, "On the pitfalls of heteroscedastic uncertainty estimation"):
    each chunk's NLL is multiplied by its predicted variance (on the 0..1 scale, detached) to the
    power ``beta``, divided by the batch mean of that factor (so the loss keeps the size of the plain
    NLL).  Plain NLL (``beta = 0``) lets a model explain a hard chunk by a large variance instead of a
    better mean -- the mean's gradient is scaled by 1/var -- which slows the learning of ``mu`` (the
    quantity every PHQ-8 metric is computed on); ``beta = 1`` gives the mean the gradient of the
    squared error while the variance is still fitted by the likelihood.
    """

    def __init__(self, eps: float = 1e-6, beta: float = 0.0):
        super().__init__()
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.nll = nn.GaussianNLLLoss(full=False, eps=eps, reduction="none")
        self.beta = float(beta)

    def forward(self, mu: Tensor, var: Tensor, score: Tensor) -> Tensor:
        """``mu, var [B]`` (points, points^2), ``score [B]`` (0..24) -> scalar."""
        v = var / PHQ_MAX**2
        per_chunk = self.nll(mu / PHQ_MAX, score.to(mu.dtype) / PHQ_MAX, v)
        if self.beta > 0:
            w = v.detach().clamp_min(self.nll.eps) ** self.beta
            per_chunk = per_chunk * (w / w.mean())
        return per_chunk.mean()


class LossParts(NamedTuple):
    """The total loss (to back-propagate) and its two parts (for logging)."""

    total: Tensor
    focal: Tensor
    nll: Tensor


def band_of_score(score: Tensor) -> Tensor:
    """Band index 0..4 of PHQ-8 scores (tensor version of :func:`depsev.constants.phq_band`)."""
    edges = torch.tensor(BAND_EDGES[1:-1], dtype=score.dtype, device=score.device)
    return torch.bucketize(score, edges, right=True)


class CombinedLoss(nn.Module):
    """``w_focal * FocalLoss(logits, band) + w_nll * ScoreNLL(mu, var, score)``."""

    def __init__(self, w_focal: float = 1.0, w_nll: float = 1.0, alpha: Tensor | None = None,
                 gamma: float = 2.0, eps: float = 1e-6, nll_beta: float = 0.0):
        super().__init__()
        if w_focal < 0 or w_nll < 0 or w_focal + w_nll == 0:
            raise ValueError(f"loss weights must be >= 0 and not both 0, got {w_focal=}, {w_nll=}")
        self.w_focal = float(w_focal)
        self.w_nll = float(w_nll)
        self.focal = FocalLoss(alpha, gamma)
        self.nll = ScoreNLL(eps, nll_beta)

    def forward(self, pred: Prediction, score: Tensor, band: Tensor | None = None) -> LossParts:
        """``score [B]`` PHQ-8 scores; ``band [B]`` their bands (derived from ``score`` when None)."""
        band = band_of_score(score) if band is None else band
        focal = self.focal(pred.logits, band)
        nll = self.nll(pred.mu, pred.var, score)
        return LossParts(self.w_focal * focal + self.w_nll * nll, focal, nll)
