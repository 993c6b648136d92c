"""The paper's result tables, computed from depsev's own predictions.

Three steps, each a function:

:func:`evaluate_predictions`
    one (model, seed, split) chunk-prediction table -> one metrics dict (the JSON the workflow
    writes per run).  Its structure::

        {"level": "participant",            # what the headline numbers are computed on
         "split": "test", "n_participants": 56, "n_chunks": 331,
         "interval_variance": "mixture",    # which aggregated variance the intervals use
         "participant": all_metrics(participants, "participant"),   # THE headline numbers
         "chunk_level": all_metrics(chunks, "chunk"),               # beside it, labelled
         "by_interviewer": metrics_by(participants, "interviewer"),
         "by_gender": metrics_by(participants, "gender"),
         "mean_predictor": mean_predictor_metrics(train_scores, participants)}

    (``all_metrics`` and friends are in :mod:`depsev.evaluate.metrics`; the participants are the
    chunks aggregated by :func:`depsev.evaluate.aggregate.aggregate_participants`).  Values can be
    NaN where a metric is undefined (e.g. CCC of one participant); Python's ``json`` writes and
    reads them as ``NaN``.
:func:`comparison_grid`
    the paper's Table 5: model family (random forest, ResNet, LSTM, MoE fusion) x modality (audio,
    video, fusion), per split participant-level metrics as ``"mean ± sd (n seeds)"`` strings and as
    numeric ``_mean`` / ``_sd`` columns, the chunk-level MAE beside them in columns named
    ``chunk_level``.
:func:`headline_table`
    the real run against the shuffled-label control, the training-mean predictor and -- on the
    synthetic cohort -- the generator's oracle, with a flag when the control beats the mean
    predictor (then the pipeline leaks labels or the cohort has a label-free shortcut).

Model names are ``<family>-<modality>[-<variant>]`` (``moe-fusion``, ``lstm-audio``,
``rf-video``, ``moe-fusion-shuffled``); :func:`parse_model_name` splits them.  Every table carries a
``dataset`` column from :func:`dataset_label` so that numbers on the synthetic demo cohort can never
be mistaken for numbers on a real corpus.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from depsev.constants import SPLITS
from depsev.errors import InputError
from depsev.evaluate.aggregate import (
    DEFAULT_INTERVAL_VARIANCE,
    Source,
    aggregate_participants,
    validate_chunks,
)
from depsev.evaluate.metrics import all_metrics, mean_predictor_metrics, mean_sd_over_seeds, metrics_by

#: ``dataset.kind`` -> corpus name used in labels
CORPUS_NAMES = {"demo": "synthetic demo cohort", "edaic": "E-DAIC", "daic-woz": "DAIC-WOZ"}
#: short family prefix of a model name -> the family's name in the tables, in table order
FAMILIES = {"rf": "random forest", "resnet": "ResNet", "lstm": "LSTM", "moe": "MoE fusion",
            "expert": "single expert"}
#: families that make up the paper's Table 5 grid (every modality gets a row, run or not)
GRID_FAMILIES = ("rf", "resnet", "lstm", "moe")
GRID_MODALITIES = ("audio", "video", "fusion")
#: participant-level metrics of the comparison grid, in column order
GRID_METRICS = ("mae", "rmse", "ccc", "mse_norm", "rmse_norm", "mae_norm", "accuracy", "macro_f1",
                "f1_binary", "nll", "coverage_50", "coverage_90")
#: chunk-level metrics shown beside them (column ``<split>_chunk_level_<metric>``)
GRID_CHUNK_METRICS = ("mae",)
#: metrics of the headline table
HEADLINE_METRICS = ("mae", "rmse", "ccc", "accuracy", "macro_f1", "f1_binary", "nll", "coverage_90")
#: decimals used in the "mean ± sd" strings
_DECIMALS = {"mse_norm": 4, "rmse_norm": 4, "mae_norm": 4}
NOT_RUN = "not run"
EVALUATED_SPLITS = ("dev", "test")

#: row kinds of the headline table
ROW_REAL, ROW_CONTROL, ROW_MEAN, ROW_ORACLE = ("real run", "shuffled-label control", "mean predictor",
                                              "generator oracle (synthetic ground truth)")


# ---------------------------------------------------------------- labels
def dataset_label(kind: str) -> str:
    """``"depsev, on synthetic demo cohort"`` for ``demo``, else ``"depsev, on <corpus>"``."""
    return f"depsev, on {CORPUS_NAMES.get(kind, kind)}"


def figure_label(kind: str) -> str:
    """Text for figure titles: ``"SYNTHETIC demo cohort"`` for ``demo``, else the corpus name."""
    return "SYNTHETIC demo cohort" if kind == "demo" else CORPUS_NAMES.get(kind, kind)


def is_synthetic(kind: str) -> bool:
    """Whether ``dataset.kind`` is the synthetic demo cohort."""
    return kind == "demo"


@dataclass(frozen=True)
class ModelName:
    """A model name split into family (``moe``), modality (``fusion``) and variant (``shuffled`` or "")."""

    name: str
    family: str
    modality: str
    variant: str = ""

    @property
    def family_label(self) -> str:
        return FAMILIES[self.family]


_NAME = re.compile(r"^(?P<family>[a-z]+)-(?P<modality>audio|video|fusion)(?:-(?P<variant>[a-z0-9_-]+))?$")


def parse_model_name(name: str) -> ModelName:
    """``<family>-<modality>[-<variant>]`` -> :class:`ModelName` (InputError for anything else)."""
    m = _NAME.match(str(name))
    if m is None or m["family"] not in FAMILIES:
        raise InputError(None, f"model name {name!r} is not <family>-<modality>[-<variant>] with family in "
                               f"{sorted(FAMILIES)} and modality in {list(GRID_MODALITIES)}")
    return ModelName(str(name), m["family"], m["modality"], m["variant"] or "")


# ---------------------------------------------------------------- one run
def evaluate_predictions(pred_df: pd.DataFrame, train_scores: Sequence[float], *,
                         interval_variance: str = DEFAULT_INTERVAL_VARIANCE,
                         source: Source = None) -> dict[str, Any]:
    """All metrics of one (model, seed, split) chunk-prediction table (structure: module docstring).

    ``pred_df`` holds the chunk predictions of ONE split (columns of
    :data:`depsev.evaluate.aggregate.CHUNK_COLUMNS`); ``train_scores`` are the training
    participants' PHQ-8 scores (one per participant) for the mean-predictor baseline.
    Raises :class:`InputError` for invalid tables or a table mixing splits.
    """
    chunks = validate_chunks(pred_df, source)
    splits = sorted(chunks["split"].astype(str).unique())
    if len(splits) != 1:
        raise InputError(source, f"a prediction table must hold one split, this one holds {splits}")
    participants = aggregate_participants(chunks, interval_variance=interval_variance, source=source)
    return {
        "level": "participant",
        "split": splits[0],
        "n_participants": int(len(participants)),
        "n_chunks": int(len(chunks)),
        "interval_variance": interval_variance,
        "participant": all_metrics(participants, "participant", source=source),
        "chunk_level": all_metrics(chunks, "chunk", source=source),
        "by_interviewer": metrics_by(participants, "interviewer", source=source),
        "by_gender": metrics_by(participants, "gender", source=source),
        "mean_predictor": mean_predictor_metrics(train_scores, participants, source=source),
    }


RunKey = tuple[str, int, str]


def read_metrics_tree(root: str | Path) -> dict[RunKey, dict[str, Any]]:
    """Read ``<root>/<model>/seed<k>/<split>.json`` files into ``{(model, seed, split): metrics}``.

    Other files (names that are not a split, folders not named ``seed<k>``) are not metrics and are
    not read.  InputError when ``root`` holds no metrics file or one is not valid JSON.
    """
    base = Path(root)
    out: dict[RunKey, dict[str, Any]] = {}
    for path in sorted(base.glob("*/seed*/*.json")):
        seed = path.parent.name[len("seed"):]
        if not seed.isdigit() or path.stem not in SPLITS:
            continue
        try:
            out[(path.parent.parent.name, int(seed), path.stem)] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})") from exc
    if not out:
        raise InputError(base, "no metrics files <model>/seed<k>/<split>.json found")
    return out


# ---------------------------------------------------------------- over seeds
def summarise_runs(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]]
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(model, split): mean_sd_over_seeds(...) + {"seeds": [...]}}`` of the per-run metrics dicts."""
    grouped: dict[tuple[str, str], list[tuple[int, Mapping[str, Any]]]] = {}
    for key, metrics in metrics_by_model_seed.items():
        if not (isinstance(key, tuple) and len(key) == 3):
            raise InputError(None, f"metrics must be keyed by (model, seed, split), got key {key!r}")
        model, seed, split = key
        grouped.setdefault((str(model), str(split)), []).append((int(seed), metrics))
    out = {}
    for (model, split), runs in grouped.items():
        runs.sort(key=lambda r: r[0])
        try:
            summary = mean_sd_over_seeds([m for _, m in runs])
        except InputError as err:
            raise InputError(None, f"model {model!r}, split {split!r}: {err.problem}") from None
        summary["seeds"] = [s for s, _ in runs]
        out[(model, split)] = summary
    return out


