"""Chunk weightings of the participant aggregation and their choice on dev, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from depsev.errors import InputError
from depsev.evaluate.aggregate import (
    DEFAULT_WEIGHTING,
    P_BAND_COLUMNS,
    PARTICIPANT_COLUMNS,
    WEIGHTING_COMPARISON_COLUMNS,
    WEIGHTINGS,
    aggregate_participants,
    choose_weighting,
    compare_weightings,
)

Z90 = 1.6448536269514722


def _chunk(pid: int, mu: float, var: float, phq: float, split: str = "dev", interviewer: str = "ai") -> dict:
    return {"participant_id": pid, "mu": mu, "var": var, **dict.fromkeys(P_BAND_COLUMNS, 0.2),
            "phq_score": phq, "interviewer": interviewer, "gender": "female", "split": split}


def _outlier(phq: float = 15, split: str = "dev") -> pd.DataFrame:
    """Three chunks at 15 (var 4) and one over-confident chunk at 2 (var 0.01)."""
    return pd.DataFrame([_chunk(1, 15, 4, phq, split)] * 3 + [_chunk(1, 2, 0.01, phq, split)])


def _one(df: pd.DataFrame, weighting: str, **kwargs) -> pd.Series:
    return aggregate_participants(df, weighting=weighting, **kwargs).set_index("participant_id").iloc[0]


# ---------------------------------------------------------------- aggregation
def test_one_overconfident_chunk_decides_only_under_precision_weighting():
    df = _outlier()
    precision = _one(df, "precision")
    # weights 1/4, 1/4, 1/4, 100: mu = (3 * 15 / 4 + 2 * 100) / 100.75
    assert precision["mu"] == pytest.approx((45 / 4 + 200) / 100.75)
    assert precision["mu"] == pytest.approx(2.1, abs=0.01)
    assert abs(15 - precision["mu"]) > Z90 * math.sqrt(precision["var"])  # its 90% interval misses 15
    for weighting in ("capped", "mean", "median"):
        assert _one(df, weighting)["mu"] >= 11, weighting
    capped = _one(df, "capped")
    assert capped["mu"] == pytest.approx(11.75)  # median variance 4 caps the last chunk's weight at 1/4
    assert abs(15 - capped["mu"]) <= Z90 * math.sqrt(capped["var"])  # 90% interval covers the truth
    assert _one(df, "median")["mu"] == 15


def _hand_chunks() -> pd.DataFrame:
    """Participant 7: mu 10, 14, 20 with var 1, 4, 16; participant 8: two chunks; 9: one chunk."""
    return pd.DataFrame([_chunk(7, 10, 1, 12), _chunk(7, 14, 4, 12), _chunk(7, 20, 16, 12),
                         _chunk(8, 4, 2, 5), _chunk(8, 8, 2, 5), _chunk(9, 3, 0.5, 3)])


# (mu, var_within, var_mixture) of participant 7, computed by hand
HAND = {
    # w = 1, 1/4, 1/16 (sum 21/16): mu = (10 + 3.5 + 1.25) / (21/16) = 236/21; var_within = 3 / (21/16)
    "precision": (236 / 21, 16 / 7,
                  16 / 7 + (1 * (10 - 236 / 21) ** 2 + (14 - 236 / 21) ** 2 / 4 + (20 - 236 / 21) ** 2 / 16)
                  / (21 / 16)),
    # w = 1: mu = 44/3, var_within = 21/3, spread = (196 + 4 + 256) / 27
    "mean": (44 / 3, 7.0, 7 + 456 / 27),
    # median var 4 -> w = 1/4, 1/4, 1/16 (sum 9/16): mu = 7.25 / (9/16) = 116/9; var_within = 2.25 / (9/16)
    # = 4; spread = (676/4 + 100/4 + 4096/16) / 81 / (9/16) = 800/81
    "capped": (116 / 9, 4.0, 4 + 800 / 81),
    # median 14; uniform weights: var_within = 7, spread around the median = (16 + 0 + 36) / 3
    "median": (14.0, 7.0, 7 + 52 / 3),
}


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_each_weighting_by_hand(weighting):
    agg = aggregate_participants(_hand_chunks(), weighting=weighting)
    assert list(agg.columns) == PARTICIPANT_COLUMNS
    assert agg.attrs == {"interval_variance": "mixture", "weighting": weighting}
    a = agg.set_index("participant_id")
    mu, within, mixture = HAND[weighting]
    assert a.loc[7, "mu"] == pytest.approx(mu)
    assert a.loc[7, "var_within"] == pytest.approx(within)
    assert a.loc[7, "var_mixture"] == pytest.approx(mixture)
    assert a.loc[7, "var"] == pytest.approx(mixture)
    assert a.loc[7, "var_independent"] == pytest.approx(16 / 21)  # 1 / sum(1/var) under every weighting
    # equal variances: every weighting gives the mean (median of two = the mean of the middle two)
    assert a.loc[8, "mu"] == pytest.approx(6.0) and a.loc[8, "var_mixture"] == pytest.approx(2 + 4)
    assert a.loc[8, "var_independent"] == pytest.approx(1.0)
    assert (a.loc[9, "mu"], a.loc[9, "var"], a.loc[9, "var_independent"]) == (3.0, 0.5, 0.5)
    within_only = aggregate_participants(_hand_chunks(), weighting=weighting, interval_variance="within")
    assert within_only.set_index("participant_id").loc[7, "var"] == pytest.approx(within)


def test_default_weighting_is_capped_and_unknown_choices_are_refused():
    assert DEFAULT_WEIGHTING == "capped"
    default = aggregate_participants(_hand_chunks())
    assert default.attrs["weighting"] == "capped"
    assert default.set_index("participant_id").loc[7, "mu"] == pytest.approx(116 / 9)
    with pytest.raises(InputError, match=r"^chunks\.parquet: weighting 'trimmed' is not one of"):
        aggregate_participants(_hand_chunks(), weighting="trimmed", source="chunks.parquet")


# ---------------------------------------------------------------- choice on dev
def test_compare_weightings_over_seeds_by_hand():
    seed1, seed2 = _outlier(phq=15), _outlier(phq=12)
    table = compare_weightings([seed1, seed2])
    assert list(table.columns) == WEIGHTING_COMPARISON_COLUMNS
    assert list(table["weighting"]) == list(WEIGHTINGS)
    t = table.set_index("weighting")
    assert (t["n_seeds"] == 2).all()
    precision_mu = (45 / 4 + 200) / 100.75
    maes = {"precision": [15 - precision_mu, 12 - precision_mu], "mean": [3.25, 0.25],
            "capped": [3.25, 0.25], "median": [0.0, 3.0]}
    for weighting, errors in maes.items():
        assert t.loc[weighting, "mae_mean"] == pytest.approx(np.mean(errors))
        assert t.loc[weighting, "mae_sd"] == pytest.approx(np.std(errors, ddof=1))
    # one participant per seed: coverage is 0 or 1 per seed
    assert t.loc["precision", "coverage_90_mean"] == 0.0 and t.loc["capped", "coverage_90_mean"] == 1.0
    # capped: sigma = sqrt(3.0025 + 31.6875) = 5.89; 50% half-width 3.97 covers |15 - 11.75| and |12 - 11.75|
    assert t.loc["capped", "coverage_50_mean"] == 1.0
    single = compare_weightings([seed1]).set_index("weighting")
    assert math.isnan(single.loc["capped", "mae_sd"]) and single.loc["median", "mae_mean"] == 0.0


def test_choose_weighting_picks_the_lowest_dev_mae():
    name, table = choose_weighting([_outlier(phq=15)])
    assert name == "median"  # MAE 0 against 3.25 (mean, capped) and 12.9 (precision)
    assert table["chosen"].tolist() == [w == "median" for w in WEIGHTINGS]
    name, _ = choose_weighting([_outlier(phq=2)])
    assert name == "precision"  # the confident chunk was right this time



def test_a_fixed_weighting_is_used_whatever_dev_says():
    """The shuffled-label control: no choice on the true dev labels, the default is marked chosen."""
    name, table = choose_weighting([_outlier(phq=15)], fixed="capped")
    assert name == "capped" and table["chosen"].tolist() == [w == "capped" for w in WEIGHTINGS]
    assert table.set_index("weighting").loc["median", "mae_mean"] == 0.0  # still compared and reported
    with pytest.raises(ValueError, match="weighting must be one of"):
        choose_weighting([_outlier()], fixed="trimmed")


def test_choose_weighting_ties_go_to_the_earlier_entry():
    # 16, 16, 16 (var 4) and 0 (var 0.01), truth 12: mean = capped = 12 exactly (MAE 0), median 16
    df = pd.DataFrame([_chunk(1, 16, 4, 12)] * 3 + [_chunk(1, 0, 0.01, 12)])
    name, table = choose_weighting([df])
    t = table.set_index("weighting")
    assert abs(t.loc["mean", "mae_mean"] - t.loc["capped", "mae_mean"]) < 1e-9
    assert name == "mean" and table["chosen"].sum() == 1
    # every weighting equal (equal variances, symmetric chunks): the first entry, precision
    flat = pd.DataFrame([_chunk(1, 9, 3, 12), _chunk(1, 10, 3, 12), _chunk(1, 11, 3, 12)])
    assert choose_weighting([flat])[0] == "precision"


def test_choosing_refuses_anything_but_dev_predictions():
    with pytest.raises(InputError, match=r"^test\.parquet: .*only be chosen on dev.*\['test'\]"):
        choose_weighting([_outlier(), _outlier(split="test")], sources=["dev.parquet", "test.parquet"])
    mixed = pd.concat([_outlier(), _outlier(split="test").assign(participant_id=2)])
    with pytest.raises(InputError, match=r"dev prediction table 1 of 1: .*only be chosen on dev"):
        compare_weightings([mixed])
    with pytest.raises(InputError, match="no dev prediction tables"):
        choose_weighting([])
    with pytest.raises(InputError, match="missing column"):
        compare_weightings([_outlier().drop(columns="var")])
    with pytest.raises(InputError, match="source name"):
        compare_weightings([_outlier()], sources=["a", "b"])
