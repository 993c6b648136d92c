"""The trainer, checkpoints and the training entry point (depsev.train)."""

from __future__ import annotations

import builtins
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from test_data import COHORT, PREPARATION, write_all, write_shards
from torch import nn

from depsev.checkpoint import load_checkpoint
from depsev.data import ChunkDataset
from depsev.errors import InputError
from depsev.evaluate.predictions import predict_split
from depsev.models import ModelConfig, Prediction, build_model
from depsev.shards.preparation import merge_splits
from depsev.train.config import TrainConfig
from depsev.train.run import train_model
from depsev.train.trainer import Trainer, participant_table

SMALL = {"hidden": 8, "expert_hidden": 8, "fusion_hidden": 8, "fusion_steps": 4, "audio_proj": 4,
         "rf_trees": 20, "rf_audio_dims": 4}
FAST = {"batch_size": 8, "max_epochs": 2, "patience": 5}


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    return write_all(tmp_path_factory.mktemp("shards"), modalities=("video", "fusion"))


# ---------------------------------------------------------------- config
def test_train_config_merge_and_validation():
    base = TrainConfig.from_dict({"lr": 0.01, "betas": [0.8, 0.99], "max_epochs": 7})
    cfg = TrainConfig.from_dict({"max_epochs": 3}, "overlay", base=base)
    assert cfg.lr == 0.01 and cfg.betas == (0.8, 0.99) and cfg.max_epochs == 3 and cfg.seed == 0
    assert cfg.weight_decay == 1e-4 and cfg.focal_gamma == 2.0 and cfg.balanced_sampling is False
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    json.dumps(cfg.to_dict())
    with pytest.raises(InputError, match=r"unknown key\(s\) \['learning_rate'\]"):
        TrainConfig.from_dict({"learning_rate": 1e-3}, source="config.yaml")
    with pytest.raises(InputError, match="batch_size must be an integer"):
        TrainConfig.from_dict({"batch_size": 2.5})
    with pytest.raises(InputError, match=r"command line: train config: betas must be a list of 2 numbers"):
        TrainConfig.from_dict({"betas": [0.9]}, "command line")
    with pytest.raises(InputError, match="betas must be a list of 2 numbers, got \\[0.9, True\\]"):
        TrainConfig.from_dict({"betas": [0.9, True]})
    assert TrainConfig.from_dict({"betas": (0, 1e-3)}).betas == (0.0, 0.001)
    with pytest.raises(InputError, match="balanced_sampling must be true or false, got 'yes'"):
        TrainConfig.from_dict({"balanced_sampling": "yes"})
    with pytest.raises(InputError, match=r"cfg.yaml: train config: lr must be > 0"):
        TrainConfig.from_dict({"lr": 0}, source="cfg.yaml")  # the range check names the source too
    # a base config is kept where the dict says nothing
    assert TrainConfig.from_dict({"seed": 2}, base=TrainConfig(lr=0.5)) == TrainConfig(lr=0.5, seed=2)
    with pytest.raises(InputError, match="patience must be >= 1"):
        TrainConfig.from_dict({"patience": 0})
    with pytest.raises(InputError, match="device"):
        TrainConfig.from_dict({"device": "tpu"})
    assert TrainConfig(device="cpu").resolved_device() == torch.device("cpu")


# ---------------------------------------------------------------- determinism
def _fit(shard_root: Path, seed: int) -> dict[str, torch.Tensor]:
    train = ChunkDataset.from_shards(shard_root, "fusion", "train", purpose="train")
    dev = ChunkDataset.from_shards(shard_root, "fusion", "dev", purpose="train")
    mcfg = ModelConfig.from_dict({**SMALL, "audio_dim": 8})
    model = build_model("fusion", "fusion", mcfg, seed=seed)
    from depsev.train.run import make_loss

    tcfg = TrainConfig.from_dict({**FAST, "batch_size": 16, "seed": seed, "device": "cpu"})
    res = Trainer(model, make_loss(tcfg, train), tcfg, train, dev).fit()
    assert res.epochs_run == 2
    return res.model.state_dict()


def test_same_seed_gives_identical_weights(shard_root, caplog):
    before = torch.are_deterministic_algorithms_enabled()
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        a = _fit(shard_root, seed=3)
    # progress: one line per epoch (of at most FAST's max_epochs) and the final 100% line
    lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
    assert len(lines) == 3 and "\r" not in "".join(lines)
    assert lines[0].startswith(f"train 1/{FAST['max_epochs']} epochs (") and "dev participant MAE" in lines[0]
    assert lines[2].startswith("train 2/2 epochs (100%), ") and "best epoch" in lines[2]
    b = _fit(shard_root, seed=3)
    assert torch.are_deterministic_algorithms_enabled() == before  # global setting restored
    assert list(a) == list(b)
    for k in a:
        assert a[k].numpy().tobytes() == b[k].numpy().tobytes(), k
    c = _fit(shard_root, seed=4)
    assert any(not torch.equal(a[k], c[k]) for k in a)


