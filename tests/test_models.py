"""depsev.models: shapes, masking, MoE arithmetic, fusion gates, determinism, size, FLOPs, baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from depsev.constants import N_BANDS, PHQ_MAX
from depsev.errors import InputError
from depsev.models import (
    FusionModel,
    ModelConfig,
    batch_summary_features,
    build_model,
    chunk_summary_features,
    combine_experts,
    count_parameters,
    make_random_forest,
)
from depsev.models.encoders import masked_adaptive_pool
from depsev.train.losses import CombinedLoss

PAPER_PARAMS = 128_905
GRID = [("expert", "audio"), ("expert", "video"), ("expert", "fusion"), ("moe", "audio"), ("moe", "video"),
        ("fusion", "fusion"), ("lstm", "audio"), ("lstm", "video"), ("lstm", "fusion"),
        ("resnet", "audio"), ("resnet", "video"), ("resnet", "fusion")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_batch(b: int = 4, la: int = 6, lv: int = 20, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random batch with some masked steps inside and at the end of every row."""
    g = torch.Generator().manual_seed(seed)
    ma = torch.rand(b, la, generator=g) > 0.3
    mv = torch.rand(b, lv, generator=g) > 0.3
    ma[:, 0] = True
    mv[:, 0] = True
    ma[:, -1] = False
    mv[:, -2:] = False
    return {"xa": torch.randn(b, la, 4096, generator=g), "ma": ma,
            "xv": torch.randn(b, lv, 49, generator=g), "mv": mv,
            "z": torch.arange(b) % 2}


def eval_model(kind: str, modality: str, cfg: ModelConfig | None = None, seed: int = 0):
    return build_model(kind, modality, cfg or ModelConfig(), seed=seed).eval()


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind,modality", GRID)
def test_output_shapes_and_ranges(kind, modality):
    batch = make_batch()
    with torch.no_grad():
        pred = eval_model(kind, modality)(batch)
    assert pred.mu.shape == (4,) and pred.var.shape == (4,) and pred.logits.shape == (4, N_BANDS)
    assert bool(((pred.mu >= 0) & (pred.mu <= PHQ_MAX)).all())
    assert bool((pred.var >= ModelConfig().var_floor * 0.999).all())
    assert torch.isfinite(pred.logits).all()
    if kind in ("moe", "fusion"):
        assert pred.gate.shape == (4, 2)
        torch.testing.assert_close(pred.gate.sum(-1), torch.ones(4))
        # mixed band probabilities: the logits are log-probabilities already
        torch.testing.assert_close(pred.logits.exp().sum(-1), torch.ones(4))
    else:
        assert pred.gate is None
    if kind == "fusion":
        assert pred.alpha.shape == (4, 2) and bool(((pred.alpha > 0) & (pred.alpha < 1)).all())
    if modality == "fusion":
        assert pred.used.shape == (4, 2) and bool(pred.used.all())


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize("encoder_steps", [0, 4])
@pytest.mark.parametrize("kind,modality", GRID)
def test_masked_frame_values_do_not_change_output(kind, modality, encoder_steps):
    # encoder_steps 4 < La 6 < Lv 20: both encoders pool before their LSTM
    model = eval_model(kind, modality, ModelConfig(encoder_steps=encoder_steps))
    batch = make_batch()
    changed = dict(batch)
    for x, m in (("xa", "ma"), ("xv", "mv")):
        noise = torch.randn_like(batch[x]) * 1e3
        noise[..., 0] = float("nan")  # even NaN / inf in masked frames must not leak
        noise[..., 1] = float("inf")
        changed[x] = torch.where(batch[m].unsqueeze(-1), batch[x], noise)
    with torch.no_grad():
        a, b = model(batch), model(changed)
    for name in ("mu", "var", "logits", "gate", "alpha"):
        va, vb = getattr(a, name), getattr(b, name)
        assert (va is None) == (vb is None)
        if va is not None:
            assert torch.equal(va, vb), name
    # and the real frames DO matter (the test can fail)
    other = dict(batch)
    key = "xa" if modality == "audio" else "xv"
    other[key] = batch[key] + 1.0
    with torch.no_grad():
        assert not torch.equal(model(other).mu, a.mu)


