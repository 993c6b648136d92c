"""The unified model output and the expert network (paper eq. 10-11, 13).

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
from depsev.models.encoders import masked_mean


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
