"""Per-modality encoders (paper eq. 18-19) and the masking helpers every model uses.

Inputs are batch-first float32 tensors from the shard stage: audio ``xa [B, La, 4096]`` with
``ma [B, La]`` (True = real frame), video ``xv [B, Lv, 49]`` with ``mv [B, Lv]``, interviewer flag
``z [B]`` (0 = woz, 1 = ai).

Masked frames never count: every encoder sets masked input frames to exactly 0 (so the values of masked
frames cannot reach the network), runs its LSTM over all ``L`` steps (a masked step is a zero
input) and re-zeroes the outputs at masked steps; poolings are masked means.  A row whose mask is
all False therefore gives an all-zero encoding (never NaN).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depsev.constants import STREAM_KEYS, STREAMS
from depsev.errors import InputError
from depsev.models.config import ModelConfig

#: the two streams, in the order used by every [B, 2] "per-modality" tensor (alpha, used)
#: number of interviewer types (z = 0 woz, 1 ai)
N_INTERVIEWERS = 2


# ---------------------------------------------------------------- batch checks
def check_stream(batch: Mapping[str, Tensor], stream: str, dim: int) -> tuple[Tensor, Tensor]:
    """``(x, m)`` of ``stream`` with shapes checked; ``x`` float32 ``[B, L, dim]``, ``m`` bool ``[B, L]``.

    Raises InputError (no path: tensors) naming the key and the shape found.
    """
    kx, km = STREAM_KEYS[stream]
    for key in (kx, km):
        if key not in batch:
            raise InputError(None, f"batch has no {key!r} (needed for the {stream} stream); "
                                   f"keys: {sorted(batch)}")
    x, m = batch[kx], batch[km]
    if x.dim() != 3 or x.shape[-1] != dim:
        raise InputError(None, f"batch[{kx!r}] must be [B, L, {dim}], got {list(x.shape)}")
    if m.shape != x.shape[:2]:
        raise InputError(None, f"batch[{km!r}] must be [B, L] = {list(x.shape[:2])}, got {list(m.shape)}")
    if m.dtype != torch.bool:
        raise InputError(None, f"batch[{km!r}] must be bool (True = real frame), got {m.dtype}")
    return x.float(), m


def check_interviewer(batch: Mapping[str, Tensor], batch_size: int) -> Tensor:
    """The interviewer flag ``z`` (long ``[B]``, values 0 = woz / 1 = ai) or InputError."""
    if "z" not in batch:
        raise InputError(None, f"batch has no 'z' (interviewer flag 0 = woz, 1 = ai); keys: {sorted(batch)}")
    z = batch["z"]
    if z.shape != (batch_size,) or z.dtype not in (torch.int64, torch.int32, torch.uint8, torch.bool):
        raise InputError(None, f"batch['z'] must be an integer tensor [{batch_size}], "
                               f"got {z.dtype} {list(z.shape)}")
    z = z.long()
    if z.numel() and (int(z.min()) < 0 or int(z.max()) >= N_INTERVIEWERS):
        raise InputError(None, f"batch['z'] values must be 0 (woz) or 1 (ai), got {sorted(set(z.tolist()))}")
    return z


# ---------------------------------------------------------------- masked operations
def zero_masked(x: Tensor, m: Tensor) -> Tensor:
    """``x [B, L, D]`` with every step where ``m [B, L]`` is False set to exactly 0 (NaN/inf too)."""
    return torch.where(m.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


def masked_mean(h: Tensor, m: Tensor) -> Tensor:
    """Mean of ``h [B, L, H]`` over the steps where ``m [B, L]`` is True -> ``[B, H]``; 0 for empty rows."""
    w = m.to(h.dtype).unsqueeze(-1)
    count = w.sum(dim=1).clamp_min(1.0)
    return (h * w).sum(dim=1) / count


def masked_adaptive_pool(h: Tensor, m: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Bring ``h [B, L, H]`` to ``steps`` time steps by masked adaptive average pooling.

    Step ``j`` covers input steps ``[floor(j L / T), ceil((j+1) L / T))`` (PyTorch's
    ``adaptive_avg_pool1d`` bins; when ``L < T`` steps are repeated).  The value of a bin is the
    mean of its real (mask True) steps; a bin without real steps is 0 and masked.
    Returns ``(pooled [B, T, H], mask [B, T] bool)``.
    """
    w = m.to(h.dtype).unsqueeze(1)  # [B, 1, L]
    num = F.adaptive_avg_pool1d(h.transpose(1, 2) * w, steps)  # [B, H, T]
    share = F.adaptive_avg_pool1d(w, steps)  # [B, 1, T]: share of real steps in the bin
    pooled = num / share.clamp_min(1e-12)
    mask = share.squeeze(1) > 0
    pooled = pooled * mask.unsqueeze(1).to(h.dtype)
    return pooled.transpose(1, 2), mask