@pytest.mark.parametrize("encoder_steps", [0, 4])
@pytest.mark.parametrize("kind,modality", GRID)
def test_all_masked_rows_give_finite_output(kind, modality, encoder_steps):
    batch = make_batch()
    batch["ma"][1] = False
    batch["mv"][1] = False
    batch["ma"][2] = False  # row 2: audio missing only
    with torch.no_grad():
        pred = eval_model(kind, modality, ModelConfig(encoder_steps=encoder_steps))(batch)
    for t in (pred.mu, pred.var, pred.logits):
        assert torch.isfinite(t).all()
    if modality == "fusion":
        assert pred.used[1].tolist() == [False, False]
        assert pred.used[2].tolist() == [False, True]
        assert pred.used[0].tolist() == [True, True]
    if kind == "fusion":
        assert pred.alpha[1].tolist() == [0.0, 0.0]
        assert pred.alpha[2, 0].item() == 0.0 and pred.alpha[2, 1].item() > 0


def test_fusion_missing_modality_equals_masked_out_modality():
    cfg = ModelConfig()
    model = eval_model("fusion", "fusion", cfg)
    batch = make_batch()
    no_audio = {k: v for k, v in batch.items() if k not in ("xa", "ma")}
    masked_audio = dict(batch, ma=torch.zeros_like(batch["ma"]))
    with torch.no_grad():
        a, b = model(no_audio), model(masked_audio)
        full = model(batch)
    torch.testing.assert_close(a.mu, b.mu)
    assert a.used[:, 0].sum() == 0 and a.alpha[:, 0].abs().sum() == 0
    assert not torch.allclose(a.mu, full.mu)
    # a model built for video only: same weights for the parts it has, same prediction
    video_only = FusionModel(cfg, modalities=("video",)).eval()
    video_only.load_state_dict(
        {k: v for k, v in model.state_dict().items()
         if ".encoders.audio" not in k and ".gates.audio" not in k})
    with torch.no_grad():
        torch.testing.assert_close(video_only(batch).mu, a.mu)


def test_masked_adaptive_pool_is_masked_mean_per_bin():
    h = torch.arange(8, dtype=torch.float32).view(1, 8, 1)
    m = torch.tensor([[True, False, True, True, False, False, True, True]])
    pooled, pm = masked_adaptive_pool(h, m, 4)
    # bins of 2 steps: [0, 1] -> 0 (1 masked); [2, 3] -> 2.5; [4, 5] -> empty -> 0 masked; [6, 7] -> 6.5
    assert pooled.flatten().tolist() == [0.0, 2.5, 0.0, 6.5]
    assert pm.flatten().tolist() == [True, True, False, True]


# ---------------------------------------------------------------- mixture of experts arithmetic
def _two_experts():
    gate = torch.tensor([[0.25, 0.75]])
    mus = torch.tensor([[4.0, 12.0]])
    variances = torch.tensor([[1.0, 9.0]])  # sigma = 1, 3
    p1 = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1])
    p2 = torch.tensor([0.1, 0.1, 0.1, 0.3, 0.4])
    logits = torch.stack([p1.log() + 2.0, p2.log() - 1.0]).unsqueeze(0)  # shifts do not matter
    return gate, mus, variances, logits


def test_moe_mixture_and_paper_variance_hand_computed():
    gate, mus, variances, logits = _two_experts()
    # mu = 0.25*4 + 0.75*12 = 1 + 9 = 10
    # mixture: 0.25*(1 + 16) + 0.75*(9 + 144) - 10**2 = 4.25 + 114.75 - 100 = 19
    mix = combine_experts(gate, mus, variances, logits, "mixture")
    assert mix.mu.item() == pytest.approx(10.0)
    assert mix.var.item() == pytest.approx(19.0)
    torch.testing.assert_close(mix.gate, gate)
    # paper eq. 15: sigma = 0.25*1 + 0.75*3 = 2.5 -> var = 6.25
    paper = combine_experts(gate, mus, variances, logits, "paper")
    assert paper.mu.item() == pytest.approx(10.0)
    assert paper.var.item() == pytest.approx(6.25)
    # bands: p = 0.25*p1 + 0.75*p2 = [0.175, 0.15, 0.1, 0.25, 0.325]
    expected = torch.tensor([[0.175, 0.15, 0.1, 0.25, 0.325]])
    torch.testing.assert_close(mix.logits.exp(), expected)
    torch.testing.assert_close(torch.softmax(mix.logits, -1), expected)


