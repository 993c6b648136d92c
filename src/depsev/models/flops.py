"""FLOPs of the fusion model per chunk pair (one audio chunk + one video chunk, batch 1).

Counted ANALYTICALLY from :class:`~depsev.models.config.ModelConfig` (:func:`fusion_flops`), and
cross-checked with ptflops (:func:`ptflops_macs`; fvcore and torch's FlopCounterMode do not count
LSTMs).  Conventions of the analytic count (one multiply-accumulate = MAC = 2 FLOPs):

- ``Linear(in, out)`` on ``n`` rows: ``n (in out + out)`` MACs (the bias add counted as a MAC, as
  ptflops does);
- ``LSTM(in, h)`` over ``L`` steps: ``L * 4 (in h + h h + h)`` MACs (four gates: input and
  recurrent products + one bias) and ``L * 13 h`` elementwise FLOPs (second bias add 4h, gate
  activations 4h, ``c = f c + i g`` 3h, ``tanh(c)`` h, ``o tanh(c)`` h);
- masked means, masked adaptive pooling, gates' sigmoid / softmax and the expert combination are
  elementwise FLOPs (no MACs).

``flops = 2 * macs + elementwise``.  ptflops reports MACs under its own convention (per LSTM step
``4h(in + h) + 18h``, elementwise terms included; Linear as above; adaptive pooling as input
elements), so the analytic ``macs`` and ptflops' count differ by the LSTMs' elementwise
bookkeeping, a few percent: :data:`PTFLOPS_TOLERANCE` is the relative difference the tests allow.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from depsev.constants import N_BANDS
from depsev.models.config import ModelConfig
from depsev.models.encoders import N_INTERVIEWERS

#: allowed relative difference |analytic macs - ptflops| / ptflops
PTFLOPS_TOLERANCE = 0.10


@dataclass
class FlopsReport:
    """Analytic cost of one forward pass: per component ``(macs, elementwise_flops)``."""

    la: int
    lv: int
    components: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, name: str, macs: int, elementwise: int = 0) -> None:
        m, e = self.components.get(name, (0, 0))
        self.components[name] = (m + int(macs), e + int(elementwise))

    @property
    def macs(self) -> int:
        return sum(m for m, _ in self.components.values())

    @property
    def elementwise(self) -> int:
        return sum(e for _, e in self.components.values())

    @property
    def flops(self) -> int:
        """``2 * macs + elementwise``."""
        return 2 * self.macs + self.elementwise


def linear_macs(in_features: int, out_features: int, rows: int = 1) -> int:
    """MACs of ``Linear(in, out)`` applied to ``rows`` vectors (bias included)."""
    return rows * (in_features * out_features + out_features)


def lstm_macs(in_features: int, hidden: int, steps: int) -> int:
    """MACs of a one-layer LSTM over ``steps`` steps: ``4 (in h + h h + h)`` per step."""
    return steps * 4 * (in_features * hidden + hidden * hidden + hidden)


def lstm_elementwise(hidden: int, steps: int) -> int:
    """Elementwise FLOPs of a one-layer LSTM: ``13 h`` per step (see module docstring)."""
    return steps * 13 * hidden


def encoder_length(cfg: ModelConfig, length: int) -> int:
    """Steps an encoder LSTM runs for a chunk of ``length`` frames (``cfg.encoder_steps`` pooling)."""
    return min(length, cfg.encoder_steps) if cfg.encoder_steps else length


def _pool_flops(length: int, steps: int, width: int) -> int:
    """Masked adaptive pooling of ``[length, width]`` to ``steps``: mask multiply L w, two pools
    (L w + L), divide + mask 2 T w."""
    return 2 * length * width + length + 2 * steps * width


def fusion_flops(cfg: ModelConfig, la: int, lv: int) -> FlopsReport:
    """Analytic MACs / FLOPs of :class:`~depsev.models.fusion.FusionModel` for one chunk pair: two
    complete fusion experts (each its own encoders, gates, fusion LSTM and head) + the interviewer gate."""
    h, hf, e, t = cfg.hidden, cfg.fusion_hidden, cfg.expert_hidden, cfg.fusion_steps
    r = FlopsReport(la=la, lv=lv)
    ta, tv = encoder_length(cfg, la), encoder_length(cfg, lv)
    for _ in range(N_INTERVIEWERS):
        # encoders: input masking, (audio) projection, pooling to encoder_steps, LSTM, output masking
        r.add("audio_projection", linear_macs(cfg.audio_dim, cfg.audio_proj, la),
              la * cfg.audio_dim + la * cfg.audio_proj)
        r.add("video_masking", 0, lv * cfg.video_dim)
        pools = (("audio", la, ta, cfg.audio_proj), ("video", lv, tv, cfg.video_dim))
        for name, length, steps, width in pools:
            if steps < length:
                r.add(f"{name}_encoder_pooling", 0, _pool_flops(length, steps, width))
        r.add("audio_lstm", lstm_macs(cfg.audio_proj, h, ta), lstm_elementwise(h, ta) + ta * h)
        r.add("video_lstm", lstm_macs(cfg.video_dim, h, tv), lstm_elementwise(h, tv) + tv * h)
        for name, length in (("audio", ta), ("video", tv)):
            # modality gate on the masked mean: mean 2 L h, Linear(h, 1), sigmoid + mask 2
            r.add("modality_gates", linear_macs(h, 1), 2 * length * h + 2)
            r.add(f"{name}_time_pooling", 0, _pool_flops(length, t, h))
            r.add("fusion_sum", 0, 2 * t * h)
        r.add("fusion_lstm", lstm_macs(h, hf, t), t * h + lstm_elementwise(hf, t) + t * hf)
        r.add("experts", lstm_macs(hf, e, t), t * hf + lstm_elementwise(e, t) + 2 * t * e)
        r.add("experts", linear_macs(e, 1) * 2 + linear_macs(e, N_BANDS), 4 + 2 * N_BANDS)
    # the gate on both experts' masked-mean features and the flag
    r.add("interviewer_gate", linear_macs(N_INTERVIEWERS * hf + N_INTERVIEWERS, N_INTERVIEWERS),
          N_INTERVIEWERS * 2 * t * hf + 2 * N_INTERVIEWERS)
    # combination: mu, mixture variance, mixed band log-probabilities, gate-weighted modality weights
    r.add("expert_combination", 0, N_INTERVIEWERS * (6 + 4 * N_BANDS + 4))
    return r


class _BatchAdapter(nn.Module):
    """Keyword-tensor front of a ``forward(batch) -> Prediction`` model, for ptflops."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, xa: Tensor, ma: Tensor, xv: Tensor, mv: Tensor, z: Tensor) -> Tensor:
        return self.model({"xa": xa, "ma": ma, "xv": xv, "mv": mv, "z": z}).mu