# ---------------------------------------------------------------- checkpoint files
def test_checkpoint_files_and_resolved_config(shard_root, tmp_path):
    out = tmp_path / "ckpt"
    summary = train_model(shard_root, out, kind="moe", modality="video", seed=1, model_cfg=SMALL,
                          train_cfg={**FAST, "max_epochs": 3, "device": "cpu"})
    for name in ("model.pt", "config.json", "curves.csv", "dev_predictions.parquet"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "moe" and cfg["modality"] == "video" and cfg["interviewer"] is None
    assert cfg["seed"] == 1 and cfg["train"]["seed"] == 1 and cfg["train"]["max_epochs"] == 3
    assert cfg["model"] == ModelConfig.from_dict({**SMALL, "video_dim": 49}).to_dict()
    assert cfg["synthetic"] is True and cfg["dataset_kind"] == "demo"
    # the shards' feature preparation, recorded once (train + dev sessions counted)
    prep = cfg["features"]["preparation"]
    assert prep["vggish_weights_mode"] == "random" and prep["confidence_threshold"] == 0.75
    assert prep["min_coverage"] == 0.5 and prep["sessions"] == len(COHORT["train"]) + len(COHORT["dev"])
    assert "weights" not in cfg["features"]
    assert cfg["features"]["streams"]["video"]["normalization"]["sha256"] == "ab" * 32
    assert [d["dir"] for d in cfg["data"]["fingerprint"]["dirs"]] == ["video/train", "video/dev"]
    assert cfg["result"] == json.loads(json.dumps(summary))
    curves = pd.read_csv(out / "curves.csv")
    assert curves["epoch"].tolist() == [1, 2, 3]
    assert {"train_loss", "dev_loss", "dev_participant_mae", "dev_participant_rmse"} <= set(curves.columns)
    assert summary["best_epoch"] == int(curves["dev_participant_mae"].idxmin()) + 1
    dev = pd.read_parquet(out / "dev_predictions.parquet")
    assert set(dev["participant_id"]) == set(COHORT["dev"]) and len(dev) == 3 * len(COHORT["dev"])
    people = participant_table(dev)
    mae = np.mean(np.abs(people["mu"] - people["phq_score"]))
    assert mae == pytest.approx(summary["dev_participant_mae"])
    assert summary["dev_participant_mae"] == pytest.approx(curves["dev_participant_mae"].min())
    train_mean = np.mean(list(COHORT["train"].values()))
    assert summary["train_mean"] == pytest.approx(train_mean)
    assert summary["train_mean_dev_mae"] == pytest.approx(
        np.mean([abs(s - train_mean) for s in COHORT["dev"].values()]))
    # the checkpoint reloads into the chosen epoch's model
    model, cfg2 = load_checkpoint(out)
    assert cfg2 == cfg
    ds = ChunkDataset.from_shards(shard_root, "video", "dev", purpose="train")
    with torch.no_grad():
        mu = model(_batch(ds)).mu.numpy()
    np.testing.assert_allclose(mu, dev["mu"].to_numpy(), rtol=1e-5)


def _batch(ds: ChunkDataset) -> dict[str, torch.Tensor]:
    items = [ds[i] for i in range(len(ds))]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_random_forest_baseline(shard_root, tmp_path):
    out = tmp_path / "rf"
    summary = train_model(shard_root, out, kind="rf", modality="fusion", seed=0, model_cfg=SMALL,
                          train_cfg={"device": "cpu"})
    assert (out / "model.skops").is_file() and (out / "dev_predictions.parquet").is_file()
    forest, cfg = load_checkpoint(out)
    assert cfg["kind"] == "rf" and cfg["model"]["audio_dim"] == 8 and len(forest.estimators_) == 20
    dev = pd.read_parquet(out / "dev_predictions.parquet")
    probs = dev[[f"p_band_{k}" for k in range(5)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (dev["var"] > 0).all()
    # the planted effect (features shift with the score) is easy: the forest beats the mean
    assert summary["dev_participant_mae"] < summary["train_mean_dev_mae"]
    # evaluation refuses shards prepared otherwise than the training data (session counts aside)
    assert len(predict_split(out, shard_root / "fusion" / "test")) > 0
    other = write_shards(tmp_path / "other", "fusion", "test",
                         preparation={**PREPARATION, "vggish_weights_mode": "pretrained"})
    with pytest.raises(InputError, match="features do not match the model: preparation"):
        predict_split(out, other)


def test_training_takes_the_preparation_from_the_shards_only(tmp_path):
    """The preparation comes from the train and dev shards; shards that disagree, or carry none, are
    refused before any training."""
    root = tmp_path / "shards"
    write_shards(root, "video", "train")
    write_shards(root, "video", "dev", preparation={**PREPARATION, "confidence_threshold": 0.5})
    with pytest.raises(InputError, match=r"disagree on the feature preparation: confidence_threshold is "
                                         r"0\.75 in the train shards \(video\) but 0\.5 in the dev"):
        train_model(root, tmp_path / "ckpt", kind="expert", modality="video", interviewer="woz", seed=0,
                    model_cfg=SMALL, train_cfg={**FAST, "device": "cpu"})
    assert not (tmp_path / "ckpt").exists()
    with pytest.raises(InputError, match="video/train shards carry no feature 'preparation'"):
        merge_splits({"train": {"modality": "video"}, "dev": {"modality": "video", "preparation": {}}})


# ---------------------------------------------------------------- the test split is never read
def test_training_works_without_the_test_split(shard_root, tmp_path):
    root = tmp_path / "shards"
    shutil.copytree(shard_root / "video", root / "video")
    shutil.rmtree(root / "video" / "test")
    summary = train_model(root, tmp_path / "ckpt", kind="expert", modality="video", interviewer="woz", seed=0,
                          model_cfg=SMALL, train_cfg={**FAST, "device": "cpu"})
    assert summary["epochs_run"] == 2 and summary["interviewer"] == "woz"
    dev = pd.read_parquet(tmp_path / "ckpt" / "dev_predictions.parquet")
    assert set(dev["interviewer"]) == {"woz"}


def test_training_never_opens_a_test_path(shard_root, tmp_path, monkeypatch):
    touched: list[str] = []

    def recorder(fn):
        def wrapped(*args, **kwargs):
            path = args[0] if args else kwargs.get("path", kwargs.get("file", "."))
            if isinstance(path, (str, os.PathLike)):
                touched.append(os.path.abspath(os.fspath(path)))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(builtins, "open", recorder(builtins.open))
    for name in ("read_table", "read_schema", "read_metadata", "ParquetFile", "ParquetDataset"):
        monkeypatch.setattr(pq, name, recorder(getattr(pq, name)))
    monkeypatch.setattr(os, "scandir", recorder(os.scandir))
    monkeypatch.setattr(os, "listdir", recorder(os.listdir))
    monkeypatch.setattr(os, "stat", recorder(os.stat))
    train_model(shard_root, tmp_path / "ckpt", kind="lstm", modality="fusion", seed=0, model_cfg=SMALL,
                train_cfg={**FAST, "max_epochs": 1, "device": "cpu"})
    monkeypatch.undo()
    shard_paths = [p for p in touched if str(shard_root) in p]
    assert any(Path(p).parent.name == "train" for p in shard_paths)  # the recorder does see reads
    assert any(Path(p).parent.name == "dev" for p in shard_paths)
    assert not [p for p in touched if "test" in Path(p).parts], touched


# ---------------------------------------------------------------- early stopping
class ScriptedModel(nn.Module):
    """Predicts ``y + offset`` where ``offset`` follows a script, one value per training epoch."""

    def __init__(self, offsets: list[float]):
        super().__init__()
        self.offsets = offsets
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("offset", torch.zeros(()))
        self.epoch = 0

    def train(self, mode: bool = True) -> ScriptedModel:
        if mode:
            self.offset.fill_(self.offsets[self.epoch])
            self.epoch += 1
        return super().train(mode)

    def forward(self, batch: dict[str, torch.Tensor]) -> Prediction:
        y = batch["y"]
        mu = y + self.offset + 0 * self.w
        return Prediction(mu=mu, var=torch.ones_like(y) + self.w ** 2,
                          logits=torch.zeros(len(y), 5) + self.w)


def test_early_stopping_picks_the_best_dev_epoch(shard_root):
    train = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train")
    dev = ChunkDataset.from_shards(shard_root, "video", "dev", purpose="train")
    offsets = [5.0, 3.0, 4.0, -2.0, 2.5, 6.0, 7.0, 1.0, 0.5, 9.0]
    model = ScriptedModel(offsets)

    def loss(pred, y, band):
        return ((pred.mu - y) ** 2).mean() + pred.var.mean()

    cfg = TrainConfig.from_dict({"max_epochs": 10, "patience": 3, "batch_size": 8, "device": "cpu"})
    res = Trainer(model, loss, cfg, train, dev).fit()
    # dev MAE per epoch is |offset|: best is epoch 4 (|-2|); epochs 5-7 are worse -> stop after 7
    np.testing.assert_allclose(res.curves["dev_participant_mae"], np.abs(offsets[:7]), rtol=1e-6)
    assert res.best_epoch == 4 and res.epochs_run == 7 and res.stopped_early
    assert res.best_dev_mae == pytest.approx(2.0)
    assert float(res.model.offset) == -2.0  # the chosen epoch's state is restored
    np.testing.assert_allclose(res.dev_chunks["mu"] - res.dev_chunks["phq_score"], -2.0, rtol=1e-6)