def test_precision_weighting_hand_computed():
    gate, mus, variances, logits = _two_experts()
    # g/var = [0.25/1, 0.75/9] = [0.25, 0.0833] -> renormalised [0.75, 0.25]
    # mu = 0.75*4 + 0.25*12 = 6; mixture var = 0.75*17 + 0.25*153 - 36 = 12.75 + 38.25 - 36 = 15
    # paper: sigma = 0.75*1 + 0.25*3 = 1.5 -> 2.25
    mix = combine_experts(gate, mus, variances, logits, "mixture", precision_weighting=True)
    torch.testing.assert_close(mix.gate, torch.tensor([[0.75, 0.25]]))
    assert mix.mu.item() == pytest.approx(6.0)
    assert mix.var.item() == pytest.approx(15.0)
    paper = combine_experts(gate, mus, variances, logits, "paper", precision_weighting=True)
    assert paper.var.item() == pytest.approx(2.25)


def test_precision_weighting_moves_weight_to_confident_expert():
    g = torch.Generator().manual_seed(1)
    gate = torch.softmax(torch.randn(64, 2, generator=g), -1)
    variances = torch.rand(64, 2, generator=g) * 10 + 0.1
    mus = torch.rand(64, 2, generator=g) * 24
    logits = torch.randn(64, 2, N_BANDS, generator=g)
    plain = combine_experts(gate, mus, variances, logits)
    weighted = combine_experts(gate, mus, variances, logits, precision_weighting=True)
    confident = variances.argmin(-1, keepdim=True)
    assert bool((weighted.gate.gather(1, confident) > plain.gate.gather(1, confident)).all())
    torch.testing.assert_close(weighted.gate.sum(-1), torch.ones(64))
    # with equal variances precision weighting changes nothing
    same = combine_experts(gate, mus, torch.ones(64, 2), logits, precision_weighting=True)
    torch.testing.assert_close(same.gate, gate)


def test_moe_model_uses_interviewer_flag_and_precision_option():
    batch = make_batch()
    model = eval_model("moe", "video")
    flipped = dict(batch, z=1 - batch["z"])
    with torch.no_grad():
        assert not torch.allclose(model(batch).gate, model(flipped).gate)
    cfg = ModelConfig(precision_weighting=True)
    pw = eval_model("moe", "video", cfg)
    pw.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(pw(batch).gate, model(batch).gate)