def format_mean_sd(stat: Mapping[str, Any] | None, decimals: int = 3) -> str:
    """``"3.120 ± 0.402 (3 seeds)"``; one seed: ``"3.120 (1 seed, no sd)"``; undefined seeds are named."""
    if stat is None:
        return NOT_RUN
    n, n_nan = int(stat.get("n", 0)), int(stat.get("n_nan", 0))
    undefined = f", undefined in {n_nan}" if n_nan else ""
    if n == 0:
        return f"undefined ({n_nan} seed{'s' if n_nan != 1 else ''})"
    mean = f"{stat['mean']:.{decimals}f}"
    if n == 1:
        return f"{mean} (1 seed, no sd{undefined})"
    return f"{mean} ± {stat['sd']:.{decimals}f} ({n} seeds{undefined})"


def _stat(summary: Mapping[str, Any] | None, section: str, metric: str) -> Mapping[str, Any] | None:
    if summary is None:
        return None
    value = summary.get(section, {}).get(metric)
    if value is None:
        raise InputError(None, f"metrics have no {section}.{metric}")
    return value


def _metric_cells(prefix: str, stat: Mapping[str, Any] | None, metric: str) -> dict[str, Any]:
    return {prefix: format_mean_sd(stat, _DECIMALS.get(metric, 3)),
            f"{prefix}_mean": math.nan if stat is None else float(stat["mean"]),
            f"{prefix}_sd": math.nan if stat is None else float(stat["sd"])}