# ---------------------------------------------------------------- encoders
class SequenceEncoder(nn.Module):
    """Optional per-frame linear projection, optional time pooling, then a one-layer LSTM.

    ``forward(x [B, L, D], m [B, L]) -> (h [B, T, hidden], mh [B, T])``: ``T = L``, or
    ``T = steps`` when ``steps`` > 0 and the chunk is longer (masked adaptive average pooling of
    the (projected) frames into ``steps`` equal time bins, :func:`masked_adaptive_pool`);
    ``mh`` says which of the ``T`` steps hold real frames and ``h`` is zero elsewhere.

    Pooling a linear projection equals projecting the pooled frames, so the audio projection is
    applied first (to 8 dims, cheap to pool).  The LSTM runs step by step, so ``steps`` bounds the
    encoder's sequential work: this is what keeps the model's latency low at the paper's chunk
    sizes (300 VGGish frames, 5000 face frames).
    """

    def __init__(self, in_dim: int, hidden: int, proj: int | None = None, dropout: float = 0.0,
                 steps: int = 0):
        super().__init__()
        self.in_dim = in_dim
        self.hidden = hidden
        self.steps = int(steps)
        self.proj = nn.Linear(in_dim, proj) if proj is not None else None
        self.lstm = nn.LSTM(proj if proj is not None else in_dim, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        # masked frames: their values (even NaN or inf) never enter the LSTM, nor does the
        # projection's bias at masked steps.  A matrix product keeps rows apart, so a masked frame's
        # values stay in its own row of the projection and are replaced by 0 there; this spares a
        # copy of the large (4096-d) audio input.  (Chunks pad with zeros anyway.)
        x = zero_masked(self.proj(x), m) if self.proj is not None else zero_masked(x, m)
        if self.steps and x.shape[1] > self.steps:
            x, m = masked_adaptive_pool(x, m, self.steps)
        h, _ = self.lstm(x)
        return self.dropout(h) * m.to(h.dtype).unsqueeze(-1), m


def make_encoder(stream: str, cfg: ModelConfig) -> SequenceEncoder:
    """Audio: Linear(audio_dim -> audio_proj) + LSTM(hidden); video: LSTM(video_dim -> hidden);
    both pooled to at most ``cfg.encoder_steps`` steps before the LSTM."""
    if stream == "audio":
        return SequenceEncoder(cfg.audio_dim, cfg.hidden, proj=cfg.audio_proj, dropout=cfg.dropout,
                               steps=cfg.encoder_steps)
    if stream == "video":
        return SequenceEncoder(cfg.video_dim, cfg.hidden, proj=None, dropout=cfg.dropout,
                               steps=cfg.encoder_steps)
    raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")


def stream_dim(stream: str, cfg: ModelConfig) -> int:
    """Feature dimension of a frame of ``stream``."""
    return cfg.audio_dim if stream == "audio" else cfg.video_dim
