"""Evaluation metrics and per-participant aggregation, checked against independent computations."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
)

from depsev.errors import InputError
from depsev.evaluate import metrics as M
from depsev.evaluate.aggregate import P_BAND_COLUMNS, aggregate_participants

RNG = np.random.default_rng(20250501)
Z50, Z90 = 0.6744897501960817, 1.6448536269514722


def _ccc_via_cov(x: np.ndarray, y: np.ndarray) -> float:
    """CCC written a second way: the population covariance matrix from np.cov(bias=True)."""
    c = np.cov(x, y, bias=True)
    return 2 * c[0, 1] / (c[0, 0] + c[1, 1] + (x.mean() - y.mean()) ** 2)


def _probs(band: int, confidence: float = 0.6) -> dict[str, float]:
    p = np.full(5, (1 - confidence) / 4)
    p[band] = confidence
    return dict(zip(P_BAND_COLUMNS, p, strict=True))


def _chunk(pid: int, mu: float, var: float, phq: int, band: int = 0, interviewer: str = "woz",
           gender: str = "female", split: str = "dev") -> dict:
    return {"participant_id": pid, "mu": mu, "var": var, **_probs(band), "phq_score": phq,
            "interviewer": interviewer, "gender": gender, "split": split}


def _participants(n: int = 30, seed: int = 3) -> pd.DataFrame:
    """A participant-level prediction table with varied truth, predictions and variances."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 25, n)
    return pd.DataFrame({
        "participant_id": np.arange(600, 600 + n),
        "phq_score": y,
        "mu": np.clip(y + rng.normal(0, 4, n), -2, 26),
        "var": rng.uniform(2, 30, n),
        "pred_band": rng.integers(0, 5, n),
        "interviewer": np.where(np.arange(n) % 3 == 0, "woz", "ai"),
        "gender": np.where(np.arange(n) % 2 == 0, "male", "female"),
    })


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_errors_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 25, 40).astype(float)
    p = y + rng.normal(1, 5, 40)
    assert M.mae(y, p) == pytest.approx(mean_absolute_error(y, p))
    assert M.mse(y, p) == pytest.approx(mean_squared_error(y, p))
    assert M.rmse(y, p) == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert M.pearson_r(y, p) == pytest.approx(np.corrcoef(y, p)[0, 1])
    assert M.ccc(y, p) == pytest.approx(_ccc_via_cov(y, p))
    norm = M.normalised_errors(y, p)
    assert norm["mae_norm"] == pytest.approx(mean_absolute_error(y / 24, p / 24))
    assert norm["mse_norm"] == pytest.approx(mean_squared_error(y / 24, p / 24))
    assert norm["rmse_norm"] == pytest.approx(math.sqrt(mean_squared_error(y / 24, p / 24)))
    assert norm["mse_norm"] == pytest.approx(M.mse(y, p) / 576)


def test_ccc_hand_computed():
    # x = 1,2,3; y = 2,3,5: means 2 and 10/3, var_x 2/3, var_y 14/9, cov 1, (mean diff)^2 16/9
    # -> ccc = 2 / (2/3 + 14/9 + 16/9) = 2 / 4 = 0.5   (Pearson r = 1/sqrt(2/3 * 14/9) = 0.982)
    assert M.ccc([1, 2, 3], [2, 3, 5]) == pytest.approx(0.5)
    assert M.pearson_r([1, 2, 3], [2, 3, 5]) == pytest.approx(1 / math.sqrt(2 / 3 * 14 / 9))


def test_ccc_penalises_bias_and_scale_unlike_pearson():
    y = RNG.normal(10, 5, 50)
    assert M.ccc(y, y) == pytest.approx(1.0)
    assert M.pearson_r(y, y + 5) == pytest.approx(1.0)
    assert M.ccc(y, y + 5) < 0.7
    assert M.ccc(y, 2 * y) < 1.0
    assert M.ccc(y, -y + 20) == pytest.approx(_ccc_via_cov(y, -y + 20))
    assert M.ccc(y, -y + 20) < 0


