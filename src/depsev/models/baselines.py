"""Baselines of the paper's comparison grid (Table 5), each for audio, video and both streams.

- ``kind="resnet"``: 1-D ResNet (Singh et al., paper section 4.1, eq. 26) per stream: (audio only:
  the same small per-frame Linear projection as the LSTM encoder) -> initial Conv1d + ReLU ->
  ``resnet_blocks`` residual blocks ``y = ReLU(F(x) + x)`` with ``F = conv-ReLU-conv`` -> masked
  global average pooling -> fully-connected heads.  All convolutions keep the length (stride 1,
  'same' padding) and their outputs are re-zeroed at masked steps, so masked frames never count.
- ``kind="lstm"``: the plain LSTM of section 4.2: the stream encoders, masked mean over time, the
  same heads, no experts and no gate.
- Random forest: scikit-learn on per-chunk summary statistics (:func:`chunk_summary_features`,
  :func:`batch_summary_features`), :func:`make_random_forest` gives the unfitted regressor of the
  PHQ score (the trainer fits it).

With both streams, each stream's pooled vector is computed separately and the two are
concatenated before the heads; a stream without real frames contributes zeros and is reported in
``Prediction.used``.  Variance: the neural baselines learn it with the same softplus head as the
experts (:class:`depsev.models.experts.PredictionHead`); the random forest has none (the trainer
may use the spread of the trees' predictions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from depsev.errors import InputError
from depsev.models.config import ModelConfig
from depsev.models.encoders import (
    STREAMS,
    check_stream,
    make_encoder,
    masked_mean,
    stream_dim,
    zero_masked,
)
from depsev.models.experts import Prediction, PredictionHead


# ---------------------------------------------------------------- 1-D ResNet
class ResidualBlock1d(nn.Module):
    """``y = ReLU(conv2(ReLU(conv1(x))) + x)`` with masked steps re-zeroed after every conv."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        y = self.relu1(self.conv1(x) * w)
        y = self.conv2(y) * w
        return self.relu2(y + x)