def example_batch(cfg: ModelConfig, la: int, lv: int, batch_size: int = 1) -> dict[str, Tensor]:
    """A fully unmasked random batch of chunk pairs (for counting and timing)."""
    g = torch.Generator().manual_seed(0)
    return {
        "xa": torch.randn(batch_size, la, cfg.audio_dim, generator=g),
        "ma": torch.ones(batch_size, la, dtype=torch.bool),
        "xv": torch.randn(batch_size, lv, cfg.video_dim, generator=g),
        "mv": torch.ones(batch_size, lv, dtype=torch.bool),
        "z": torch.zeros(batch_size, dtype=torch.long),
    }


def ptflops_macs(model: nn.Module, cfg: ModelConfig, la: int, lv: int) -> int:
    """MACs of one forward pass of ``model`` on one chunk pair, counted by ptflops.

    ptflops' own printout (and its warning that the inputs are keyword arguments, batch size 1
    assumed -- correct here) is swallowed.
    """
    from ptflops import get_model_complexity_info

    adapter = _BatchAdapter(model)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), torch.no_grad():
        macs, _ = get_model_complexity_info(
            adapter, (la,), as_strings=False, print_per_layer_stat=False, ost=sink,
            input_constructor=lambda _res: example_batch(cfg, la, lv))
    if macs is None:
        raise RuntimeError(f"ptflops could not count the model: {sink.getvalue()[-2000:]}")
    return int(macs)
