"""The metrics depsev reports, with their edge cases spelled out.

All regression metrics are on the PHQ-8 scale (0..24 points) unless the name ends in ``_norm``.

Regression
    ``mae``, ``mse``, ``rmse``; ``ccc`` -- Lin's concordance correlation coefficient exactly as the
    AVEC 2019 scorer computes it, with population moments (ddof 0)::

        ccc = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

    ``pearson_r``.  Edge cases: fewer than 2 values -> ``ccc`` and ``pearson_r`` are NaN (undefined;
    MAE/RMSE are still computed); a constant prediction with a non-constant truth -> ``ccc`` = 0 (the
    formula gives 0 / positive) and ``pearson_r`` = NaN; prediction and truth both constant -> ``ccc`` =
    0 when they differ, NaN when they are equal (0 / 0: no variation to agree on; deliberately not 1,
    which would reward a constant predictor); ``pearson_r`` is NaN whenever either side is constant.
Normalised scale (``mse_norm``, ``rmse_norm``, ``mae_norm``)
    The same errors after dividing scores and predictions by 24 (the PHQ-8 maximum), so
    ``mae_norm = mae / 24``, ``rmse_norm = rmse / 24``, ``mse_norm = mse / 576``.  Only for putting our
    numbers beside the paper's Table 5, whose "MSE/RMSE/MAE (/)" the paper attributes to "the
    normalization and standardization of the data".  Table 5 cannot be reproduced on any single scale:
    the multimodal row (MSE 0.2133, RMSE 0.3566, MAE 0.1271) has RMSE != sqrt(MSE) (0.4618); the audio
    and video rows (e.g. MSE 5.3066, RMSE 2.3036, MAE 0.0350) have RMSE / MAE = 66, while for n errors
    RMSE / MAE <= sqrt(n), which needs n >= 4,300 (chunk level at best; at most 7.5 for 56 test
    participants).  The multimodal MAE read as a score / 24 value (0.1271 x 24 = 3.05 points) is the
    only plausible reading (the paper also scales the NLL target to 0..1), hence the choice of 24.
    Compare with the paper's numbers only with this caveat.
Classification (5 severity bands 0-4, 5-9, 10-14, 15-19, 20-24)
    ``accuracy``; ``macro_f1`` -- scikit-learn's macro F1 over the bands present in truth OR prediction
    (a band absent from both is left out instead of counting as F1 = 0 or 1; a band that is only
    predicted, or only true, counts with F1 = 0); ``confusion`` -- a 5 x 5 count matrix, rows = true band,
    columns = predicted band, always in band order 0..4; ``f1_binary`` -- F1 of "depressed" = PHQ-8 >= 10
    from the scores (predicted ``mu >= 10`` vs true score >= 10; a score of exactly 10 is positive),
    NaN when neither truth nor prediction has a positive; ``n_positive`` -- true positives' count.
    The predicted band is the ``pred_band`` column when present, else the argmax of ``p_band_0..4``.
Uncertainty (Gaussian predictive distribution ``N(mu, var)``, PHQ-8 scale)
    ``nll`` -- mean negative log-likelihood including the constant ``0.5 log(2 pi)``
    (``nll = mean(0.5 log(2 pi var) + (y - mu)^2 / (2 var))``; on the 0..1 scale used for training it
    would be ``nll - log 24``); ``coverage_50`` / ``coverage_90`` -- share of truths inside the central
    interval ``mu +- z sigma`` (z = 0.674 / 1.645; the boundary counts as inside).

:func:`all_metrics` computes everything on one table; at ``level="participant"`` the table must hold
one row per participant (aggregate chunks with :func:`depsev.evaluate.aggregate.aggregate_participants`
first -- segment-level scoring is the field's most common mistake).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import confusion_matrix, f1_score

from depsev.constants import BINARY_THRESHOLD, N_BANDS, PHQ_MAX
from depsev.errors import InputError
from depsev.evaluate.aggregate import (
    P_BAND_COLUMNS,
    Source,
    band_of_scores,
    finite_column,
    require_phq_range,
    require_positive_var,
    require_table,
)

LEVELS = ("participant", "chunk")
#: divisor of the paper's normalised scale (the PHQ-8 maximum)
NORMALISED_SCALE = float(PHQ_MAX)
COVERAGE_LEVELS = (0.5, 0.9)
#: columns :func:`all_metrics` needs (plus ``pred_band`` or ``p_band_0..4``)
METRIC_COLUMNS = ["phq_score", "mu", "var"]
#: what :func:`mean_predictor_metrics` replaces in the evaluation table
PREDICTION_COLUMNS = ["mu", "var", "pred_band", *P_BAND_COLUMNS]


# ---------------------------------------------------------------- regression
def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Root mean squared error."""
    return math.sqrt(mse(y_true, y_pred))