def test_constant_prediction_edge_cases():
    y = [0, 5, 10, 20]
    assert M.ccc(y, [8, 8, 8, 8]) == 0.0
    assert math.isnan(M.pearson_r(y, [8, 8, 8, 8]))
    # both constant: unequal -> 0, equal -> undefined (NaN, not 1)
    assert M.ccc([7, 7, 7], [9, 9, 9]) == 0.0
    assert math.isnan(M.ccc([7, 7, 7], [7, 7, 7]))
    assert M.mae([7, 7, 7], [7, 7, 7]) == 0.0


def test_single_participant_ccc_nan_mae_defined():
    assert math.isnan(M.ccc([12], [15]))
    assert math.isnan(M.pearson_r([12], [15]))
    assert M.mae([12], [15]) == 3.0
    assert M.rmse([12], [15]) == 3.0
    one = pd.DataFrame({"participant_id": [300], "phq_score": [12], "mu": [15.0], "var": [9.0],
                        "pred_band": [3]})
    res = M.all_metrics(one)
    assert res["n"] == 1 and res["mae"] == 3.0 and math.isnan(res["ccc"]) and res["accuracy"] == 0.0


@pytest.mark.parametrize("func", [M.mae, M.rmse, M.ccc, M.pearson_r, M.binary_f1, M.band_accuracy])
def test_empty_input_raises(func):
    with pytest.raises(InputError, match="empty"):
        func([], [])