class ResNetBranch(nn.Module):
    """One stream's 1-D ResNet: ``(x [B, L, D], m [B, L]) -> pooled [B, channels]``."""

    def __init__(self, in_dim: int, cfg: ModelConfig, proj: int | None = None):
        super().__init__()
        self.proj = nn.Linear(in_dim, proj) if proj is not None else None
        c, k = cfg.resnet_channels, cfg.resnet_kernel
        self.stem = nn.Conv1d(proj if proj is not None else in_dim, c, k, padding=k // 2)
        self.stem_relu = nn.ReLU()
        self.blocks = nn.ModuleList([ResidualBlock1d(c, k) for _ in range(cfg.resnet_blocks)])
        self.out_features = c

    def forward(self, x: Tensor, m: Tensor) -> Tensor:
        wl = m.to(x.dtype).unsqueeze(-1)  # [B, L, 1]
        x = zero_masked(x, m)
        if self.proj is not None:
            x = self.proj(x) * wl
        w = wl.transpose(1, 2)  # [B, 1, L]
        h = self.stem_relu(self.stem(x.transpose(1, 2)) * w)
        for block in self.blocks:
            h = block(h, w)
        return masked_mean(h.transpose(1, 2), m)


class LSTMBranch(nn.Module):
    """One stream's plain LSTM: encoder, then masked mean over time -> ``[B, hidden]``."""

    def __init__(self, stream: str, cfg: ModelConfig):
        super().__init__()
        self.encoder = make_encoder(stream, cfg)
        self.out_features = cfg.hidden

    def forward(self, x: Tensor, m: Tensor) -> Tensor:
        return masked_mean(*self.encoder(x, m))


class PooledBaseline(nn.Module):
    """Per-stream branches (each ``(x, m) -> [B, F]``) -> concatenation -> heads."""

    def __init__(self, streams: Sequence[str], branches: Mapping[str, nn.Module], cfg: ModelConfig):
        super().__init__()
        self.streams = tuple(streams)
        self.dims = {s: stream_dim(s, cfg) for s in self.streams}
        self.branches = nn.ModuleDict(dict(branches))
        width = sum(int(self.branches[s].out_features) for s in self.streams)
        self.head = PredictionHead(width, cfg.var_floor, cfg.dropout)

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        parts, used = [], []
        for s in self.streams:
            x, m = check_stream(batch, s, self.dims[s])
            parts.append(self.branches[s](x, m))
            used.append(m.any(dim=1))
        sizes = {p.shape[0] for p in parts}
        if len(sizes) != 1:
            raise InputError(None, f"streams {self.streams} have different batch sizes {sorted(sizes)}")
        pred = self.head(torch.cat(parts, dim=-1))
        if len(self.streams) > 1:
            u = torch.zeros(parts[0].shape[0], len(STREAMS), dtype=torch.bool, device=parts[0].device)
            for s, has in zip(self.streams, used, strict=True):
                u[:, STREAMS.index(s)] = has
            pred.used = u
        return pred


def resnet_baseline(streams: Sequence[str], cfg: ModelConfig) -> PooledBaseline:
    """``kind="resnet"`` for the given streams (audio, video or both)."""
    return PooledBaseline(streams, {
        s: ResNetBranch(stream_dim(s, cfg), cfg, proj=cfg.audio_proj if s == "audio" else None)
        for s in streams}, cfg)


def lstm_baseline(streams: Sequence[str], cfg: ModelConfig) -> PooledBaseline:
    """``kind="lstm"``: stream encoders -> masked mean -> heads (no experts, no gate)."""
    return PooledBaseline(streams, {s: LSTMBranch(s, cfg) for s in streams}, cfg)


# ---------------------------------------------------------------- random forest
def chunk_summary_features(x: np.ndarray | Tensor, m: np.ndarray | Tensor,
                           reduce_to: int | None = None, seed: int = 0) -> np.ndarray:
    """Per-chunk summary statistics for the random forest: ``[B, 4 d + 1]`` float64.

    ``x [B, L, D]``, ``m [B, L]`` (True = real frame).  When ``reduce_to`` is given and smaller
    than ``D`` (audio: 4096-d fc2), every frame is first mapped to ``reduce_to`` dims by a FIXED
    Gaussian random projection (scikit-learn ``GaussianRandomProjection``, ``random_state=seed``;
    the same matrix for every chunk and call with the same ``D``, ``reduce_to`` and ``seed``).
    Columns: masked mean of each of the ``d`` dims, then masked std (population), masked min,
    masked max, and last the chunk's share of real frames.  A chunk without real frames gets 0 for
    every statistic and share 0 (it is kept, not dropped).
    """
    xa = np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float64)
    ma = np.asarray(m.detach().cpu() if isinstance(m, Tensor) else m, dtype=bool)
    if xa.ndim != 3 or ma.shape != xa.shape[:2]:
        raise InputError(None, f"chunk_summary_features needs x [B, L, D] and m [B, L], "
                               f"got {list(xa.shape)} and {list(ma.shape)}")
    b, length, d = xa.shape
    if reduce_to is not None and reduce_to < d:
        from sklearn.random_projection import GaussianRandomProjection

        rp = GaussianRandomProjection(n_components=reduce_to, random_state=seed).fit(np.zeros((1, d)))
        xa = rp.transform(xa.reshape(b * length, d)).reshape(b, length, reduce_to)
    w = ma[..., None]
    count = ma.sum(axis=1)[:, None]
    safe = np.maximum(count, 1)
    mean = np.where(w, xa, 0.0).sum(axis=1) / safe
    var = np.where(w, (xa - mean[:, None, :]) ** 2, 0.0).sum(axis=1) / safe
    empty = count == 0
    vmin = np.where(empty, 0.0, np.where(w, xa, np.inf).min(axis=1))
    vmax = np.where(empty, 0.0, np.where(w, xa, -np.inf).max(axis=1))
    share = count / max(length, 1)
    return np.concatenate([mean, np.sqrt(var), vmin, vmax, share], axis=1)


def batch_summary_features(batch: Mapping[str, Tensor], streams: Sequence[str], cfg: ModelConfig,
                           seed: int = 0) -> np.ndarray:
    """:func:`chunk_summary_features` of each stream (audio reduced to ``cfg.rf_audio_dims``),
    concatenated in the order of ``streams``."""
    feats = []
    for s in streams:
        x, m = check_stream(batch, s, stream_dim(s, cfg))
        feats.append(chunk_summary_features(x, m, cfg.rf_audio_dims if s == "audio" else None, seed))
    return np.concatenate(feats, axis=1)


def make_random_forest(seed: int, n_trees: int = 200) -> Any:
    """Unfitted random-forest regressor of the PHQ-8 score (bands follow from the score).

    ``min_samples_leaf=2`` and ``max_features=1/3`` (the classic regression-forest choice) limit
    overfitting on few participants; ``n_jobs=1`` because builds share few cores (results do not
    depend on it); ``random_state=seed`` makes the fit reproducible.
    """
    from sklearn.ensemble import RandomForestRegressor  # imported here: every torch job imports this module

    return RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=2, max_features=1 / 3,
                                 n_jobs=1, random_state=seed)