# ---------------------------------------------------------------- Table 5
def comparison_grid(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]], dataset: str, *,
                    splits: Iterable[str] = EVALUATED_SPLITS) -> pd.DataFrame:
    """The paper's Table 5 from per-run metrics (:func:`evaluate_predictions` dicts).

    ``metrics_by_model_seed``: ``{(model, seed, split): metrics}``; ``dataset``: the
    :func:`dataset_label`.  Rows: every family of :data:`GRID_FAMILIES` x every modality (a
    combination that was not run has ``n_seeds`` 0 and the text "not run"), then any other model
    (other families, variants such as ``-shuffled``) in name order, each labelled by ``variant``.
    Columns: ``dataset, model, family, modality, variant``, then per split ``<split>_n_seeds`` and
    per participant-level metric ``<split>_<metric>`` (text), ``<split>_<metric>_mean``,
    ``<split>_<metric>_sd``, then the chunk-level ones as ``<split>_chunk_level_<metric>...``.
    """
    splits = tuple(splits)
    summaries = summarise_runs(metrics_by_model_seed)
    names = sorted({model for model, _ in summaries})
    parsed = {n: parse_model_name(n) for n in names}
    grid = [f"{f}-{m}" for f in GRID_FAMILIES for m in GRID_MODALITIES]
    extra = [n for n in names if n not in grid]
    rows = []
    for name in grid + extra:
        mn = parsed.get(name) or parse_model_name(name)
        row: dict[str, Any] = {"dataset": dataset, "model": name, "family": mn.family_label,
                               "modality": mn.modality, "variant": mn.variant}
        for split in splits:
            summary = summaries.get((name, split))
            row[f"{split}_n_seeds"] = 0 if summary is None else len(summary["seeds"])
            for metric in GRID_METRICS:
                row.update(_metric_cells(f"{split}_{metric}", _stat(summary, "participant", metric), metric))
            for metric in GRID_CHUNK_METRICS:
                row.update(_metric_cells(f"{split}_chunk_level_{metric}",
                                         _stat(summary, "chunk_level", metric), metric))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- headline
