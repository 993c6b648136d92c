"""Audio and video of the same instant reach the same fusion step (shard schema version 2).

The chunk planner the shard stage and ``depsev predict`` share (:func:`depsev.shards.session.plan_chunks`)
places every VGGish example on the video chunk's time axis; the fusion model pools both streams into
``fusion_steps`` bins of that axis.  These tests carry each frame's session time through the REAL
planner and the REAL model code (encoders with their LSTM replaced by a pass-through, so the pooled
value of a bin is the mean time of the frames in it) and compare the two streams bin by bin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from depsev.models import ModelConfig
from depsev.models.fusion import FusionExpert
from depsev.shards.chunks import ChunkConfig
from depsev.shards.session import Stream, plan_chunks

CFG = ChunkConfig(video_frames=900, audio_frames=32, video_downsample=5, dataset_kind="demo")


class PassThrough(nn.Module):
    """Stands in for an encoder's LSTM: the input, zero-padded to the hidden width."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden

    def forward(self, x: torch.Tensor):
        out = x.new_zeros(*x.shape[:2], self.hidden)
        k = min(x.shape[-1], self.hidden)
        out[..., :k] = x[..., :k]
        return out, None


def _session(fps: float = 29.0, seconds: float = 95.0, speech=((3.0, 9.0), (20.0, 28.0), (47.0, 80.0))):
    """A video stream at ``fps`` and VGGish examples (0.96 s) only inside the participant's turns;
    feature 0 of both streams holds the frame's session time."""
    vt = np.arange(int(seconds * fps)) / fps
    vx = np.zeros((len(vt), 49), np.float32)
    vx[:, 0] = vt
    at = np.concatenate([np.arange(a, b - 0.96, 0.96) for a, b in speech])
    ax = np.zeros((len(at), 8), np.float32)
    ax[:, 0] = at
    return {"video": Stream(vx, np.ones(len(vt), bool), vt), "audio": Stream(ax, np.ones(len(at), bool), at)}


def _model(encoder_steps: int) -> FusionExpert:
    cfg = ModelConfig(audio_dim=8, audio_proj=8, encoder_steps=encoder_steps, dropout=0.0)
    model = FusionExpert(cfg).eval()
    with torch.no_grad():  # audio projection: keep feature 0 (the time), nothing else
        proj = model.encoders["audio"].proj
        proj.weight.zero_()
        proj.bias.zero_()
        proj.weight[0, 0] = 1.0
    for enc in model.encoders.values():
        enc.lstm = PassThrough(cfg.hidden)
    return model


@pytest.mark.parametrize("encoder_steps", [60, 0])
@pytest.mark.parametrize("fps", [29.0, 31.5])
def test_audio_and_video_of_one_instant_share_the_fusion_step(encoder_steps, fps):
    plan = plan_chunks(_session(fps), CFG, modality="fusion")
    assert len(plan) >= 2
    batch = {"xv": torch.from_numpy(np.stack([e["video"].seq for e in plan.entries])),
             "mv": torch.from_numpy(np.stack([e["video"].mask for e in plan.entries])),
             "xa": torch.from_numpy(np.stack([e["audio"].seq for e in plan.entries])),
             "ma": torch.from_numpy(np.stack([e["audio"].mask for e in plan.entries]))}
    model = _model(encoder_steps)
    with torch.no_grad():
        axis = model.common_axis(batch)
    (pv, mv, _, _), (pa, ma, _, _) = axis["video"], axis["audio"]
    both = (mv & ma).numpy()
    assert both.sum() >= 10  # the speech turns give many bins with both streams
    tv, ta = pv[..., 0].numpy(), pa[..., 0].numpy()
    bin_width = np.array([(e["video"].end_time - e["video"].start_time) / model.steps for e in plan.entries])
    err = np.abs(tv - ta)[both] / np.broadcast_to(bin_width[:, None], both.shape)[both]
    # the mean times of a bin's audio and video lie within one bin of each other (audio slots are
    # coarser than face steps: 32 slots vs 30 bins), never a chunk's half apart as with index packing
    assert err.max() < 1.0, err.max()
    assert np.median(err) < 0.5


def test_audio_only_chunks_follow_the_same_time_grid():
    """``depsev predict`` without face data: the grid chunk of the span of 900 face frames at 30 fps
    places the audio as a video chunk of the same span does."""
    streams = _session(fps=30.0, speech=((0.0, 9.0), (20.0, 28.0), (47.0, 80.0)))  # grid starts at 0 too
    with_video = plan_chunks(streams, CFG, modality="fusion")
    audio_only = plan_chunks({"audio": streams["audio"]}, CFG, modality="fusion")
    assert [set(e) for e in audio_only.entries] == [{"audio"}] * len(audio_only)
    by_start = {round(e["audio"].start_time, 6): e["audio"] for e in with_video.entries}
    matched = 0
    for e in audio_only.entries:
        other = by_start.get(round(e["audio"].start_time, 6))
        if other is not None:
            matched += 1
            np.testing.assert_array_equal(e["audio"].mask, other.mask)
            np.testing.assert_array_equal(e["audio"].seq, other.seq)
    assert matched == len(audio_only) >= 2
    assert "time grid" in audio_only.rule


def test_audio_only_session_shorter_than_a_chunk_has_a_reason():
    streams = _session(seconds=10.0, speech=((1.0, 5.0),))
    plan = plan_chunks({"audio": streams["audio"]}, CFG, modality="fusion")
    assert len(plan) == 0 and plan.qc["reason"].startswith("shorter than one chunk")
    short = plan_chunks({"audio": streams["audio"]}, CFG, modality="fusion", allow_short=True)
    assert len(short) == 1 and short.short
