"""Chunk predictions -> one prediction per participant (the level every headline number uses).

A model predicts, for every chunk ``i`` of a participant's session, a Gaussian ``N(mu_i, var_i)`` of
the PHQ-8 score (on the PHQ-8 scale: ``mu`` in points, ``var`` in points squared) and band
probabilities ``p_band_0..4``.  Per participant, :func:`aggregate_participants` computes:

``mu``
    a weighted mean ``sum(w_i mu_i) / sum(w_i)`` of the chunk means (or their median), with the chunk
    weights ``w_i`` picked by ``weighting`` (:data:`WEIGHTINGS`):

    ``precision``
        ``w_i = 1 / var_i``: a chunk the model is unsure about counts less (the inverse-variance, i.e.
        maximum-likelihood, combination of independent Gaussian estimates of one quantity).  Its
        weakness: ``var`` goes down to 0.01 points^2, so ONE over-confident chunk can outweigh all the
        others by a factor of 100 or more and decide the participant alone (three chunks at 15 with
        ``var`` 4 and one at 2 with ``var`` 0.01 give ``mu`` ~ 2.1, with an interval far from 15).
    ``mean``
        ``w_i = 1``: the plain mean of the chunk means; ignores the model's per-chunk uncertainty.
    ``capped`` (the default, :data:`DEFAULT_WEIGHTING`)
        ``w_i = 1 / max(var_i, median_j var_j)`` over the participant's chunks ``j``: a chunk less sure
        than the participant's typical chunk is down-weighted as under ``precision``, but no chunk
        weighs more than a chunk of median variance, so a single over-confident chunk counts like a
        typical one (in the example above: ``mu`` = 11.75, 90% interval 2.1..21.4).  With one chunk, or
        chunks of equal variance, it equals ``precision``.  The default because it keeps the
        information in the variances where they are plausible and cannot be hijacked by one chunk.
    ``median``
        ``mu`` = the median of the chunk means (the mean of the middle two for an even count); the
        variance terms below use ``w_i = 1``.  The most robust to outlying chunks, but ignores the
        variances entirely.

    Which one a model's numbers use is chosen on DEV predictions only by :func:`choose_weighting`
    (lowest mean participant MAE over the seeds); the rule ``evaluate`` then scores every split with it.
``var_independent``
    ``1 / sum(1 / var_i)`` whatever the weighting: the variance of the precision-weighted mean IF the
    chunk errors were independent.  It shrinks like ``1 / n_chunks``: a 60-minute session would get
    intervals ~2x narrower than a 15-minute one from the same model.
``var_within``
    the weighted mean of the chunk variances, ``sum(w_i var_i) / sum(w_i)`` (under ``precision``
    ``n / sum(1/var_i)``, the harmonic mean of ``var_i``; under ``mean`` and ``median`` the arithmetic
    mean): the typical chunk's uncertainty; does not shrink with ``n``.
``var_mixture``
    ``var_within + sum(w_i (mu_i - mu)^2) / sum(w_i)``: the typical chunk's uncertainty plus the
    disagreement between chunks around ``mu`` (for the weighted means this is the variance of the
    ``w``-weighted mixture of the chunk Gaussians, ``sum(w_i (var_i + mu_i^2)) / sum(w_i) - mu^2``; for
    ``median`` the spread is taken around the median).  Does not shrink with ``n``.
``var``
    the variance used for intervals, NLL and coverage: one of the three above, ``var_mixture`` by
    default.  Why not ``var_independent``: all chunks of a person come from one speaker, one session,
    one microphone and one interviewer, so their errors are strongly correlated -- what the model gets
    wrong about a person it gets wrong in every chunk.  Treating them as independent samples would
    make the intervals over-confident, the more so the longer the session.  The mixture variance keeps
    the per-chunk uncertainty and widens the interval when the chunks disagree.
``p_band_0..4``, ``pred_band``
    the (unweighted) mean of the chunk band probabilities and its argmax (ties -> the lower band, as
    ``numpy.argmax``).
``n_chunks``
    how many chunks were combined.

The output's ``attrs`` record ``interval_variance`` and ``weighting``.

The truth columns (``phq_score``, ``interviewer``, ``gender``, ``split``) must be identical on every
chunk of a participant; they are carried over, plus ``band`` (the true severity band).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.constants import (
    CHUNK_WEIGHTINGS,
    DEFAULT_CHUNK_WEIGHTING,
    INTERVIEWERS,
    N_BANDS,
    P_BAND_COLUMNS,
    PHQ_MAX,
    PHQ_MIN,
    SPLITS,
)
from depsev.errors import InputError

TRUTH_COLUMNS = ["phq_score", "interviewer", "gender", "split"]
#: columns a chunk-prediction table must have
CHUNK_COLUMNS = ["participant_id", "mu", "var", *P_BAND_COLUMNS, *TRUTH_COLUMNS]
#: choices for the variance used for intervals (``var`` column of the output)
INTERVAL_VARIANCES = ("mixture", "within", "independent")
DEFAULT_INTERVAL_VARIANCE = "mixture"
#: choices for the chunk weights (module docstring); the order breaks ties in :func:`choose_weighting`
WEIGHTINGS = CHUNK_WEIGHTINGS
#: the robust choice: no single over-confident chunk decides a participant
DEFAULT_WEIGHTING = DEFAULT_CHUNK_WEIGHTING
#: dev MAEs closer than this count as equal in :func:`choose_weighting` (points)
WEIGHTING_TIE_TOLERANCE = 1e-9
#: columns of :func:`compare_weightings`' table
WEIGHTING_COMPARISON_COLUMNS = ["weighting", "n_seeds", "mae_mean", "mae_sd", "coverage_50_mean",
                                "coverage_90_mean"]
#: band probabilities of a chunk must sum to 1 within this (float32 softmax outputs)
PROB_SUM_TOLERANCE = 1e-3
#: columns of the participant table, in order
PARTICIPANT_COLUMNS = ["participant_id", "split", "interviewer", "gender", "phq_score", "band", "mu", "var",
                       "var_independent", "var_within", "var_mixture", *P_BAND_COLUMNS, "pred_band",
                       "n_chunks"]

Source = str | Path | None


def aggregate_participants(chunks: pd.DataFrame, *, interval_variance: str = DEFAULT_INTERVAL_VARIANCE,
                           weighting: str = DEFAULT_WEIGHTING, source: Source = None) -> pd.DataFrame:
    """One row per participant from chunk predictions (see the module docstring for every column).

    ``chunks`` needs the columns :data:`CHUNK_COLUMNS`; ``interval_variance`` picks what goes into
    ``var`` (``mixture`` | ``within`` | ``independent``); ``weighting`` the chunk weights
    (:data:`WEIGHTINGS`, default ``capped``); ``source`` names the table in errors.
    Raises :class:`InputError` for an unknown choice, an empty table, missing columns, missing or
    non-finite values, ``var <= 0``, band probabilities outside 0..1 or not summing to 1, PHQ-8 scores
    outside 0..24, unknown interviewer/split values, or truth columns that differ between chunks of one
    participant.  Rows are sorted by ``participant_id``.
    """
    _check_choices(interval_variance, weighting, source)
    return _aggregate(validate_chunks(chunks, source), interval_variance, weighting)


def _check_choices(interval_variance: str, weighting: str, source: Source) -> None:
    if interval_variance not in INTERVAL_VARIANCES:
        raise InputError(source, f"interval_variance {interval_variance!r} is not one of "
                                 f"{INTERVAL_VARIANCES}")
    if weighting not in WEIGHTINGS:
        raise InputError(source, f"weighting {weighting!r} is not one of {WEIGHTINGS}")


def chunk_weights(df: pd.DataFrame, weighting: str) -> pd.Series:
    """The weight ``w_i`` of every chunk under ``weighting`` (module docstring); ``df`` is validated."""
    var = df["var"]
    if weighting == "precision":
        return 1.0 / var
    if weighting == "capped":
        typical = var.groupby(df["participant_id"]).transform("median")
        return 1.0 / np.maximum(var, typical)
    return pd.Series(1.0, index=df.index)  # mean, median


def _aggregate(df: pd.DataFrame, interval_variance: str, weighting: str) -> pd.DataFrame:
    """:func:`aggregate_participants` on a table already checked by :func:`validate_chunks`."""
    w = chunk_weights(df, weighting)
    pid = df["participant_id"]
    groups = df.groupby("participant_id", sort=True)
    sum_w = w.groupby(pid).sum()
    if weighting == "median":
        mu = groups["mu"].median()
    else:
        mu = (w * df["mu"]).groupby(pid).sum() / sum_w
    var_within = (w * df["var"]).groupby(pid).sum() / sum_w
    spread = (w * (df["mu"] - pid.map(mu)) ** 2).groupby(pid).sum() / sum_w
    out = groups[TRUTH_COLUMNS].first()
    if (out["phq_score"] == out["phq_score"].round()).all():  # PHQ-8 totals are whole numbers
        out["phq_score"] = out["phq_score"].astype(np.int64)
    out["band"] = band_of_scores(out["phq_score"].to_numpy())
    out["mu"] = mu
    out["var_independent"] = 1.0 / (1.0 / df["var"]).groupby(pid).sum()
    out["var_within"] = var_within
    out["var_mixture"] = var_within + spread
    out["var"] = out[f"var_{interval_variance}"]
    probs = groups[P_BAND_COLUMNS].mean()
    out[P_BAND_COLUMNS] = probs
    out["pred_band"] = np.argmax(probs.to_numpy(), axis=1).astype(np.int64)
    out["n_chunks"] = groups.size().astype(np.int64)
    out = out.reset_index()[PARTICIPANT_COLUMNS]
    out.attrs["interval_variance"] = interval_variance
    out.attrs["weighting"] = weighting
    return out


# ---------------------------------------------------------------- choosing the weighting on dev
def compare_weightings(dev_chunk_tables: Sequence[pd.DataFrame], *,
                       interval_variance: str = DEFAULT_INTERVAL_VARIANCE,
                       sources: Sequence[Source] | None = None) -> pd.DataFrame:
    """Participant-level dev MAE and interval coverage of every weighting, over a model's seeds.

    ``dev_chunk_tables``: the chunk predictions on the DEV split of each seed of one model (columns of
    :data:`CHUNK_COLUMNS`); ``sources`` (optional, one per table) names them in errors.  Each table is
    aggregated under every weighting of :data:`WEIGHTINGS` (intervals from ``interval_variance``) and
    scored with :mod:`depsev.evaluate.metrics`.  Returns one row per weighting, in :data:`WEIGHTINGS`
    order, with the columns :data:`WEIGHTING_COMPARISON_COLUMNS`: ``n_seeds`` (tables), ``mae_mean`` /
    ``mae_sd`` (points; mean and sd with ddof 1 -- NaN for one table -- over the tables of the
    participant MAE), ``coverage_50_mean`` / ``coverage_90_mean`` (mean share of truths inside the
    central 50% / 90% intervals).

    Only dev predictions may be passed: choosing the aggregation on test predictions would tune on the
    test split.  InputError when no table is given, ``sources`` does not match, a table is invalid, or
    its ``split`` column holds anything but ``dev``.
    """
    from depsev.evaluate.metrics import interval_coverage, mae  # metrics imports this module

    tables = list(dev_chunk_tables)
    names = [None] * len(tables) if sources is None else list(sources)
    if not tables:
        raise InputError(None, "no dev prediction tables to compare the weightings on")
    if len(names) != len(tables):
        raise InputError(None, f"{len(names)} source name(s) for {len(tables)} table(s)")
    _check_choices(interval_variance, DEFAULT_WEIGHTING, None)
    scores: dict[str, list[tuple[float, float, float]]] = {w: [] for w in WEIGHTINGS}
    for i, (table, name) in enumerate(zip(tables, names, strict=True)):
        source = name if name is not None else f"dev prediction table {i + 1} of {len(tables)}"
        if isinstance(table, pd.DataFrame) and "split" in table and not (table["split"] == "dev").all():
            found = sorted(set(table["split"].astype(str)) - {"dev"})
            raise InputError(source, f"the weighting may only be chosen on dev predictions, but this table "
                                     f"holds split(s) {found}")
        chunks = validate_chunks(table, source)
        for weighting in WEIGHTINGS:
            people = _aggregate(chunks, interval_variance, weighting)
            y, mu, var = (people[c].to_numpy() for c in ("phq_score", "mu", "var"))
            scores[weighting].append((mae(y, mu), interval_coverage(y, mu, var, 0.5),
                                      interval_coverage(y, mu, var, 0.9)))
    rows = []
    for weighting, per_table in scores.items():
        maes, cov50, cov90 = np.asarray(per_table, dtype=float).T
        rows.append({"weighting": weighting, "n_seeds": len(per_table), "mae_mean": float(maes.mean()),
                     "mae_sd": float(maes.std(ddof=1)) if maes.size > 1 else np.nan,
                     "coverage_50_mean": float(cov50.mean()), "coverage_90_mean": float(cov90.mean())})
    return pd.DataFrame(rows, columns=WEIGHTING_COMPARISON_COLUMNS)


def choose_weighting(dev_chunk_tables: Sequence[pd.DataFrame], *,
                     interval_variance: str = DEFAULT_INTERVAL_VARIANCE,
                     sources: Sequence[Source] | None = None, fixed: str | None = None
                     ) -> tuple[str, pd.DataFrame]:
    """The weighting with the lowest mean dev participant MAE, and the comparison behind it.

    ``fixed``: no choice, that weighting is used and marked ``chosen`` (the table is still computed).
    The shuffled-label control takes :data:`DEFAULT_WEIGHTING` this way: a choice on the true dev
    labels would be one more selection on them, which the control must not make.

    Arguments and errors as :func:`compare_weightings` (DEV predictions only).  MAE is the criterion
    because it is the headline metric; coverage is reported beside it, not optimised.  Mean MAEs within
    :data:`WEIGHTING_TIE_TOLERANCE` of the lowest count as tied, and a tie goes to the earliest entry of
    :data:`WEIGHTINGS` (``precision`` before ``mean`` before ``capped`` before ``median``).  Returns
    ``(name, table)``: the table of :func:`compare_weightings` plus a boolean column ``chosen``.
    """
    if fixed is not None and fixed not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {fixed!r}")
    table = compare_weightings(dev_chunk_tables, interval_variance=interval_variance, sources=sources)
    if fixed is not None:
        name = fixed
    else:
        best = float(table["mae_mean"].min())
        tied = table["mae_mean"] <= best + WEIGHTING_TIE_TOLERANCE
        name = str(table.loc[tied, "weighting"].iloc[0])  # rows are in WEIGHTINGS order
    table["chosen"] = table["weighting"] == name
    return name, table


def band_of_scores(scores: np.ndarray) -> np.ndarray:
    """Severity band 0..4 of each PHQ-8 score (0-4, 5-9, 10-14, 15-19, 20-24); scores must be in 0..24."""
    s = np.asarray(scores, dtype=float)
    if np.any(~np.isfinite(s)) or np.any((s < PHQ_MIN) | (s > PHQ_MAX)):
        raise ValueError(f"PHQ-8 scores must be finite and within {PHQ_MIN}..{PHQ_MAX}")
    return np.minimum(np.floor(s / 5), N_BANDS - 1).astype(np.int64)


def validate_chunks(chunks: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check a chunk-prediction table; return a copy with numeric columns as float64 and int64 IDs."""
    df = require_table(chunks, CHUNK_COLUMNS, source)
    df["participant_id"] = integer_ids(df["participant_id"], source)
    for col in ["mu", "var", *P_BAND_COLUMNS, "phq_score"]:
        df[col] = finite_column(df, col, source)
    require_positive_var(df, source)
    probs = df[P_BAND_COLUMNS].to_numpy()
    off_sum = np.abs(probs.sum(axis=1) - 1) > PROB_SUM_TOLERANCE
    bad = (probs < 0).any(axis=1) | (probs > 1).any(axis=1) | off_sum
    if bad.any():
        raise InputError(source, f"{int(bad.sum())} row(s) have band probabilities outside 0..1 or not "
                                 f"summing to 1 (+-{PROB_SUM_TOLERANCE}), participants "
                                 f"{_ids(df.loc[bad, 'participant_id'])}")
    require_phq_range(df, source)
    for col, allowed in (("interviewer", INTERVIEWERS), ("split", SPLITS), ("gender", None)):
        _check_labels(df, col, allowed, source)
    _check_consistent_truth(df, source)
    return df