def ccc(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient, population moments (AVEC 2019); see module docstring."""
    t, p = _pair(y_true, y_pred)
    if t.size < 2:
        return math.nan
    mt, mp = t.mean(), p.mean()
    cov = np.mean((t - mt) * (p - mp))
    denom = t.var() + p.var() + (mt - mp) ** 2
    if denom == 0:  # both constant and equal
        return math.nan
    return float(2 * cov / denom)


def pearson_r(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Pearson correlation; NaN with fewer than 2 values or a constant side."""
    t, p = _pair(y_true, y_pred)
    if t.size < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return math.nan
    return float(stats.pearsonr(t, p).statistic)


def normalised_errors(y_true: Sequence[float], y_pred: Sequence[float],
                      scale: float = NORMALISED_SCALE) -> dict[str, float]:
    """``mse_norm``, ``rmse_norm``, ``mae_norm`` of scores divided by ``scale`` (the paper's Table 5)."""
    t, p = _pair(y_true, y_pred)
    t, p = t / scale, p / scale
    return {"mse_norm": mse(t, p), "rmse_norm": rmse(t, p), "mae_norm": mae(t, p)}


# ------------------------------------------------------------ classification
def band_accuracy(true_band: Sequence[int], pred_band: Sequence[int]) -> float:
    """Share of participants whose band is predicted exactly."""
    t, p = _bands(true_band, pred_band)
    return float(np.mean(t == p))


def macro_f1(true_band: Sequence[int], pred_band: Sequence[int]) -> float:
    """Macro F1 over the bands present in truth or prediction (scikit-learn, zero_division 0)."""
    t, p = _bands(true_band, pred_band)
    labels = sorted(set(t.tolist()) | set(p.tolist()))
    return float(f1_score(t, p, labels=labels, average="macro", zero_division=0))


def band_confusion(true_band: Sequence[int], pred_band: Sequence[int]) -> np.ndarray:
    """5 x 5 counts: row = true band, column = predicted band, bands 0..4 in order."""
    t, p = _bands(true_band, pred_band)
    return confusion_matrix(t, p, labels=list(range(N_BANDS)))


def binary_f1(y_true: Sequence[float], y_pred: Sequence[float], threshold: float = BINARY_THRESHOLD) -> float:
    """F1 of ``y_pred >= threshold`` against ``y_true >= threshold``; NaN without any positive."""
    t, p = _pair(y_true, y_pred)
    return float(f1_score(t >= threshold, p >= threshold, zero_division=np.nan))


# --------------------------------------------------------------- uncertainty
def gaussian_nll(y_true: Sequence[float], mu: Sequence[float], var: Sequence[float]) -> float:
    """Mean negative log-likelihood of ``y_true`` under ``N(mu, var)`` (full, with 0.5 log 2 pi)."""
    t, m = _pair(y_true, mu)
    v = _positive_var(var, t.size)
    return float(-np.mean(stats.norm.logpdf(t, loc=m, scale=np.sqrt(v))))


def interval_coverage(y_true: Sequence[float], mu: Sequence[float], var: Sequence[float],
                      level: float) -> float:
    """Share of ``y_true`` inside the central ``level`` interval ``mu +- z sigma`` (boundary inside)."""
    if not 0 < level < 1:
        raise InputError(None, f"interval level must be in (0, 1), got {level!r}")
    t, m = _pair(y_true, mu)
    v = _positive_var(var, t.size)
    z = stats.norm.ppf(0.5 + level / 2)
    return float(np.mean(np.abs(t - m) <= z * np.sqrt(v)))


# -------------------------------------------------------------- whole tables
def all_metrics(df: pd.DataFrame, level: str = "participant", *, source: Source = None) -> dict[str, Any]:
    """Every metric of the module docstring for one prediction table.

    ``df`` needs ``phq_score``, ``mu``, ``var`` and ``pred_band`` or ``p_band_0..4``.  ``level`` is
    ``participant`` (then ``participant_id``, when present, must be unique) or ``chunk``; it is
    recorded in the result.  Returns a JSON-serialisable dict (floats, ints, ``confusion`` as nested
    lists).  Raises :class:`InputError` for an empty table, missing columns or bad values.
    """
    if level not in LEVELS:
        raise InputError(source, f"level {level!r} is not one of {LEVELS}")
    table = require_table(df, METRIC_COLUMNS, source)
    if level == "participant" and "participant_id" in table and table["participant_id"].duplicated().any():
        dup = table.loc[table["participant_id"].duplicated(), "participant_id"].unique()[:5].tolist()
        raise InputError(source, f"level 'participant' needs one row per participant, but {dup} repeat: "
                                 "aggregate chunk predictions first (aggregate_participants)")
    for col in METRIC_COLUMNS:
        table[col] = finite_column(table, col, source)
    require_positive_var(table, source)
    require_phq_range(table, source)
    y, mu, var = (table[c].to_numpy() for c in METRIC_COLUMNS)
    true_band, pred_band = band_of_scores(y), predicted_bands(table, source)
    out: dict[str, Any] = {"level": level, "n": int(y.size), "mae": mae(y, mu), "rmse": rmse(y, mu),
                           "mse": mse(y, mu), "ccc": ccc(y, mu), "pearson_r": pearson_r(y, mu)}
    out.update(normalised_errors(y, mu))
    out.update({"accuracy": band_accuracy(true_band, pred_band), "macro_f1": macro_f1(true_band, pred_band),
                "f1_binary": binary_f1(y, mu), "n_positive": int(np.sum(y >= BINARY_THRESHOLD)),
                "confusion": band_confusion(true_band, pred_band).tolist(),
                "nll": gaussian_nll(y, mu, var)})
    for lv in COVERAGE_LEVELS:
        out[f"coverage_{round(lv * 100)}"] = interval_coverage(y, mu, var, lv)
    return out


def predicted_bands(df: pd.DataFrame, source: Source = None) -> np.ndarray:
    """``pred_band`` (validated 0..4) when present, else the argmax of ``p_band_0..4``."""
    if "pred_band" in df:
        bands = finite_column(df, "pred_band", source).to_numpy()
        if np.any((bands != np.round(bands)) | (bands < 0) | (bands >= N_BANDS)):
            raise InputError(source, f"column 'pred_band' must hold integers 0..{N_BANDS - 1}")
        return bands.astype(np.int64)
    if all(c in df for c in P_BAND_COLUMNS):
        probs = np.column_stack([finite_column(df, c, source).to_numpy() for c in P_BAND_COLUMNS])
        return np.argmax(probs, axis=1).astype(np.int64)
    raise InputError(source, f"need a 'pred_band' column or all of {P_BAND_COLUMNS}")


def metrics_by(df: pd.DataFrame, column: str, level: str = "participant", *,
               source: Source = None) -> dict[str, dict[str, Any]]:
    """:func:`all_metrics` per value of ``column`` (``interviewer``, ``gender``), keyed by ``str(value)``.

    Every row lands in exactly one group (a missing value in ``column`` is an InputError); an empty
    gender is the group ``""``.  Groups are in sorted order.
    """
    table = require_table(df, [column], source)
    if table[column].isna().any():
        raise InputError(source, f"column {column!r}: {int(table[column].isna().sum())} missing value(s)")
    keys = table[column].astype(str)
    return {key: all_metrics(table[keys == key], level, source=source) for key in sorted(keys.unique())}


def mean_predictor_metrics(train_scores: Sequence[float], eval_df: pd.DataFrame, level: str = "participant",
                           *, source: Source = None) -> dict[str, Any]:
    """The baseline every model must beat: predict the training mean for everyone.

    ``mu`` = mean of ``train_scores``, ``var`` = their population variance (ddof 0, the Gaussian
    maximum-likelihood fit), ``pred_band`` = the band of that mean.  Any prediction columns of
    ``eval_df`` are replaced; its truth (``phq_score``) is kept.  Returns :func:`all_metrics` plus
    ``baseline_mu`` and ``baseline_var``.  InputError for empty, non-finite, out-of-range or constant
    training scores.
    """
    scores = np.asarray(train_scores, dtype=float).ravel()
    if scores.size == 0:
        raise InputError(source, "no training scores for the mean predictor")
    if not np.all(np.isfinite(scores)):
        raise InputError(source, "training scores contain NaN or infinite values")
    try:
        band = int(band_of_scores(np.array([scores.mean()]))[0])
        band_of_scores(scores)
    except ValueError as err:
        raise InputError(source, f"training scores: {err}") from None
    mean, var = float(scores.mean()), float(scores.var())
    if var <= 0:
        raise InputError(source, "training scores are all equal: the mean predictor would have variance 0")
    table = require_table(eval_df, ["phq_score"], source)
    table = table.drop(columns=[c for c in PREDICTION_COLUMNS if c in table])
    table["mu"], table["var"], table["pred_band"] = mean, var, band
    out = all_metrics(table, level, source=source)
    out.update({"baseline_mu": mean, "baseline_var": var})
    return out


def mean_sd_over_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise the same metrics dict from several seeds.

    Numbers -> ``{"mean", "sd", "n", "n_nan"}`` over the finite values (sd with ddof 1, NaN when
    n < 2; ``n_nan`` counts the seeds where the metric was NaN, e.g. an undefined CCC); equal-shaped
    arrays (the confusion matrix) -> element-wise ``{"mean", "sd", "n"}`` as nested lists; strings
    (``level``) must agree and are kept; nested dicts (from :func:`metrics_by`) are summarised
    recursively.  InputError when ``runs`` is empty or the dicts do not have the same keys.
    """
    if len(runs) == 0:
        raise InputError(None, "no runs to summarise")
    return _summarise_dicts(list(runs), "")


# ------------------------------------------------------------------- helpers
def _summarise_dicts(runs: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    keys = list(runs[0].keys())
    for i, run in enumerate(runs[1:], start=1):
        if set(run.keys()) != set(keys):
            diff = sorted(set(run.keys()) ^ set(keys), key=str)
            raise InputError(None, f"run {i} has different metrics{where}: {diff}")
    return {key: _summarise_values([run[key] for run in runs], f"{where}[{key!r}]") for key in keys}


def _summarise_values(values: list[Any], where: str) -> Any:
    if all(isinstance(v, Mapping) for v in values):
        return _summarise_dicts(values, where)
    if all(isinstance(v, str) for v in values):
        if len(set(values)) > 1:
            raise InputError(None, f"runs disagree on {where}: {sorted(set(values))}")
        return values[0]
    if all(_is_number(v) for v in values):
        arr = np.asarray(values, dtype=float)
        finite = arr[np.isfinite(arr)]
        return {"mean": float(finite.mean()) if finite.size else math.nan,
                "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
                "n": int(finite.size), "n_nan": int(arr.size - finite.size)}
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(None, f"cannot summarise {where}: values of differing shape or type") from None
    sd = arr.std(axis=0, ddof=1) if len(values) > 1 else np.full(arr.shape[1:], math.nan)
    return {"mean": arr.mean(axis=0).tolist(), "sd": sd.tolist(), "n": len(values)}


def _is_number(value: Any) -> bool:
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    return numeric and not isinstance(value, (bool, np.bool_))


def _as_vector(values: Sequence[float], name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(None, f"{name}: not numeric") from None
    if arr.ndim != 1:
        raise InputError(None, f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(None, f"{name}: empty input, nothing to evaluate")
    if not np.all(np.isfinite(arr)):
        raise InputError(None, f"{name}: {int(np.sum(~np.isfinite(arr)))} NaN or infinite value(s)")
    return arr


def _pair(y_true: Sequence[float], y_pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_vector(y_true, "truth"), _as_vector(y_pred, "prediction")
    if t.size != p.size:
        raise InputError(None, f"truth has {t.size} values but prediction has {p.size}")
    return t, p


def _positive_var(var: Sequence[float], n: int) -> np.ndarray:
    v = _as_vector(var, "variance")
    if v.size != n:
        raise InputError(None, f"variance has {v.size} values, expected {n}")
    if np.any(v <= 0):
        raise InputError(None, f"variance: {int(np.sum(v <= 0))} value(s) <= 0")
    return v


def _bands(true_band: Sequence[int], pred_band: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    t, p = _pair(true_band, pred_band)
    for name, b in (("true band", t), ("predicted band", p)):
        if np.any((b != np.round(b)) | (b < 0) | (b >= N_BANDS)):
            raise InputError(None, f"{name}: values must be integers 0..{N_BANDS - 1}")
    return t.astype(np.int64), p.astype(np.int64)
