"""Interviewer experts for real (paper eq. 10-15): each expert has its own encoders, is trained on its
own interviewer type's sessions (the AI-agent expert starting from the WoZ expert), and the mixture
starts from both trained experts, then learns the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_data import COHORT, write_all

from depsev.checkpoint import check_checkpoint_version, load_checkpoint
from depsev.errors import InputError
from depsev.models import FusionModel, ModelConfig, StreamMoEModel, build_model, count_parameters
from depsev.models.experts import PredictionHead, init_prediction_priors
from depsev.train.run import train_model

SMALL = {"hidden": 8, "expert_hidden": 8, "fusion_hidden": 8, "fusion_steps": 4, "audio_proj": 4}
FAST = {"batch_size": 8, "max_epochs": 2, "patience": 5, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    return write_all(tmp_path_factory.mktemp("shards"), modalities=("video", "fusion"))


def _state(d: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(d)[0].state_dict()


def test_each_expert_of_a_mixture_has_its_own_encoders():
    cfg = ModelConfig(**SMALL)
    for model in (build_model("fusion", "fusion", cfg), build_model("moe", "video", cfg)):
        a, b = model.experts
        names = [n for n, _ in a.named_parameters()]
        assert any(n.startswith(("encoder.", "encoders.")) for n in names)
        shared = {id(p) for p in a.parameters()} & {id(p) for p in b.parameters()}
        assert not shared  # no parameter is shared between the two experts
        assert count_parameters(model) == 2 * count_parameters(a) + count_parameters(model.gate)
    assert isinstance(build_model("fusion", "fusion", cfg), FusionModel)
    assert isinstance(build_model("moe", "audio", cfg), StreamMoEModel)


@pytest.mark.parametrize("modality,kind", [("fusion", "fusion"), ("video", "moe")])
def test_experts_trained_per_interviewer_then_mixture_learns_the_gate(shard_root, tmp_path, modality, kind):
    common = {"seed": 0, "model_cfg": SMALL, "train_cfg": FAST}
    woz_dir, ai_dir, mix_dir = tmp_path / "woz", tmp_path / "ai", tmp_path / "mix"
    train_model(shard_root, woz_dir, kind="expert", modality=modality, interviewer="woz", **common)
    train_model(shard_root, ai_dir, kind="expert", modality=modality, interviewer="ai", init_from=woz_dir,
                **common)
    cfg_woz = json.loads((woz_dir / "config.json").read_text())
    cfg_ai = json.loads((ai_dir / "config.json").read_text())
    # each expert saw only its own interviewer type's participants (train and, by default, dev)
    n_train = {who: sum((p >= 600) == (who == "ai") for p in COHORT["train"]) for who in ("woz", "ai")}
    assert cfg_woz["data"]["n_train_participants"] == n_train["woz"]
    assert cfg_ai["data"]["n_train_participants"] == n_train["ai"]
    assert set(pd.read_parquet(woz_dir / "dev_predictions.parquet")["interviewer"]) == {"woz"}
    assert set(pd.read_parquet(ai_dir / "dev_predictions.parquet")["interviewer"]) == {"ai"}
    assert cfg_woz["interviewer"] == "woz" and cfg_ai["interviewer"] == "ai"
    assert cfg_ai["init_from"] == str(woz_dir)
    # the AI-agent expert moved away from the WoZ weights it started from
    sw, sa = _state(woz_dir), _state(ai_dir)
    assert any(not torch.equal(sw[k], sa[k]) for k in sw)

    summary = train_model(shard_root, mix_dir, kind=kind, modality=modality,
                          init_experts={"woz": woz_dir, "ai": ai_dir}, **common)
    mix = _state(mix_dir)
    # both experts of the mixture hold their trained weights, encoders included (gate-only training)
    for i, expert_state in enumerate((sw, sa)):
        for k, v in expert_state.items():
            assert torch.equal(mix[f"experts.{i}.{k}"], v), (i, k)
    gate_params = {k for k in mix if k.startswith("gate.")}
    assert gate_params and summary["n_trained_parameters"] == sum(mix[k].numel() for k in gate_params)
    cfg_mix = json.loads((mix_dir / "config.json").read_text())
    assert cfg_mix["init_experts"] == {"woz": str(woz_dir), "ai": str(ai_dir)}
    assert cfg_mix["mixture_training"] == "gate"

    # "all": the experts are fine-tuned too
    all_dir = tmp_path / "all"
    train_model(shard_root, all_dir, kind=kind, modality=modality,
                init_experts={"woz": woz_dir, "ai": ai_dir}, seed=0, model_cfg=SMALL,
                train_cfg={**FAST, "mixture_training": "all"})
    moved = _state(all_dir)
    assert any(not torch.equal(moved[f"experts.0.{k}"], v) for k, v in sw.items())


def test_mixture_refuses_wrong_experts(shard_root, tmp_path):
    common = {"seed": 0, "model_cfg": SMALL, "train_cfg": FAST}
    woz_dir = tmp_path / "woz"
    train_model(shard_root, woz_dir, kind="expert", modality="video", interviewer="woz", **common)
    with pytest.raises(InputError, match="not a video expert for ai sessions"):
        train_model(shard_root, tmp_path / "m", kind="moe", modality="video",
                    init_experts={"woz": woz_dir, "ai": woz_dir}, **common)
    with pytest.raises(InputError, match="not a fusion expert"):
        train_model(shard_root, tmp_path / "f", kind="fusion", modality="fusion",
                    init_experts={"woz": woz_dir, "ai": woz_dir}, **common)
    with pytest.raises(InputError, match="shuffle_labels"):  # the control's stages never mix with real ones
        train_model(shard_root, tmp_path / "s", kind="expert", modality="video", interviewer="ai",
                    init_from=woz_dir, shuffle_labels=True, **common)
    with pytest.raises(ValueError, match="init_experts applies"):
        train_model(shard_root, tmp_path / "x", kind="lstm", modality="video",
                    init_experts={"woz": woz_dir, "ai": woz_dir}, **common)


def test_prediction_heads_start_at_the_training_prior():
    model = build_model("fusion", "fusion", ModelConfig(**SMALL), seed=0)
    n = init_prediction_priors(model, 7.0, 30.0, torch.tensor([4.0, 2.0, 1.0, 1.0, 0.0]))
    assert n == 2  # one per expert
    heads = [m for m in model.modules() if isinstance(m, PredictionHead)]
    for head in heads:
        for lin in (head.mu, head.var, head.logits):
            lin.weight.data.zero_()
    batch = {"xa": torch.randn(3, 5, 4096), "ma": torch.ones(3, 5, dtype=torch.bool),
             "xv": torch.randn(3, 12, 49), "mv": torch.ones(3, 12, dtype=torch.bool),
             "z": torch.tensor([0, 1, 0])}
    with torch.no_grad():
        pred = model.eval()(batch)
    torch.testing.assert_close(pred.mu, torch.full((3,), 7.0))
    torch.testing.assert_close(pred.var, torch.full((3,), 30.0))
    p = torch.softmax(pred.logits, -1)[0]
    assert p[0] == pytest.approx(0.5, abs=1e-3) and p[4] < 1e-3


def test_old_checkpoints_are_refused(tmp_path):
    with pytest.raises(InputError, match="schema version 1"):
        check_checkpoint_version({"features": {"schema_version": 1}}, tmp_path / "config.json")
    with pytest.raises(InputError, match="retrain"):
        check_checkpoint_version({}, tmp_path / "config.json")
