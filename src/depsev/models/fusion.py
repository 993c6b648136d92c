"""Gated audio-video fusion model (paper eq. 18-24) with the interviewer mixture of experts.

:class:`FusionExpert` (``kind="expert"``, modality ``fusion``) is one interviewer type's complete
fusion network, steps 1-4 below with one expert head; :class:`FusionModel` (``kind="fusion"``) is
the mixture of two of them, each with its own encoders and fusion LSTM, and the interviewer gate
(:class:`depsev.models.moe.MixtureOfExperts`).

1. Encoders (eq. 18-19): ``f_a = Encoder_a(xa)`` (Linear 4096 -> audio_proj, LSTM),
   ``f_v = Encoder_v(xv)`` (LSTM), each ``[B, L_s, hidden]``, zero at masked steps.
2. Common time axis: La and Lv differ (e.g. 300 VGGish examples vs 5000 face frames), so each
   encoded sequence is brought to ``T = fusion_steps`` steps by MASKED adaptive average pooling
   (:func:`depsev.models.encoders.masked_adaptive_pool`): step ``j`` is the mean of the real
   steps in the ``j``-th of ``T`` equal time bins of the chunk; a bin with no real step is 0 and
   masked.  The shard stage places every audio example at its time's relative position on the video
   chunk's axis (:mod:`depsev.shards.session`), so bin ``j`` of both streams covers the same moments:
   audio and video of one instant are fused in the same step.
3. Modality gates (eq. 20-22): ``alpha_s = sigmoid(w_s . mean_t f_s + b_s)``, one scalar per chunk
   and stream from that stream's masked mean encoding; ``f = alpha_v f_v + alpha_a f_a`` per step.
4. Fusion LSTM (eq. 23) over the ``T`` fused steps (masked where neither used stream has data),
   then the expert head (``mu = 24 sigmoid(.)`` as eq. 24); in :class:`FusionModel` the two
   experts' predictions are combined by the gate of :mod:`depsev.models.moe` (eq. 12-15).

Missing modality: a stream the model was built without (``modalities``), a stream absent from
the batch, or a row whose mask is all False, has ``alpha_s`` forced to 0 and contributes nothing;
``Prediction.used [B, 2]`` (audio, video) says which streams entered each row's prediction and
``Prediction.alpha [B, 2]`` reports the weights.  A row with neither stream gives the model's
bias-only prediction (finite, never NaN) and ``used`` all False.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from depsev.constants import STREAM_KEYS
from depsev.errors import InputError
from depsev.models.config import ModelConfig
from depsev.models.encoders import (
    N_INTERVIEWERS,
    STREAMS,
    check_stream,
    make_encoder,
    masked_adaptive_pool,
    masked_mean,
    stream_dim,
)
from depsev.models.experts import Expert, Features, Prediction
from depsev.models.moe import MixtureOfExperts


class ModalityGate(nn.Module):
    """``alpha = sigmoid(w . x + b)`` from a pooled stream encoding ``x [B, H]`` -> ``[B]``."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.linear(x).squeeze(-1))


class FusionExpert(nn.Module):
    """One interviewer type's fusion network: both encoders -> gated fusion -> fusion LSTM -> head."""

    def __init__(self, cfg: ModelConfig, modalities: Sequence[str] = STREAMS):
        super().__init__()
        bad = [s for s in modalities if s not in STREAMS]
        if bad or not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {STREAMS}, got {list(modalities)}")
        self.modalities = tuple(s for s in STREAMS if s in modalities)
        self.steps = cfg.fusion_steps
        self.hidden = cfg.hidden
        self.dims = {s: stream_dim(s, cfg) for s in self.modalities}
        self.encoders = nn.ModuleDict({s: make_encoder(s, cfg) for s in self.modalities})
        self.gates = nn.ModuleDict({s: ModalityGate(cfg.hidden) for s in self.modalities})
        self.fusion_lstm = nn.LSTM(cfg.hidden, cfg.fusion_hidden, batch_first=True)
        self.head = Expert(cfg.fusion_hidden, cfg.expert_hidden, cfg.var_floor, cfg.dropout)
        #: width of :meth:`features`' ``h``
        self.feature_dim = cfg.fusion_hidden

    def _present_streams(self, batch: dict[str, Tensor]) -> list[str]:
        present = [s for s in self.modalities if STREAM_KEYS[s][0] in batch]
        if not present:
            raise InputError(None, f"fusion batch holds none of the streams {self.modalities} "
                                   f"(keys {sorted(batch)})")
        return present

    def common_axis(self, batch: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Per present stream: ``(pooled [B, T, H], pooled mask [B, T], encoding [B, L', H], its mask)``:
        the stream's encoder output brought to the ``T = fusion_steps`` common time bins."""
        present = self._present_streams(batch)
        streams = {s: check_stream(batch, s, self.dims[s]) for s in present}
        sizes = {s: x.shape[0] for s, (x, _) in streams.items()}
        if len(set(sizes.values())) != 1:
            raise InputError(None, f"streams have different batch sizes {sizes}")
        out = {}
        for s, (x, m) in streams.items():
            h, hm = self.encoders[s](x, m)
            pooled, pmask = masked_adaptive_pool(h, hm, self.steps)
            out[s] = (pooled, pmask, h, hm)
        return out

    def features(self, batch: dict[str, Tensor]) -> Features:
        axis = self.common_axis(batch)
        ref = next(iter(axis.values()))[0]
        b = ref.shape[0]
        fused = ref.new_zeros(b, self.steps, self.hidden)
        fmask = torch.zeros(b, self.steps, dtype=torch.bool, device=ref.device)
        alpha = ref.new_zeros(b, len(STREAMS))
        used = torch.zeros(b, len(STREAMS), dtype=torch.bool, device=ref.device)
        for s, (pooled, pmask, h, hm) in axis.items():
            k = STREAMS.index(s)
            has_data = hm.any(dim=1)
            a = self.gates[s](masked_mean(h, hm)) * has_data.to(h.dtype)
            fused = fused + a[:, None, None] * pooled
            fmask = fmask | pmask
            alpha[:, k] = a
            used[:, k] = has_data
        w = fmask.to(fused.dtype).unsqueeze(-1)
        out, _ = self.fusion_lstm(fused * w)
        return Features(out * w, fmask, alpha, used)

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        f = self.features(batch)
        pred = self.head(f.h, f.m)
        pred.alpha, pred.used = f.alpha, f.used
        return pred


class FusionModel(MixtureOfExperts):
    """``kind="fusion"``: two :class:`FusionExpert` s (woz, ai), each with its own encoders and fusion
    LSTM, combined by the interviewer gate (:class:`~depsev.models.moe.MixtureOfExperts`)."""

    def __init__(self, cfg: ModelConfig, modalities: Sequence[str] = STREAMS):
        super().__init__([FusionExpert(cfg, modalities) for _ in range(N_INTERVIEWERS)], cfg)