def require_table(table: pd.DataFrame, columns: list[str], source: Source) -> pd.DataFrame:
    """A copy of ``table`` (a non-empty DataFrame holding ``columns``), else :class:`InputError`."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(source, f"expected a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise InputError(source, "the table is empty: nothing to evaluate")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(source, f"missing column(s) {missing}")
    return table.copy()


def integer_ids(ids: pd.Series, source: Source) -> pd.Series:
    """Participant IDs as int64 (InputError when missing or not whole numbers)."""
    values = pd.to_numeric(ids, errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        raise InputError(source, f"{int(bad.sum())} row(s) have a missing or non-integer participant_id "
                                 f"(e.g. {ids[bad].head(3).tolist()})")
    return values.astype(np.int64)


def finite_column(df: pd.DataFrame, col: str, source: Source) -> pd.Series:
    """Column ``col`` as float64; InputError when not numeric or when any value is NaN/inf."""
    values = pd.to_numeric(df[col], errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        where = f", participants {_ids(df.loc[bad, 'participant_id'])}" if "participant_id" in df else ""
        raise InputError(source, f"column {col!r}: {int(bad.sum())} missing, non-numeric or infinite "
                                 f"value(s){where}")
    return values


def require_positive_var(df: pd.DataFrame, source: Source) -> None:
    """InputError unless every ``var`` is > 0."""
    bad = (df["var"] <= 0).to_numpy()
    if bad.any():
        where = f", participants {_ids(df.loc[bad, 'participant_id'])}" if "participant_id" in df else ""
        raise InputError(source, f"column 'var': {int(bad.sum())} value(s) <= 0 (a variance must be "
                                 f"positive){where}")


def require_phq_range(df: pd.DataFrame, source: Source) -> None:
    """InputError unless every ``phq_score`` is within 0..24."""
    bad = ((df["phq_score"] < PHQ_MIN) | (df["phq_score"] > PHQ_MAX)).to_numpy()
    if bad.any():
        raise InputError(source, f"column 'phq_score': {int(bad.sum())} value(s) outside "
                                 f"{PHQ_MIN}..{PHQ_MAX} (e.g. {df.loc[bad, 'phq_score'].head(3).tolist()})")


def _check_labels(df: pd.DataFrame, col: str, allowed: tuple[str, ...] | None, source: Source) -> None:
    missing = df[col].isna().to_numpy()
    if missing.any():
        raise InputError(source, f"column {col!r}: {int(missing.sum())} missing value(s), participants "
                                 f"{_ids(df.loc[missing, 'participant_id'])}")
    if allowed is not None:
        unknown = sorted(set(df[col].astype(str)) - set(allowed))
        if unknown:
            raise InputError(source, f"column {col!r}: unknown value(s) {unknown} (expected {list(allowed)})")


def _check_consistent_truth(df: pd.DataFrame, source: Source) -> None:
    counts = df.groupby("participant_id")[TRUTH_COLUMNS].nunique(dropna=False)
    bad = counts > 1
    if bad.to_numpy().any():
        rows = bad.any(axis=1)
        cols = [c for c in TRUTH_COLUMNS if bad[c].any()]
        raise InputError(source, f"truth differs between chunks of one participant (columns {cols}) for "
                                 f"participants {_ids(pd.Series(counts.index[rows]))}")


def _ids(ids: pd.Series, limit: int = 5) -> str:
    """Up to ``limit`` distinct IDs, for messages."""
    uniq = list(dict.fromkeys(ids.tolist()))
    more = f" and {len(uniq) - limit} more" if len(uniq) > limit else ""
    return f"{uniq[:limit]}{more}"
