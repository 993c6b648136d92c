"""Mixture of interviewer-type experts (paper eq. 12-15) and the single-stream models.

Two experts, one per interviewer type (index 0 = woz / human-controlled, 1 = ai), each predict a
mean ``mu_i``, a variance ``var_i = sigma_i**2`` and band logits.  The gate (eq. 12) is

    g(x, z) = softmax(W [x ; onehot(z)] + b)

on the encoder's pooled features ``x`` and the one-hot interviewer flag ``z``.

Precision weighting (``precision_weighting=True``, off by default) lowers the weight of an
uncertain expert, the paper's "reducing the influence of those with high uncertainty":

    g_i <- (g_i / var_i) / sum_j (g_j / var_j)

(a product of the gate prior and each expert's precision, renormalised to sum 1).  The weights
below are these re-weighted ``g`` when it is on, and :attr:`Prediction.gate` reports them.

Mean (eq. 14): ``mu = sum_i g_i mu_i``.  Variance, ``moe_variance``:

- ``"paper"`` (eq. 15 as printed): ``sigma = sum_i g_i sigma_i``, ``var = sigma**2``;
- ``"mixture"`` (default): the variance of the Gaussian mixture,
  ``var = sum_i g_i (var_i + mu_i**2) - mu**2``, computed in the equivalent, never-negative form
  ``sum_i g_i (var_i + (mu_i - mu)**2)``; it adds the experts' disagreement to their own
  uncertainty, which eq. 15 ignores.

Band probabilities are mixed the same way, ``p = sum_i g_i softmax(logits_i)``, and returned as
``logits = log p`` (already normalised, so softmax(logits) == p).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depsev.models.config import MOE_VARIANCES, ModelConfig
from depsev.models.encoders import (
    N_INTERVIEWERS,
    check_interviewer,
    check_stream,
    make_encoder,
    masked_mean,
    stream_dim,
)
from depsev.models.experts import Expert, Prediction

_TINY = 1e-30


def combine_experts(gate: Tensor, mus: Tensor, variances: Tensor, logits: Tensor,
                    moe_variance: str = "mixture", precision_weighting: bool = False) -> Prediction:
    """Combine ``K`` experts' predictions with gate weights (see the module docstring).

    Shapes: ``gate, mus, variances [B, K]``, ``logits [B, K, C]``.  Returns a Prediction whose
    ``gate`` is the weights actually used.
    """
    if moe_variance not in MOE_VARIANCES:
        raise ValueError(f"moe_variance must be one of {MOE_VARIANCES}, got {moe_variance!r}")
    g = gate
    if precision_weighting:
        g = gate / variances
        g = g / g.sum(dim=-1, keepdim=True)
    mu = (g * mus).sum(dim=-1)
    if moe_variance == "paper":
        var = (g * variances.sqrt()).sum(dim=-1) ** 2
    else:
        var = (g * (variances + (mus - mu.unsqueeze(-1)) ** 2)).sum(dim=-1)
    log_p = torch.logsumexp(torch.log(g.clamp_min(_TINY)).unsqueeze(-1) + F.log_softmax(logits, -1), dim=1)
    return Prediction(mu=mu, var=var, logits=log_p, gate=g)


class InterviewerGate(nn.Module):
    """``g(x, z) = softmax(W [x ; onehot(z)] + b)`` over the two interviewer-type experts."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features + N_INTERVIEWERS, N_INTERVIEWERS)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        onehot = F.one_hot(z, N_INTERVIEWERS).to(x.dtype)
        return torch.softmax(self.linear(torch.cat([x, onehot], dim=-1)), dim=-1)


class MixtureHead(nn.Module):
    """Two experts over a shared encoded sequence + the interviewer gate + :func:`combine_experts`."""

    def __init__(self, in_features: int, cfg: ModelConfig):
        super().__init__()
        self.experts = nn.ModuleList([Expert(in_features, cfg.expert_hidden, cfg.var_floor, cfg.dropout)
                                      for _ in range(N_INTERVIEWERS)])
        self.gate = InterviewerGate(in_features)
        self.moe_variance = cfg.moe_variance
        self.precision_weighting = cfg.precision_weighting

    def forward(self, h: Tensor, m: Tensor, z: Tensor) -> Prediction:
        preds = [expert(h, m) for expert in self.experts]
        gate = self.gate(masked_mean(h, m), z)
        return combine_experts(
            gate,
            torch.stack([p.mu for p in preds], dim=-1),
            torch.stack([p.var for p in preds], dim=-1),
            torch.stack([p.logits for p in preds], dim=1),
            self.moe_variance, self.precision_weighting)


class StreamExpertModel(nn.Module):
    """``kind="expert"``: one stream, one interviewer type, no gate: encoder -> Expert.

    Its ``encoder`` and ``expert`` have the same shapes as the ``encoder`` and each of
    ``head.experts`` of :class:`StreamMoEModel`, so trained experts can be loaded into a mixture.
    """

    def __init__(self, stream: str, cfg: ModelConfig):
        super().__init__()
        self.stream = stream
        self.dim = stream_dim(stream, cfg)
        self.encoder = make_encoder(stream, cfg)
        self.expert = Expert(cfg.hidden, cfg.expert_hidden, cfg.var_floor, cfg.dropout)

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        x, m = check_stream(batch, self.stream, self.dim)
        return self.expert(*self.encoder(x, m))


class StreamMoEModel(nn.Module):
    """``kind="moe"``: one stream: encoder -> two interviewer experts + gate (eq. 12-15)."""

    def __init__(self, stream: str, cfg: ModelConfig):
        super().__init__()
        self.stream = stream
        self.dim = stream_dim(stream, cfg)
        self.encoder = make_encoder(stream, cfg)
        self.head = MixtureHead(cfg.hidden, cfg)

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        x, m = check_stream(batch, self.stream, self.dim)
        z = check_interviewer(batch, x.shape[0])
        return self.head(*self.encoder(x, m), z)