def test_bad_vectors_raise():
    with pytest.raises(InputError, match="values"):
        M.mae([1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="NaN"):
        M.ccc([1, np.nan], [1, 2])
    with pytest.raises(InputError, match="<= 0"):
        M.gaussian_nll([1, 2], [1, 2], [1, 0])
    with pytest.raises(InputError, match="integers"):
        M.band_accuracy([0, 5], [0, 1])


# -------------------------------------------------------------- classification
def test_macro_f1_hand_computed_and_sklearn():
    t, p = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    # band 0: P 1/2 R 1/2 -> 0.5; band 1: P 1/2 R 1 -> 2/3; band 2: P 1 R 2/3 -> 0.8
    assert M.macro_f1(t, p) == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert M.macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro"))
    assert M.band_accuracy(t, p) == pytest.approx(accuracy_score(t, p))


def test_macro_f1_uses_bands_in_truth_or_prediction():
    t, p = [0, 0, 1], [0, 3, 1]
    # band 0: P 1 R 1/2 -> 2/3; band 1: 1; band 3 (only predicted): 0; bands 2 and 4 absent: left out
    assert M.macro_f1(t, p) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert M.macro_f1(t, p) == pytest.approx(f1_score(t, p, labels=[0, 1, 3], average="macro"))
    assert M.macro_f1(t, p) != pytest.approx(
        f1_score(t, p, labels=list(range(5)), average="macro", zero_division=0))


def test_confusion_matrix_fixed_5x5_order():
    t = RNG.integers(0, 3, 25)  # only bands 0..2 occur
    p = RNG.integers(1, 4, 25)
    cm = M.band_confusion(t, p)
    assert cm.shape == (5, 5)
    by_hand = np.zeros((5, 5), dtype=int)
    np.add.at(by_hand, (t, p), 1)
    np.testing.assert_array_equal(cm, by_hand)
    np.testing.assert_array_equal(cm, confusion_matrix(t, p, labels=[0, 1, 2, 3, 4]))
    assert cm[4].sum() == 0 and cm[:, 0].sum() == 0


def test_binary_f1_threshold_10_is_positive():
    t = [10, 9, 12, 3, 10]
    mu = [10.0, 9.99, 8.0, 11.0, 9.999]
    # truth positive: 10, 12, 10; predicted positive: 10.0, 11.0 -> TP 1, FP 1, FN 2 -> F1 = 2/5
    assert M.binary_f1(t, mu) == pytest.approx(0.4)
    assert M.binary_f1(t, mu) == pytest.approx(
        f1_score(np.array(t) >= 10, np.array(mu) >= 10))
    assert M.binary_f1([10], [10]) == 1.0
    assert M.binary_f1([9], [10]) == 0.0
    assert math.isnan(M.binary_f1([1, 2], [3, 4]))  # no positive anywhere: undefined


# ----------------------------------------------------------------- uncertainty
def test_gaussian_nll_formula():
    y, mu, var = np.array([3.0, 10.0, 20.0]), np.array([5.0, 10.0, 14.0]), np.array([4.0, 1.0, 9.0])
    by_hand = np.mean(0.5 * np.log(2 * np.pi * var) + (y - mu) ** 2 / (2 * var))
    assert M.gaussian_nll(y, mu, var) == pytest.approx(by_hand)


def test_coverage_of_gaussian_draws():
    rng = np.random.default_rng(7)
    n = 10_000
    mu = rng.uniform(0, 24, n)
    var = rng.uniform(0.5, 40, n)
    y = rng.normal(mu, np.sqrt(var))
    assert M.interval_coverage(y, mu, var, 0.5) == pytest.approx(0.5, abs=0.02)
    assert M.interval_coverage(y, mu, var, 0.9) == pytest.approx(0.9, abs=0.02)
    # twice too confident (variance / 4) -> far below nominal
    assert M.interval_coverage(y, mu, var / 4, 0.9) < 0.7


def test_coverage_constructed_exact():
    # mu 0, sigma 2: 50 % interval |y| <= 1.349, 90 % interval |y| <= 3.290
    y = [0.0, 1.0, -1.3, 1.4, -2.0, 3.0, -3.2, 3.3, 5.0, -10.0]
    mu, var = [0.0] * 10, [4.0] * 10
    assert M.interval_coverage(y, mu, var, 0.5) == pytest.approx(0.3)
    assert M.interval_coverage(y, mu, var, 0.9) == pytest.approx(0.7)
    # the boundary itself counts as inside
    assert M.interval_coverage([Z50, -Z90], [0.0, 0.0], [1.0, 1.0], 0.5) == 0.5
    with pytest.raises(InputError):
        M.interval_coverage(y, mu, var, 1.0)


# --------------------------------------------------------------- whole tables
def test_all_metrics_consistent_with_parts():
    df = _participants()
    res = M.all_metrics(df)
    y, mu, var = df["phq_score"].to_numpy(float), df["mu"].to_numpy(), df["var"].to_numpy()
    true_band = np.minimum(y // 5, 4).astype(int)
    assert res["level"] == "participant" and res["n"] == len(df)
    assert res["mae"] == pytest.approx(mean_absolute_error(y, mu))
    assert res["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, mu)))
    assert res["ccc"] == pytest.approx(_ccc_via_cov(y, mu))
    assert res["mae_norm"] == pytest.approx(res["mae"] / 24)
    assert res["accuracy"] == pytest.approx(accuracy_score(true_band, df["pred_band"]))
    assert res["macro_f1"] == pytest.approx(f1_score(true_band, df["pred_band"], average="macro"))
    assert res["f1_binary"] == pytest.approx(f1_score(y >= 10, mu >= 10))
    assert res["n_positive"] == int((y >= 10).sum())
    assert res["confusion"] == confusion_matrix(true_band, df["pred_band"], labels=range(5)).tolist()
    assert res["nll"] == pytest.approx(M.gaussian_nll(y, mu, var))
    assert 0 <= res["coverage_50"] <= res["coverage_90"] <= 1


def test_all_metrics_band_from_probabilities_when_no_pred_band():
    df = _participants(10).drop(columns="pred_band")
    bands = np.array([0, 1, 2, 3, 4, 4, 3, 2, 1, 0])
    probs = pd.DataFrame([_probs(b) for b in bands])
    df = pd.concat([df, probs], axis=1)
    true_band = np.minimum(df["phq_score"] // 5, 4)
    assert M.all_metrics(df)["accuracy"] == pytest.approx(np.mean(true_band == bands))
    with pytest.raises(InputError, match="pred_band"):
        M.all_metrics(df.drop(columns=P_BAND_COLUMNS))


def test_all_metrics_rejects_bad_tables():
    df = _participants(8)
    with pytest.raises(InputError, match="empty"):
        M.all_metrics(df.iloc[:0])
    with pytest.raises(InputError, match="missing column"):
        M.all_metrics(df.drop(columns="var"))
    with pytest.raises(InputError, match="one row per participant"):
        M.all_metrics(pd.concat([df, df.iloc[:2]]))
    assert M.all_metrics(pd.concat([df, df.iloc[:2]]), level="chunk")["n"] == 10
    with pytest.raises(InputError, match="'mu'"):
        M.all_metrics(df.assign(mu=np.where(df.index == 3, np.nan, df["mu"])))
    with pytest.raises(InputError, match="<= 0"):
        M.all_metrics(df.assign(var=0.0))
    with pytest.raises(InputError, match="outside"):
        M.all_metrics(df.assign(phq_score=25))
    with pytest.raises(InputError, match="level"):
        M.all_metrics(df, level="segment")


def test_metrics_by_interviewer_and_gender():
    df = _participants(13)
    for column in ("interviewer", "gender"):
        groups = M.metrics_by(df, column)
        assert set(groups) == set(df[column])
        assert sum(g["n"] for g in groups.values()) == len(df)
        for key, res in groups.items():
            sub = df[df[column] == key]
            assert res["mae"] == pytest.approx(mean_absolute_error(sub["phq_score"], sub["mu"]))
    one = df.iloc[:3].assign(gender=["male", "female", "female"])
    assert math.isnan(M.metrics_by(one, "gender")["male"]["ccc"])  # a group of one: no crash
    with pytest.raises(InputError, match="missing"):
        M.metrics_by(df.assign(gender=None), "gender")


def test_mean_predictor_baseline():
    train = [0, 2, 4, 10, 14]  # mean 6, population variance (36 + 16 + 4 + 16 + 64) / 5 = 27.2
    df = _participants(12)
    res = M.mean_predictor_metrics(train, df)
    y = df["phq_score"].to_numpy(float)
    assert res["baseline_mu"] == pytest.approx(6.0) and res["baseline_var"] == pytest.approx(27.2)
    assert res["mae"] == pytest.approx(mean_absolute_error(y, np.full_like(y, 6.0)))
    assert res["ccc"] == 0.0 and math.isnan(res["pearson_r"])  # constant prediction
    assert res["accuracy"] == pytest.approx(np.mean(np.minimum(y // 5, 4) == 1))  # band of 6 is 1
    assert res["nll"] == pytest.approx(M.gaussian_nll(y, np.full_like(y, 6.0), np.full_like(y, 27.2)))
    # the model table's own predictions are ignored
    assert M.mean_predictor_metrics(train, df.assign(mu=100.0))["mae"] == res["mae"]
    with pytest.raises(InputError, match="equal"):
        M.mean_predictor_metrics([5, 5, 5], df)
    with pytest.raises(InputError, match="no training"):
        M.mean_predictor_metrics([], df)


def test_mean_sd_over_seeds():
    dfs = [_participants(15, seed=s) for s in (1, 2, 3)]
    runs = [M.all_metrics(d) for d in dfs]
    summary = M.mean_sd_over_seeds(runs)
    maes = [r["mae"] for r in runs]
    assert summary["mae"]["mean"] == pytest.approx(np.mean(maes))
    assert summary["mae"]["sd"] == pytest.approx(np.std(maes, ddof=1))
    assert summary["mae"]["n"] == 3 and summary["level"] == "participant"
    np.testing.assert_allclose(summary["confusion"]["mean"], np.mean([r["confusion"] for r in runs], axis=0))
    # a metric undefined in one seed: mean over the others, counted
    runs[1]["ccc"] = math.nan
    s = M.mean_sd_over_seeds(runs)["ccc"]
    assert s["n"] == 2 and s["n_nan"] == 1
    assert s["mean"] == pytest.approx(np.mean([runs[0]["ccc"], runs[2]["ccc"]]))
    assert math.isnan(M.mean_sd_over_seeds(runs[:1])["mae"]["sd"])  # one seed: sd undefined
    nested = M.mean_sd_over_seeds([M.metrics_by(d, "gender") for d in dfs])
    assert nested["male"]["rmse"]["n"] == 3
    with pytest.raises(InputError, match="different metrics"):
        M.mean_sd_over_seeds([runs[0], {"mae": 1.0}])
    with pytest.raises(InputError, match="disagree"):
        M.mean_sd_over_seeds([runs[0], {**runs[2], "level": "chunk"}])
    with pytest.raises(InputError):
        M.mean_sd_over_seeds([])


# ----------------------------------------------------------------- aggregation
def _hand_table() -> pd.DataFrame:
    rows = [
        _chunk(302, mu=3.0, var=2.0, phq=4, band=0, interviewer="ai", gender="male", split="test"),
        _chunk(301, mu=10.0, var=1.0, phq=12, band=2),
        _chunk(301, mu=16.0, var=4.0, phq=12, band=3),
    ]
    return pd.DataFrame(rows)


def test_aggregate_precision_weighted_by_hand():
    agg = aggregate_participants(_hand_table(), weighting="precision")
    assert agg["participant_id"].tolist() == [301, 302]
    a = agg.set_index("participant_id")
    # 301: weights 1 and 1/4 (sum 1.25): mu = (10 + 16/4) / 1.25 = 11.2
    assert a.loc[301, "mu"] == pytest.approx(11.2)
    assert a.loc[301, "var_independent"] == pytest.approx(1 / 1.25)
    assert a.loc[301, "var_within"] == pytest.approx(2 / 1.25)  # (1*1 + 0.25*4) / 1.25
    # mixture: (1*(1 + 100) + 0.25*(4 + 256)) / 1.25 - 11.2^2 = 7.36
    assert a.loc[301, "var_mixture"] == pytest.approx(7.36)
    assert a.loc[301, "var"] == pytest.approx(7.36)  # the default interval variance
    assert a.loc[301, "n_chunks"] == 2 and a.loc[302, "n_chunks"] == 1
    # probabilities: mean of (0.6 on band 2) and (0.6 on band 3) -> tie 0.35/0.35 -> lower band
    assert a.loc[301, "p_band_2"] == pytest.approx(0.35) and a.loc[301, "p_band_3"] == pytest.approx(0.35)
    assert a.loc[301, "pred_band"] == 2
    assert np.allclose(agg[P_BAND_COLUMNS].sum(axis=1), 1)
    assert a.loc[301, "band"] == 2 and a.loc[302, "band"] == 0
    assert (a.loc[302, "mu"], a.loc[302, "var"], a.loc[302, "var_independent"]) == (3.0, 2.0, 2.0)
    assert a.loc[302, ["interviewer", "gender", "split", "phq_score"]].tolist() == ["ai", "male", "test", 4]
    other = aggregate_participants(_hand_table(), interval_variance="independent",
                                   weighting="precision").set_index("participant_id")
    assert other.loc[301, "var"] == pytest.approx(0.8)
    M.all_metrics(agg)  # the output is a valid participant-level table


def test_aggregate_honest_variance_does_not_shrink_with_chunks():
    rows = [_chunk(400, mu=8.0, var=9.0, phq=8, band=1) for _ in range(16)]
    a = aggregate_participants(pd.DataFrame(rows)).iloc[0]
    assert a["var_independent"] == pytest.approx(9.0 / 16)
    assert a["var_within"] == pytest.approx(9.0) and a["var_mixture"] == pytest.approx(9.0)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.drop(columns="p_band_4"), "missing column"),
    (lambda d: d.iloc[:0], "empty"),
    (lambda d: d.assign(mu=[1.0, np.nan, 2.0]), "'mu'"),
    (lambda d: d.assign(var=[1.0, 0.0, 2.0]), "<= 0"),
    (lambda d: d.assign(var=[1.0, -1.0, 2.0]), "<= 0"),
    (lambda d: d.assign(phq_score=[4, 12, 13]), "truth differs"),
    (lambda d: d.assign(split=["test", "dev", "train"]), "truth differs"),
    (lambda d: d.assign(gender=["male", "female", None]), "'gender'"),
    (lambda d: d.assign(p_band_0=[0.5, 0.1, 0.1]), "probabilities"),
    (lambda d: d.assign(interviewer=["robot", "woz", "woz"]), "unknown"),
    (lambda d: d.assign(phq_score=[30, 12, 12]), "outside"),
    (lambda d: d.assign(participant_id=[302.5, 301, 301]), "participant_id"),
])
def test_aggregate_rejects_bad_input(change, message):
    with pytest.raises(InputError, match=message):
        aggregate_participants(change(_hand_table()), source="chunks.parquet")


def test_aggregate_error_names_source_and_bad_choice():
    with pytest.raises(InputError, match=r"^chunks\.parquet: .*interval_variance"):
        aggregate_participants(_hand_table(), interval_variance="median", source="chunks.parquet")


def test_evaluate_never_imports_train():
    package = Path(M.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("depsev.train") for n in names), path
