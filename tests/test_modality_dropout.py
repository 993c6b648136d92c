"""Modality dropout (``TrainConfig.modality_dropout``, issue 7): during training only, each chunk of a
two-stream batch has its audio stream hidden with probability p and its video stream with
probability p, never both, exactly as a missing stream looks at predict time (mask row all False)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_data import write_all
from torch import nn

from depsev.data import ChunkDataset
from depsev.errors import InputError
from depsev.models import Prediction
from depsev.train.config import TrainConfig
from depsev.train.trainer import Trainer, modality_dropout


def make_batch(n: int, la: int = 5, lv: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ma = torch.rand(n, la, generator=g) > 0.2
    mv = torch.rand(n, lv, generator=g) > 0.2
    ma[:, 0] = True
    mv[:, 0] = True  # every row starts with both streams present
    return {"xa": torch.randn(n, la, 3, generator=g) + 1.0, "ma": ma,
            "xv": torch.randn(n, lv, 4, generator=g) + 1.0, "mv": mv,
            "z": torch.zeros(n, dtype=torch.int64), "y": torch.zeros(n), "index": torch.arange(n)}


def hidden_rows(out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return ~out["ma"].any(dim=1), ~out["mv"].any(dim=1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- the function
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_each_stream_hidden_on_share_p_never_both(p):
    n = 20_000
    batch = make_batch(n)
    out = modality_dropout(batch, p, gen(1))
    ha, hv = hidden_rows(out)
    # binomial standard deviation <= 0.0036 at n = 20000: 5 sd tolerance
    assert float(ha.float().mean()) == pytest.approx(p, abs=0.018)
    assert float(hv.float().mean()) == pytest.approx(p, abs=0.018)
    assert not (ha & hv).any()  # never both streams of one chunk
    # hidden rows: mask all False and frames 0; every other row exactly as it was
    assert (out["xa"][ha] == 0).all() and (out["xv"][hv] == 0).all()
    for k, rows in (("xa", ~ha), ("ma", ~ha), ("xv", ~hv), ("mv", ~hv)):
        assert torch.equal(out[k][rows], batch[k][rows]), k
    for k in ("z", "y", "index"):
        assert out[k] is batch[k]
    # the input batch is not modified
    assert torch.equal(batch["ma"], make_batch(n)["ma"]) and torch.equal(batch["xv"], make_batch(n)["xv"])


def test_a_row_with_one_stream_already_missing_keeps_it():
    batch = make_batch(4000)
    batch["mv"][:2000] = False  # video missing in the first half: audio must never be hidden there
    out = modality_dropout(batch, 0.5, gen(2))
    ha, hv = hidden_rows(out)
    assert not ha[:2000].any()
    assert (ha[2000:] | hv[2000:]).all()  # p = 0.5: every complete row loses exactly one stream
    assert not (ha & hv)[2000:].any()


def test_same_seed_same_rows_other_seed_other_rows():
    batch = make_batch(500)
    a, b, c = (modality_dropout(batch, 0.3, gen(s)) for s in (7, 7, 8))
    for k in ("ma", "mv", "xa", "xv"):
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["ma"], c["ma"])


def test_zero_probability_and_one_stream_leave_the_batch_alone():
    batch = make_batch(50)
    g = gen(3)
    state = g.get_state()
    assert modality_dropout(batch, 0.0, g) is batch
    video_only = {k: v for k, v in batch.items() if k not in ("xa", "ma")}
    assert modality_dropout(video_only, 0.4, g) is video_only
    assert torch.equal(g.get_state(), state)  # nothing drawn
    with pytest.raises(ValueError, match="never both"):
        modality_dropout(batch, 0.6, g)


def test_config_field():
    assert TrainConfig().modality_dropout == 0.0
    cfg = TrainConfig.from_dict({"modality_dropout": 0.25})
    assert cfg.modality_dropout == 0.25 and TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"modality_dropout": 0}).modality_dropout == 0.0
    too_high = r"config.yaml: train config: modality_dropout must be in \[0, 0.5\]"
    with pytest.raises(InputError, match=too_high):
        TrainConfig.from_dict({"modality_dropout": 0.6}, source="config.yaml")
    with pytest.raises(InputError, match="modality_dropout must be a number, got True"):
        TrainConfig.from_dict({"modality_dropout": True})


# ---------------------------------------------------------------- inside the trainer
class Recorder(nn.Module):
    """Predicts 0 and records, per forward, the mode and which rows had each stream."""

    def __init__(self, modalities: tuple[str, ...] | None = None):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.calls: list[tuple[bool, torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []
        if modalities is not None:
            self.modalities = modalities

    def forward(self, batch: dict[str, torch.Tensor]) -> Prediction:
        y = batch["y"]
        self.calls.append((self.training, batch["index"].clone(),
                           batch["ma"].clone() if "ma" in batch else None,
                           batch["mv"].clone() if "mv" in batch else None))
        return Prediction(mu=torch.zeros_like(y) + self.w, var=torch.ones_like(y) + self.w ** 2,
                          logits=torch.zeros(len(y), 5) + self.w)


def loss(pred, y, band):
    return ((pred.mu - y) ** 2).mean() + pred.var.mean()


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    return write_all(tmp_path_factory.mktemp("shards"), modalities=("video", "fusion"))


def fit(shard_root: Path, p: float, *, seed: int = 0, modality: str = "fusion",
        modalities: tuple[str, ...] | None = None, epochs: int = 3):
    train = ChunkDataset.from_shards(shard_root, modality, "train", purpose="train")
    dev = ChunkDataset.from_shards(shard_root, modality, "dev", purpose="train")
    cfg = TrainConfig.from_dict({"max_epochs": epochs, "patience": 10, "batch_size": 4, "device": "cpu",
                                 "seed": seed, "modality_dropout": p})
    model = Recorder(modalities)
    Trainer(model, loss, cfg, train, dev).fit()
    return model.calls, train, dev


def stacked(ds: ChunkDataset, index: torch.Tensor, key: str) -> torch.Tensor:
    return torch.stack([ds[int(i)][key] for i in index])


def test_trainer_hides_streams_in_training_only(shard_root):
    calls, train, dev = fit(shard_root, 0.4)
    n_hidden = {"audio": 0, "video": 0}
    n_train = 0
    for training, index, ma, mv in calls:
        full_a, full_v = stacked(train if training else dev, index, "ma"), stacked(train if training else dev,
                                                                                     index, "mv")
        if not training:  # dev evaluation: both streams, exactly as stored
            assert torch.equal(ma, full_a) and torch.equal(mv, full_v)
            continue
        ha, hv = ~ma.any(dim=1), ~mv.any(dim=1)
        assert not (ha & hv).any()
        assert torch.equal(ma[~ha], full_a[~ha]) and torch.equal(mv[~hv], full_v[~hv])
        n_hidden["audio"] += int(ha.sum())
        n_hidden["video"] += int(hv.sum())
        n_train += len(index)
    assert n_train == 3 * len(train)
    # 3 epochs x 45 chunks, p = 0.4 per stream: both streams are hidden somewhere, neither everywhere
    assert 0 < n_hidden["audio"] < n_train and 0 < n_hidden["video"] < n_train


def test_trainer_dropout_is_seeded_and_leaves_the_sampling_order(shard_root):
    a, _, _ = fit(shard_root, 0.4, seed=5)
    b, _, _ = fit(shard_root, 0.4, seed=5)
    off, _, _ = fit(shard_root, 0.0, seed=5)
    assert len(a) == len(b) == len(off)
    for (ta, ia, maa, mva), (tb, ib, mab, mvb), (_, io, _, _) in zip(a, b, off, strict=True):
        assert ta == tb and torch.equal(ia, ib) and torch.equal(maa, mab) and torch.equal(mva, mvb)
        assert torch.equal(ia, io)  # the chunk order does not depend on modality_dropout
    c, _, _ = fit(shard_root, 0.4, seed=6)
    assert any(not torch.equal(x[2], y[2]) for x, y in zip(a, c, strict=True) if x[0])


def test_zero_dropout_and_single_stream_models_see_the_stored_batches(shard_root):
    for p, modality, modalities in ((0.0, "fusion", None), (0.4, "video", None), (0.4, "fusion", ("video",))):
        calls, train, dev = fit(shard_root, p, modality=modality, modalities=modalities, epochs=1)
        for training, index, ma, mv in calls:
            ds = train if training else dev
            assert torch.equal(mv, stacked(ds, index, "mv"))
            if ma is not None:
                assert torch.equal(ma, stacked(ds, index, "ma"))
