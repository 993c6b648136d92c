"""Gated audio-video fusion model (paper eq. 18-24) with the interviewer mixture of experts.

1. Encoders (eq. 18-19): ``f_a = Encoder_a(xa)`` (Linear 4096 -> audio_proj, LSTM),
   ``f_v = Encoder_v(xv)`` (LSTM), each ``[B, L_s, hidden]``, zero at masked steps.
2. Common time axis: La and Lv differ (e.g. 300 VGGish examples vs 5000 face frames), so each
   encoded sequence is brought to ``T = fusion_steps`` steps by MASKED adaptive average pooling
   (:func:`depsev.models.encoders.masked_adaptive_pool`): step ``j`` is the mean of the real
   steps in the ``j``-th of ``T`` equal time bins of the chunk; a bin with no real step is 0 and
   masked.  Both streams of a fusion chunk cover the same time span (shard stage), so the bins are
   aligned in time.
3. Modality gates (eq. 20-22): ``alpha_s = sigmoid(w_s . mean_t f_s + b_s)``, one scalar per chunk
   and stream from that stream's masked mean encoding; ``f = alpha_v f_v + alpha_a f_a`` per step.
4. Fusion LSTM (eq. 23) over the ``T`` fused steps (masked where neither used stream has data),
   then the two interviewer-type experts + gate + combination of :mod:`depsev.models.moe`
   (eq. 12-15; ``mu = 24 sigmoid(.)`` as eq. 24).

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

from depsev.errors import InputError
from depsev.models.config import ModelConfig
from depsev.models.encoders import (
    STREAM_KEYS,
    STREAMS,
    check_interviewer,
    check_stream,
    make_encoder,
    masked_adaptive_pool,
    masked_mean,
    stream_dim,
)
from depsev.models.experts import Prediction
from depsev.models.moe import MixtureHead


class ModalityGate(nn.Module):
    """``alpha = sigmoid(w . x + b)`` from a pooled stream encoding ``x [B, H]`` -> ``[B]``."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.linear(x).squeeze(-1))


class FusionModel(nn.Module):
    """``kind="fusion"``: both streams -> gated fusion -> fusion LSTM -> interviewer MoE."""

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
        self.head = MixtureHead(cfg.fusion_hidden, cfg)

    def _present_streams(self, batch: dict[str, Tensor]) -> list[str]:
        present = [s for s in self.modalities if STREAM_KEYS[s][0] in batch]
        if not present:
            raise InputError(None, f"fusion batch holds none of the streams {self.modalities} "
                                   f"(keys {sorted(batch)})")
        return present

    def forward(self, batch: dict[str, Tensor]) -> Prediction:
        present = self._present_streams(batch)
        streams = {s: check_stream(batch, s, self.dims[s]) for s in present}
        sizes = {s: x.shape[0] for s, (x, _) in streams.items()}
        if len(set(sizes.values())) != 1:
            raise InputError(None, f"streams have different batch sizes {sizes}")
        b = next(iter(sizes.values()))
        z = check_interviewer(batch, b)
        ref = next(iter(streams.values()))[0]
        fused = ref.new_zeros(b, self.steps, self.hidden)
        fmask = torch.zeros(b, self.steps, dtype=torch.bool, device=ref.device)
        alpha = ref.new_zeros(b, len(STREAMS))
        used = torch.zeros(b, len(STREAMS), dtype=torch.bool, device=ref.device)
        for s, (x, m) in streams.items():
            k = STREAMS.index(s)
            h, hm = self.encoders[s](x, m)
            has_data = m.any(dim=1)
            a = self.gates[s](masked_mean(h, hm)) * has_data.to(h.dtype)
            pooled, pmask = masked_adaptive_pool(h, hm, self.steps)
            fused = fused + a[:, None, None] * pooled
            fmask = fmask | pmask
            alpha[:, k] = a
            used[:, k] = has_data
        w = fmask.to(fused.dtype).unsqueeze(-1)
        out, _ = self.fusion_lstm(fused * w)
        pred = self.head(out * w, fmask, z)
        pred.alpha = alpha
        pred.used = used
        return pred
