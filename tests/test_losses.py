"""depsev.train.losses: focal loss, class weights, score NLL, combined loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from depsev.constants import phq_band
from depsev.models import Prediction
from depsev.train.losses import (
    CombinedLoss,
    FocalLoss,
    ScoreNLL,
    band_of_score,
    focal_alpha_from_counts,
)

LOGITS = torch.tensor([[2.0, 0.5, 0.0, -1.0, -2.0],
                       [0.0, 0.0, 0.0, 0.0, 0.0],
                       [-1.0, 0.0, 1.0, 3.0, 0.5]])
TARGET = torch.tensor([0, 3, 1])
ALPHA = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])


def _focal_by_formula(gamma: float) -> float:
    total = 0.0
    for row, t in zip(LOGITS.tolist(), TARGET.tolist(), strict=True):
        p_t = math.exp(row[t]) / sum(math.exp(v) for v in row)
        total += -ALPHA[t].item() * (1 - p_t) ** gamma * math.log(p_t)
    return total / len(TARGET)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_loss_matches_formula(gamma):
    loss = FocalLoss(ALPHA, gamma)(LOGITS, TARGET)
    assert loss.item() == pytest.approx(_focal_by_formula(gamma), rel=1e-6)


def test_focal_loss_row_with_uniform_logits_by_hand():
    # one row, uniform logits over 5 bands: p_t = 0.2; gamma 2: -(0.8**2) * log(0.2) * alpha
    loss = FocalLoss(ALPHA, 2.0)(torch.zeros(1, 5), torch.tensor([3]))
    assert loss.item() == pytest.approx(-1.5 * 0.64 * math.log(0.2), rel=1e-6)


def test_focal_gamma_zero_is_alpha_weighted_cross_entropy():
    per_row = F.cross_entropy(LOGITS, TARGET, weight=ALPHA, reduction="none")
    assert FocalLoss(ALPHA, 0.0)(LOGITS, TARGET).item() == pytest.approx(per_row.mean().item(), rel=1e-6)
    # and without alpha, plain cross-entropy
    assert FocalLoss(None, 0.0)(LOGITS, TARGET).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET).item(), rel=1e-6)


def test_focal_down_weights_easy_examples():
    easy = torch.tensor([[8.0, 0, 0, 0, 0]])
    hard = torch.tensor([[0.0, 0, 0, 0, 0]])
    t = torch.tensor([0])
    ce, fl = FocalLoss(None, 0.0), FocalLoss(None, 2.0)
    assert fl(easy, t) / ce(easy, t) < 0.01 < fl(hard, t) / ce(hard, t)


def test_focal_alpha_from_counts():
    # inverse counts [1/10, 1/5, 1/5, 1/2], absent band -> rarest present 1/2; mean 1.5/5 = 0.3
    w = focal_alpha_from_counts([10, 5, 5, 2, 0])
    torch.testing.assert_close(w, torch.tensor([1 / 3, 2 / 3, 2 / 3, 5 / 3, 5 / 3]))
    assert w.mean().item() == pytest.approx(1.0)
    torch.testing.assert_close(focal_alpha_from_counts([4, 4, 4, 4, 4]), torch.ones(5))
    with pytest.raises(ValueError, match="not all 0"):
        focal_alpha_from_counts([0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        focal_alpha_from_counts([1, -1, 1, 1, 1])
    with pytest.raises(ValueError, match="need 5"):
        focal_alpha_from_counts([1, 2, 3])
    with pytest.raises(ValueError, match="alpha must be"):
        FocalLoss(torch.ones(4))


def test_score_nll_on_unit_scale_by_hand():
    mu = torch.tensor([12.0, 6.0])
    var = torch.tensor([5.76, 57.6])  # on the 0..1 scale: 0.01 and 0.1
    score = torch.tensor([14.4, 6.0])  # 0.6 and 0.25 ; mu 0.5 and 0.25
    # row 0: 0.5 * (log 0.01 + 0.1**2 / 0.01) = 0.5 * (-4.60517 + 1); row 1: 0.5 * log 0.1
    expected = (0.5 * (math.log(0.01) + 1.0) + 0.5 * math.log(0.1)) / 2
    assert ScoreNLL()(mu, var, score).item() == pytest.approx(expected, rel=1e-5)


def test_band_of_score_matches_phq_band():
    scores = torch.arange(0, 25, dtype=torch.float32)
    assert band_of_score(scores).tolist() == [phq_band(s) for s in range(25)]


def test_combined_loss_weights_parts_and_backpropagates():
    logits = LOGITS.clone().requires_grad_(True)
    mu = torch.tensor([3.0, 17.0, 8.0], requires_grad=True)
    var = torch.tensor([4.0, 9.0, 1.0], requires_grad=True)
    score = torch.tensor([2.0, 18.0, 7.0])  # bands 0, 3, 1 == TARGET
    pred = Prediction(mu=mu, var=var, logits=logits)
    parts = CombinedLoss(0.3, 2.0, alpha=ALPHA)(pred, score)
    assert parts.focal.item() == pytest.approx(_focal_by_formula(2.0), rel=1e-6)
    assert parts.nll.item() == pytest.approx(ScoreNLL()(mu, var, score).item())
    assert parts.total.item() == pytest.approx(0.3 * parts.focal.item() + 2.0 * parts.nll.item())
    same = CombinedLoss(0.3, 2.0, alpha=ALPHA)(pred, score, band=TARGET)
    assert same.total.item() == parts.total.item()
    parts.total.backward()
    for t in (logits, mu, var):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="not both 0"):
        CombinedLoss(0.0, 0.0)
