"""Mixture of interviewer-type experts (paper eq. 10-15).

Two experts, one per interviewer type (index 0 = woz / human-controlled, 1 = ai).  Each expert is a
whole model with its OWN encoder(s) (:class:`depsev.models.experts.StreamExpert` for one stream,
:class:`depsev.models.fusion.FusionExpert` for both), first trained on its own interviewer type's
sessions (the paper's "separate models based on the type of interviewer"; rule ``train_expert``),
then loaded into the mixture, which learns the gate (rules ``train_moe``, ``train_fusion``).  Each
expert predicts a mean ``mu_i``, a variance ``var_i = sigma_i**2`` and band logits.  The gate
(eq. 12) is

    g(x, z) = softmax(W [x ; onehot(z)] + b)

on ``x``, the experts' LSTM features (each expert's masked time-mean, concatenated), and the one-hot
interviewer flag ``z``.

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
``logits = log p`` (already normalised, so softmax(logits) == p).  For two-stream experts the
reported modality weights are the gate-weighted mean of the experts' ``alpha``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depsev.models.config import MOE_VARIANCES, ModelConfig
from depsev.models.encoders import N_INTERVIEWERS, check_interviewer, masked_mean
from depsev.models.experts import Prediction, StreamExpert

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


class MixtureOfExperts(nn.Module):
    """Two interviewer-type experts (each with its own encoders) + the gate + :func:`combine_experts`.

    ``experts``: two modules with ``features(batch) -> Features`` and ``head(h, m) -> Prediction``
    and the same ``feature_dim`` (:class:`~depsev.models.experts.StreamExpert`,
    :class:`~depsev.models.fusion.FusionExpert`); ``experts[i]`` is interviewer type ``i``.
    """

    def __init__(self, experts: list[nn.Module], cfg: ModelConfig):
        super().__init__()
        if len(experts) != N_INTERVIEWERS:
            raise ValueError(f"a mixture needs {N_INTERVIEWERS} experts (woz, ai), got {len(experts)}")
        dims = {int(e.feature_dim) for e in experts}
        if len(dims) != 1:
            raise ValueError(f"experts give features of different widths {sorted(dims)}")
        self.experts = nn.ModuleList(experts)
        self.modalities = tuple(experts[0].modalities)
        self.gate = InterviewerGate(N_INTERVIEWERS * dims.pop())
        self.moe_variance = cfg.moe_variance
        self.precision_weighting = cfg.precision_weighting
        self.experts_frozen = False

    def freeze_experts(self) -> None:
        """Train the gate only: the experts' parameters stop requiring gradients and the experts stay
        in eval mode (no dropout) even when the mixture is put in training mode."""
        self.experts_frozen = True
        for p in self.experts.parameters():
            p.requires_grad_(False)
        self.experts.eval()

    def train(self, mode: bool = True) -> MixtureOfExperts:
        super().train(mode)
        if self.experts_frozen:
            self.experts.eval()
        return self

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        feats = [expert.features(batch) for expert in self.experts]
        preds = [expert.head(f.h, f.m) for expert, f in zip(self.experts, feats, strict=True)]
        z = check_interviewer(batch, preds[0].mu.shape[0])
        gate = self.gate(torch.cat([masked_mean(f.h, f.m) for f in feats], dim=-1), z)
        out = combine_experts(
            gate,
            torch.stack([p.mu for p in preds], dim=-1),
            torch.stack([p.var for p in preds], dim=-1),
            torch.stack([p.logits for p in preds], dim=1),
            self.moe_variance, self.precision_weighting)
        if feats[0].alpha is not None:
            out.alpha = (out.gate.unsqueeze(-1) * torch.stack([f.alpha for f in feats], dim=1)).sum(dim=1)
            out.used = feats[0].used
        return out


class StreamMoEModel(MixtureOfExperts):
    """``kind="moe"``: one stream; two :class:`~depsev.models.experts.StreamExpert` s + gate."""

    def __init__(self, stream: str, cfg: ModelConfig):
        super().__init__([StreamExpert(stream, cfg) for _ in range(N_INTERVIEWERS)], cfg)
        self.stream = stream