def read_oracle(path: str | Path) -> dict[str, Any]:
    """The synthetic generator's ``ground_truth/oracle.json`` (InputError when absent or malformed)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "oracle file not found")
    try:
        report = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(p, f"not valid JSON ({exc.msg})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("splits"), dict):
        raise InputError(p, "oracle file has no 'splits' mapping")
    return report


def headline_table(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]], dataset: str, *,
                   model: str = "moe-fusion", control: str | None = "moe-fusion-shuffled",
                   oracle: Mapping[str, Any] | str | Path | None = None,
                   splits: Iterable[str] = EVALUATED_SPLITS) -> pd.DataFrame:
    """Real run vs shuffled-label control vs training-mean predictor (vs the synthetic oracle).

    Per split: one row ``real run`` (``model`` over its seeds), one ``shuffled-label control``
    (``control``; skipped when ``None``), one ``mean predictor`` (from the real run's
    ``mean_predictor`` metrics: deterministic, so its sd is 0 or NaN) and, when ``oracle`` is given
    (the generator's ``oracle.json`` or its path: on the synthetic cohort), one generator-oracle row
    (MAE, RMSE, CCC only: the oracle gives no distribution or band).  Columns: ``dataset, split, row,
    model, n_seeds``, per metric text / ``_mean`` / ``_sd``, ``mae_minus_mean_predictor`` and
    ``control_beats_mean_predictor`` (same value on every row of a split: True when the control's
    mean participant MAE is below the mean predictor's -- a warning sign of label leakage),
    ``note``.  InputError when ``model`` (or ``control``) has no metrics for a split.
    """
    summaries = summarise_runs(metrics_by_model_seed)
    report = read_oracle(oracle) if isinstance(oracle, (str, Path)) else oracle
    rows: list[dict[str, Any]] = []
    for split in splits:
        real = _require_summary(summaries, model, split)
        split_rows = [_headline_row(ROW_REAL, model, real, "participant", split)]
        if control is not None:
            split_rows.append(_headline_row(ROW_CONTROL, control, _require_summary(summaries, control, split),
                                            "participant", split))
        mean_row = _headline_row(ROW_MEAN, "training-mean predictor", real, "mean_predictor", split)
        split_rows.append(mean_row)
        if report is not None:
            split_rows.append(_oracle_row(report, split))
        mean_mae = mean_row["mae_mean"]
        beats = bool(control is not None and split_rows[1]["mae_mean"] < mean_mae)
        for row in split_rows:
            row["mae_minus_mean_predictor"] = row["mae_mean"] - mean_mae
            row["control_beats_mean_predictor"] = beats
        if beats:
            split_rows[1]["note"] = (f"WARNING: the shuffled-label control beats the mean predictor (MAE "
                                     f"{split_rows[1]['mae_mean']:.3f} < {mean_mae:.3f}): labels leak into "
                                     "the inputs or the data hold a label-free shortcut")
        rows.extend(split_rows)
    table = pd.DataFrame(rows)
    table.insert(0, "dataset", dataset)
    return table


def _require_summary(summaries: Mapping[tuple[str, str], dict[str, Any]], model: str, split: str
                     ) -> dict[str, Any]:
    if (model, split) not in summaries:
        known = sorted({m for m, s in summaries if s == split})
        raise InputError(None, f"no metrics for model {model!r} on split {split!r} (models with {split} "
                               f"metrics: {known})")
    return summaries[(model, split)]


def _headline_row(kind: str, model: str, summary: Mapping[str, Any], section: str, split: str
                  ) -> dict[str, Any]:
    row: dict[str, Any] = {"split": split, "row": kind, "model": model, "n_seeds": len(summary["seeds"])}
    for metric in HEADLINE_METRICS:
        stat = _stat(summary, section, metric)
        row.update(_metric_cells(metric, stat, metric))
        if kind == ROW_MEAN and stat is not None and stat["n"] > 0:  # deterministic: no spread to show
            row[metric] = f"{stat['mean']:.{_DECIMALS.get(metric, 3)}f} (deterministic)"
    row["note"] = ("predicts the training mean (and variance) for everyone; the same in every seed's "
                   "metrics" if kind == ROW_MEAN else "")
    return row


def _oracle_row(report: Mapping[str, Any], split: str) -> dict[str, Any]:
    entry = report.get("splits", {}).get(split, {}).get("oracle")
    if not isinstance(entry, Mapping) or not all(k in entry for k in ("mae", "rmse", "ccc")):
        raise InputError(None, f"oracle report has no oracle mae/rmse/ccc for split {split!r}")
    row: dict[str, Any] = {"split": split, "row": ROW_ORACLE, "model": "generator oracle", "n_seeds": 0}
    for metric in HEADLINE_METRICS:
        value = entry.get(metric)
        stat = None if value is None else {"mean": float(value), "sd": math.nan, "n": 1, "n_nan": 0}
        row.update(_metric_cells(metric, stat, metric))
        if stat is not None:
            row[metric] = f"{float(value):.{_DECIMALS.get(metric, 3)}f} (exact, no seeds)"
        else:
            row[metric] = "n/a"
    row["note"] = ("the synthetic generator's planted-effect oracle (nothing fitted): the best a model "
                   "can expect on this cohort")
    return row

