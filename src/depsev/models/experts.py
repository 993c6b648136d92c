"""The unified model output, the expert head and the single-stream expert (paper eq. 10-11, 13).

Every depsev model returns a :class:`Prediction`:

- ``mu [B]``: predicted PHQ-8 score on its own scale 0..24, bounded: ``mu = 24 * sigmoid(a)``;
- ``var [B]``: predicted variance of the score in PHQ points squared,
  ``var = softplus(b) + var_floor`` (``ModelConfig.var_floor``), so always > 0;
- ``logits [B, 5]``: unnormalised log-probabilities of the five severity bands (0-4 ... 20-24);
- ``gate [B, 2]`` (mixture models only): the expert weights actually used (woz, ai), after
  precision weighting when it is on;
- ``alpha [B, 2]`` (fusion only): the modality weights (audio, video) of eq. 20-22, 0 for a
  modality that was not used;
- ``used [B, 2]`` bool (models that see both streams): which modalities (audio, video) carried
  at least one real frame and entered the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depsev.constants import N_BANDS, PHQ_MAX
from depsev.models.config import ModelConfig
from depsev.models.encoders import check_stream, make_encoder, masked_mean, stream_dim


@dataclass
class Prediction:
    """Output of every depsev model (see the module docstring for units and shapes)."""

    mu: Tensor
    var: Tensor
    logits: Tensor
    gate: Tensor | None = None
    alpha: Tensor | None = None
    used: Tensor | None = None


class PredictionHead(nn.Module):
    """Linear heads from a pooled feature vector ``[B, F]`` to (mu, var, logits)."""

    def __init__(self, in_features: int, var_floor: float, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.mu = nn.Linear(in_features, 1)
        self.var = nn.Linear(in_features, 1)
        self.logits = nn.Linear(in_features, N_BANDS)
        self.var_floor = float(var_floor)

    @torch.no_grad()
    def init_prior(self, mean: float, var: float | None, band_freq: Tensor | None = None) -> None:
        """Start as the prior predictor: the bias terms give ``mu = mean``, ``var = var`` (PHQ points,
        points squared) and band log-probabilities ``log band_freq`` when the features carry nothing;
        the weights keep their random initialisation.  Without it a fresh head starts at mu ~ 12,
        var ~ 0.7 points^2, and the first epochs of a small data set are spent inflating the variance
        the Gaussian NLL punishes (measured: 11 epochs to get near the mean predictor)."""
        p = min(max(float(mean) / PHQ_MAX, 1e-3), 1 - 1e-3)
        self.mu.bias.fill_(float(torch.logit(torch.tensor(p))))
        if var is not None:
            excess = max(float(var) - self.var_floor, 1e-3)
            self.var.bias.fill_(excess + float(torch.log(-torch.expm1(torch.tensor(-excess)))))  # softplus^-1
        if band_freq is not None:
            f = torch.as_tensor(band_freq, dtype=self.logits.bias.dtype).clamp_min(1e-3)
            self.logits.bias.copy_(torch.log(f / f.sum()))

    def forward(self, x: Tensor) -> Prediction:
        x = self.dropout(x)
        mu = PHQ_MAX * torch.sigmoid(self.mu(x).squeeze(-1))
        var = F.softplus(self.var(x).squeeze(-1)) + self.var_floor
        return Prediction(mu=mu, var=var, logits=self.logits(x))


class Expert(nn.Module):
    """One expert: an LSTM over encoded features, masked mean over time, then the heads.

    ``forward(h [B, L, in_features], m [B, L]) -> Prediction`` (mu, var, logits only).
    """

    def __init__(self, in_features: int, hidden: int, var_floor: float, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden, batch_first=True)
        self.head = PredictionHead(hidden, var_floor, dropout)

    def forward(self, h: Tensor, m: Tensor) -> Prediction:
        w = m.to(h.dtype).unsqueeze(-1)
        out, _ = self.lstm(h * w)
        return self.head(masked_mean(out, m))


@dataclass
class Features:
    """What an expert's feature extractor gives its head and the interviewer gate: ``h [B, T, F]``
    (zero at masked steps), ``m [B, T]``, and for two-stream experts the modality weights ``alpha``
    and ``used`` flags ``[B, 2]`` (audio, video)."""

    h: Tensor
    m: Tensor
    alpha: Tensor | None = None
    used: Tensor | None = None


class StreamExpert(nn.Module):
    """``kind="expert"`` for one stream: this expert's OWN encoder -> :class:`Expert` head.

    One interviewer type's expert (paper eq. 10-11: one model per interviewer type, trained on that
    type's sessions).  A mixture (:class:`depsev.models.moe.MixtureOfExperts`) holds two of these,
    each with its own encoder, and loads them from the separately trained expert checkpoints.
    """

    def __init__(self, stream: str, cfg: ModelConfig):
        super().__init__()
        self.stream = stream
        self.modalities = (stream,)
        self.dim = stream_dim(stream, cfg)
        self.encoder = make_encoder(stream, cfg)
        self.head = Expert(cfg.hidden, cfg.expert_hidden, cfg.var_floor, cfg.dropout)
        #: width of :meth:`features`' ``h``
        self.feature_dim = cfg.hidden

    def features(self, batch: dict[str, Tensor]) -> Features:
        x, m = check_stream(batch, self.stream, self.dim)
        return Features(*self.encoder(x, m))

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        f = self.features(batch)
        return self.head(f.h, f.m)


def init_prediction_priors(model: nn.Module, mean: float, var: float | None,
                           band_freq: Tensor | None = None) -> int:
    """:meth:`PredictionHead.init_prior` on every prediction head of ``model``; returns how many."""
    heads = [m for m in model.modules() if isinstance(m, PredictionHead)]
    for head in heads:
        head.init_prior(mean, var, band_freq)
    return len(heads)