# ---------------------------------------------------------------- training sanity
def test_fusion_model_overfits_one_small_batch():
    # dropout off (it is a regulariser, the point here is capacity); fewer fusion steps for speed
    cfg = ModelConfig(dropout=0.0, fusion_steps=10)
    model = build_model("fusion", "fusion", cfg, seed=0).train()
    batch = make_batch(b=6, la=8, lv=24, seed=3)
    score = torch.tensor([2.0, 7.0, 11.0, 16.0, 22.0, 9.0])
    loss_fn = CombinedLoss(1.0, 1.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        opt.zero_grad()
        pred = model(batch)
        parts = loss_fn(pred, score)
        parts.total.backward()
        opt.step()
        if first is None:
            first = (parts.focal.item(), (pred.mu - score).abs().mean().item(), parts.nll.item())
    with torch.no_grad():
        pred = model.eval()(batch)
        parts = loss_fn(pred, score)
    focal, mae, nll = parts.focal.item(), (pred.mu - score).abs().mean().item(), parts.nll.item()
    print(f"\noverfit: focal {first[0]:.3f} -> {focal:.4f}, MAE {first[1]:.2f} -> {mae:.3f}, "
          f"NLL {first[2]:.3f} -> {nll:.3f}")
    assert focal < 0.1 * first[0]
    assert mae < 0.1 * first[1]
    assert nll < first[2] - 1.0  # the Gaussian NLL can go negative; it must fall clearly


def test_same_seed_same_weights_and_outputs():
    batch = make_batch()
    a, b = eval_model("fusion", "fusion", seed=5), eval_model("fusion", "fusion", seed=5)
    c = eval_model("fusion", "fusion", seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    with torch.no_grad():
        assert torch.equal(a(batch).mu, b(batch).mu)
        assert torch.equal(a(batch).logits, b(batch).logits)
    # seeding inside build_model leaves the global RNG alone
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("moe", "audio", seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_fusion_parameter_count_below_paper():
    model = build_model("fusion", "fusion", ModelConfig())
    n = count_parameters(model)
    print(f"\nfusion model parameters: {n:,} (paper: {PAPER_PARAMS:,}; {n / PAPER_PARAMS:.1%})")
    assert n < PAPER_PARAMS
    assert n == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("la,lv", [(300, 5000), (30, 900)])
def test_analytic_flops_agree_with_ptflops(la, lv):
    pytest.importorskip("ptflops")
    from depsev.models.flops import PTFLOPS_TOLERANCE, fusion_flops, ptflops_macs

    cfg = ModelConfig()
    report = fusion_flops(cfg, la, lv)
    counted = ptflops_macs(build_model("fusion", "fusion", cfg, seed=0), cfg, la, lv)
    rel = abs(report.macs - counted) / counted
    print(f"\nLa={la} Lv={lv}: analytic {report.macs:,} MACs = {report.flops / 1e9:.4f} GFLOPs "
          f"(2 MACs + {report.elementwise:,} elementwise); ptflops {counted:,} MACs; diff {rel:.2%}")
    assert rel < PTFLOPS_TOLERANCE
    assert report.flops == 2 * report.macs + report.elementwise
    # each of the two experts' video LSTMs runs over min(Lv, encoder_steps) pooled steps:
    # 4 h (49 + h + 1) MACs per step
    assert report.components["video_lstm"][0] == 2 * min(lv, cfg.encoder_steps) * 4 * 32 * (49 + 32 + 1)
    # without pooling it runs over every frame and dominates at the paper's chunk sizes
    full = fusion_flops(ModelConfig(encoder_steps=0), la, lv)
    assert full.components["video_lstm"][0] == 2 * lv * 4 * 32 * (49 + 32 + 1)
    assert full.macs > report.macs
    counted0 = ptflops_macs(build_model("fusion", "fusion", ModelConfig(encoder_steps=0), seed=0),
                            ModelConfig(encoder_steps=0), la, lv)
    assert abs(full.macs - counted0) / counted0 < PTFLOPS_TOLERANCE


def test_encoder_pools_to_encoder_steps_before_its_lstm():
    from depsev.models.encoders import make_encoder

    torch.manual_seed(0)
    batch = make_batch(b=3, la=6, lv=20)
    x, m = batch["xv"], batch["mv"]
    pooled_enc = make_encoder("video", ModelConfig(encoder_steps=5, dropout=0.0)).eval()
    plain_enc = make_encoder("video", ModelConfig(encoder_steps=0, dropout=0.0)).eval()
    plain_enc.load_state_dict(pooled_enc.state_dict())  # same weights: pooling adds no parameters
    with torch.no_grad():
        h, hm = pooled_enc(x, m)
        px, pm = masked_adaptive_pool(torch.where(m.unsqueeze(-1), x, 0.0), m, 5)
        expected, _ = plain_enc(px, pm)  # the LSTM run over the 5 pooled steps
        assert h.shape == (3, 5, 32) and hm.shape == (3, 5)
        torch.testing.assert_close(h, expected)
        assert torch.equal(hm, pm)
        # a chunk no longer than encoder_steps is not pooled: same as running over every frame
        longer = make_encoder("video", ModelConfig(encoder_steps=50, dropout=0.0)).eval()
        longer.load_state_dict(pooled_enc.state_dict())
        h50, m50 = longer(x, m)
        h0, m0 = plain_enc(x, m)
        assert torch.equal(h50, h0) and torch.equal(m50, m) and h0.shape[1] == 20


# ---------------------------------------------------------------- config and errors
def test_model_config_round_trip_and_validation():
    cfg = ModelConfig.from_dict({"hidden": 16, "dropout": 0, "moe_variance": "paper"})
    assert cfg.hidden == 16 and cfg.dropout == 0.0 and isinstance(cfg.dropout, float)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict(None) == ModelConfig()
    with pytest.raises(InputError, match=r"config.yaml: .*unknown key\(s\) \['hiden'\]"):
        ModelConfig.from_dict({"hiden": 16}, source="config.yaml")
    with pytest.raises(InputError, match="model config: hidden must be an integer, got 16.5"):
        ModelConfig.from_dict({"hidden": 16.5})
    with pytest.raises(InputError, match="hidden must be an integer, got True"):  # a bool is no number
        ModelConfig.from_dict({"hidden": True})
    with pytest.raises(InputError, match="dropout must be a number, got '0.5'"):
        ModelConfig.from_dict({"dropout": "0.5"})
    with pytest.raises(InputError, match="precision_weighting must be true or false, got 1"):
        ModelConfig.from_dict({"precision_weighting": 1})
    with pytest.raises(InputError, match="moe_variance must be a string"):
        ModelConfig.from_dict({"moe_variance": 2})
    with pytest.raises(InputError, match="moe_variance must be one of"):
        ModelConfig.from_dict({"moe_variance": "max"})
    with pytest.raises(InputError, match="dropout must be in"):
        ModelConfig(dropout=1.0)


def test_build_model_and_batch_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        build_model("transformer", "audio")
    with pytest.raises(ValueError, match="modality must be one of"):
        build_model("lstm", "text")
    with pytest.raises(ValueError, match="one stream"):
        build_model("moe", "fusion")
    with pytest.raises(ValueError, match="needs modality 'fusion'"):
        build_model("fusion", "video")
    assert isinstance(build_model("lstm", "both"), torch.nn.Module)
    model = eval_model("moe", "audio")
    batch = make_batch()
    with pytest.raises(InputError, match=r"batch\['xa'\] must be \[B, L, 4096\]"):
        model(dict(batch, xa=batch["xa"][..., :128]))
    with pytest.raises(InputError, match="must be bool"):
        model(dict(batch, ma=batch["ma"].float()))
    with pytest.raises(InputError, match="0 \\(woz\\) or 1 \\(ai\\)"):
        model(dict(batch, z=torch.full((4,), 2)))
    with pytest.raises(InputError, match="no 'xv'"):
        eval_model("lstm", "video")({"xa": batch["xa"], "ma": batch["ma"]})


# ---------------------------------------------------------------- random forest features
def test_chunk_summary_features_by_hand():
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [99.0, -99.0]],
                      [[5.0, 5.0], [7.0, 7.0], [0.0, 0.0]]])
    m = torch.tensor([[True, True, False], [False, False, False]])
    f = chunk_summary_features(x, m)
    # row 0, real frames (1, 10) and (3, 30): mean 2, 20; std 1, 10; min 1, 10; max 3, 30; share 2/3
    np.testing.assert_allclose(f[0], [2, 20, 1, 10, 1, 10, 3, 30, 2 / 3])
    # row 1: no real frame -> zeros and share 0 (kept, not dropped)
    np.testing.assert_allclose(f[1], np.zeros(9))


def test_audio_summary_features_are_reduced_deterministically_and_forest_fits():
    cfg = ModelConfig(rf_audio_dims=8)
    batch = make_batch(b=12)
    f1 = batch_summary_features(batch, ("audio", "video"), cfg)
    f2 = batch_summary_features(batch, ("audio", "video"), cfg)
    assert f1.shape == (12, 4 * 8 + 1 + 4 * 49 + 1)
    assert np.array_equal(f1, f2) and np.isfinite(f1).all()
    other_seed = batch_summary_features(batch, ("audio",), cfg, seed=1)
    assert not np.array_equal(f1[:, :33], other_seed)
    rf = make_random_forest(seed=0, n_trees=10)
    score = np.linspace(0, 24, 12)
    rf.fit(f1, score)
    pred = rf.predict(f1)
    assert pred.shape == (12,) and math.isfinite(float(pred.sum()))
    assert rf.get_params()["random_state"] == 0
