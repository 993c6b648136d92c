"""The paper's result tables, computed from depsev's own predictions.

Four steps, each a function:

:func:`evaluate_predictions`
    one (model, seed, split) chunk-prediction table -> one metrics dict (the JSON the workflow
    writes per run).  Its structure::

        {"level": "participant",            # what the headline numbers are computed on
         "split": "test", "n_participants": 56, "n_chunks": 331,
         "interval_variance": "mixture",    # which aggregated variance the intervals use
         "weighting": "capped",             # how chunks were weighted (chosen on dev)
         "weighting_choice": [...],         # the dev comparison behind that choice, as records
         "participant": all_metrics(participants, "participant"),   # THE headline numbers
         "chunk_level": all_metrics(chunks, "chunk"),               # beside it, labelled
         "by_interviewer": metrics_by(participants, "interviewer"),
         "by_gender": metrics_by(participants, "gender"),
         "mean_predictor": mean_predictor_metrics(train_scores, participants),
         "mean_predictor_by_interviewer": {"ai": mean_predictor_metrics(train_scores, ai_participants),
                                           "woz": ...}}

    (``all_metrics`` and friends are in :mod:`depsev.evaluate.metrics`; the participants are the
    chunks aggregated by :func:`depsev.evaluate.aggregate.aggregate_participants` with the chunk
    weighting chosen on the model's dev predictions by
    :func:`depsev.evaluate.aggregate.choose_weighting`).  ``by_interviewer`` and
    ``mean_predictor_by_interviewer`` are keyed by interviewer type (``ai``, ``woz``; only the types
    present).  Values can be NaN where a metric is undefined (e.g. CCC of one participant); Python's
    ``json`` writes and reads them as ``NaN``.  Metrics files written before ``weighting``,
    ``weighting_choice`` and ``mean_predictor_by_interviewer`` existed are still read: the tables show
    ``n/a`` / NaN where those are needed.
:func:`comparison_grid`
    the paper's Table 5: model family (random forest, ResNet, LSTM, MoE fusion) x modality (audio,
    video, fusion), per split participant-level metrics as ``"mean ± sd (n seeds)"`` strings and as
    numeric ``_mean`` / ``_sd`` columns, the chunk-level MAE beside them in columns named
    ``chunk_level``, and the dev metrics of the AI-agent participants alone (``dev_ai_...``).
:func:`headline_table`
    the real run against the shuffled-label control, the training-mean predictor and -- on the
    synthetic cohort -- the generator's oracle, with a flag when the control beats the mean
    predictor (then the pipeline leaks labels or the cohort has a label-free shortcut); after the dev
    rows the same rows on the dev split's AI-agent participants only (split label ``dev-ai``).
:func:`aggregation_table`
    per model, the dev comparison of the chunk weightings behind the chosen one.

Why ``dev-ai``: E-DAIC's test split is 100% AI-agent (``interviewer == "ai"``) sessions, while dev
mixes Wizard-of-Oz and AI-agent sessions; the dev numbers on AI-agent participants are the dev numbers
that describe the population the test split measures.

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
from depsev.errors import InputError, read_json
from depsev.evaluate.aggregate import (
    DEFAULT_INTERVAL_VARIANCE,
    DEFAULT_WEIGHTING,
    WEIGHTINGS,
    Source,
    aggregate_participants,
    validate_chunks,
)
from depsev.evaluate.metrics import all_metrics, mean_predictor_metrics, mean_sd_over_seeds, metrics_by
from depsev.evaluate.oracle_rows import (
    ORACLE_NOTE,
    check_oracle_participants,
    read_oracle,
    read_oracle_participants,
    split_oracle,
    subset_oracle,
)

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
HEADLINE_METRICS = ("mae", "rmse", "ccc", "accuracy", "macro_f1", "f1_binary", "nll", "coverage_50",
                    "coverage_90")
#: the interviewer subset reported beside a whole split (E-DAIC's test split is all AI-agent sessions)
SUBSET_INTERVIEWER = "ai"
#: splits whose AI-agent-only numbers are reported (split label ``<split>-ai`` in the headline table,
#: column prefix ``<split>_ai_`` in the grid)
SUBSET_SPLITS = ("dev",)
#: participant-level metrics of the grid's AI-agent-only columns
GRID_SUBSET_METRICS = ("mae", "rmse", "ccc")
#: keys of a metrics dict that are bookkeeping, not numbers to average over seeds
NOT_SUMMARISED = ("weighting_choice",)
#: what a cell says when the metrics files predate the quantity (old runs)
NOT_AVAILABLE = "n/a"
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


def with_config(table: pd.DataFrame, config_name: str) -> pd.DataFrame:
    """``table`` with a ``config`` column (the run's ``config_name``) first: which configuration
    produced it (config.yaml's "default", the paper preset's "paper")."""
    out = table.copy()
    if "config" in out.columns:
        out = out.drop(columns="config")
    out.insert(0, "config", config_name)
    return out


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
                         weighting: str = DEFAULT_WEIGHTING,
                         weighting_choice: pd.DataFrame | None = None,
                         source: Source = None) -> dict[str, Any]:
    """All metrics of one (model, seed, split) chunk-prediction table (structure: module docstring).

    ``pred_df`` holds the chunk predictions of ONE split (columns of
    :data:`depsev.evaluate.aggregate.CHUNK_COLUMNS`); ``train_scores`` are the training
    participants' PHQ-8 scores (one per participant) for the mean-predictor baseline; ``weighting``
    is the chunk weighting of the aggregation (the one :func:`~depsev.evaluate.aggregate.choose_weighting`
    picked on the model's dev predictions) and ``weighting_choice`` the comparison table it returned,
    recorded as ``weighting_choice`` records (an empty list when not given).
    Raises :class:`InputError` for invalid tables, a table mixing splits or an unknown choice.
    """
    chunks = validate_chunks(pred_df, source)
    splits = sorted(chunks["split"].astype(str).unique())
    if len(splits) != 1:
        raise InputError(source, f"a prediction table must hold one split, this one holds {splits}")
    participants = aggregate_participants(chunks, interval_variance=interval_variance, weighting=weighting,
                                          source=source)
    interviewers = participants["interviewer"].astype(str)
    choice = [] if weighting_choice is None else _records(weighting_choice)
    return {
        "level": "participant",
        "split": splits[0],
        "n_participants": int(len(participants)),
        "n_chunks": int(len(chunks)),
        "interval_variance": interval_variance,
        "weighting": weighting,
        "weighting_choice": choice,
        "participant": all_metrics(participants, "participant", source=source),
        "chunk_level": all_metrics(chunks, "chunk", source=source),
        "by_interviewer": metrics_by(participants, "interviewer", source=source),
        "by_gender": metrics_by(participants, "gender", source=source),
        "mean_predictor": mean_predictor_metrics(train_scores, participants, source=source),
        "mean_predictor_by_interviewer": {
            key: mean_predictor_metrics(train_scores, participants[interviewers == key], source=source)
            for key in sorted(interviewers.unique())},
    }


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-friendly records (numpy scalars -> Python numbers and bools)."""
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


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
        out[(path.parent.parent.name, int(seed), path.stem)] = read_json(path)
    if not out:
        raise InputError(base, "no metrics files <model>/seed<k>/<split>.json found")
    return out


# ---------------------------------------------------------------- over seeds
def summarise_runs(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]]
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(model, split): mean_sd_over_seeds(...) + {"seeds": [...]}}`` of the per-run metrics dicts.

    The keys of :data:`NOT_SUMMARISED` (``weighting_choice``: records, the same in every seed) are left
    out; :func:`aggregation_table` reads them from the per-run dicts.
    """
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
            summary = mean_sd_over_seeds([{k: v for k, v in m.items() if k not in NOT_SUMMARISED}
                                          for _, m in runs])
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


def _optional_stat(summary: Mapping[str, Any] | None, path: Sequence[str], metric: str
                   ) -> Mapping[str, Any] | None:
    """``summary[path[0]][path[1]]...[metric]``, or None where any level is absent (older metrics files,
    an interviewer type missing from the split)."""
    node: Any = summary
    for key in (*path, metric):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, Mapping) else None


def _metric_cells(prefix: str, stat: Mapping[str, Any] | None, metric: str,
                  missing: str = NOT_RUN) -> dict[str, Any]:
    return {prefix: missing if stat is None else format_mean_sd(stat, _DECIMALS.get(metric, 3)),
            f"{prefix}_mean": math.nan if stat is None else float(stat["mean"]),
            f"{prefix}_sd": math.nan if stat is None else float(stat["sd"])}


def _weighting(summary: Mapping[str, Any] | None) -> str:
    """The chunk weighting recorded in a run summary; ``n/a`` when the metrics predate it."""
    if summary is None:
        return NOT_RUN
    value = summary.get("weighting")
    return value if isinstance(value, str) else NOT_AVAILABLE


# ---------------------------------------------------------------- Table 5
def comparison_grid(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]], dataset: str, *,
                    splits: Iterable[str] = EVALUATED_SPLITS) -> pd.DataFrame:
    """The paper's Table 5 from per-run metrics (:func:`evaluate_predictions` dicts).

    ``metrics_by_model_seed``: ``{(model, seed, split): metrics}``; ``dataset``: the
    :func:`dataset_label`.  Rows: every family of :data:`GRID_FAMILIES` x every modality (a
    combination that was not run has ``n_seeds`` 0 and the text "not run"), then any other model
    (other families, variants such as ``-shuffled``) in name order, each labelled by ``variant``.
    Columns: ``dataset, model, family, modality, variant, weighting`` (the chunk weighting the model's
    numbers use, chosen on its dev predictions; ``n/a`` for metrics that predate the choice), then per
    split ``<split>_n_seeds`` and per participant-level metric ``<split>_<metric>`` (text),
    ``<split>_<metric>_mean``, ``<split>_<metric>_sd``, then the chunk-level ones as
    ``<split>_chunk_level_<metric>...``; then, for each split of :data:`SUBSET_SPLITS` among
    ``splits``, the AI-agent participants alone: ``<split>_ai_<metric>`` (+ ``_mean`` / ``_sd``) for
    :data:`GRID_SUBSET_METRICS` and ``<split>_ai_n_participants`` (mean over seeds; NaN / ``n/a`` when
    the split has no AI-agent participant).
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
        run = [summaries[(name, split)] for split in splits if (name, split) in summaries]
        row["weighting"] = _weighting(run[0] if run else None)
        for split in splits:
            summary = summaries.get((name, split))
            row[f"{split}_n_seeds"] = 0 if summary is None else len(summary["seeds"])
            for metric in GRID_METRICS:
                row.update(_metric_cells(f"{split}_{metric}", _stat(summary, "participant", metric), metric))
            for metric in GRID_CHUNK_METRICS:
                row.update(_metric_cells(f"{split}_chunk_level_{metric}",
                                         _stat(summary, "chunk_level", metric), metric))
        for split in (s for s in splits if s in SUBSET_SPLITS):
            row.update(_subset_cells(summaries.get((name, split)), split))
        rows.append(row)
    return pd.DataFrame(rows)


def _subset_cells(summary: Mapping[str, Any] | None, split: str) -> dict[str, Any]:
    """The grid's ``<split>_ai_...`` cells from ``by_interviewer`` of one model's split summary."""
    prefix, path = f"{split}_{SUBSET_INTERVIEWER}", ("by_interviewer", SUBSET_INTERVIEWER)
    missing = NOT_RUN if summary is None else NOT_AVAILABLE
    cells: dict[str, Any] = {}
    for metric in GRID_SUBSET_METRICS:
        cells.update(_metric_cells(f"{prefix}_{metric}", _optional_stat(summary, path, metric), metric,
                                   missing))
    n = _optional_stat(summary, path, "n")
    cells[f"{prefix}_n_participants"] = math.nan if n is None else float(n["mean"])
    return cells


# ---------------------------------------------------------------- headline
def headline_table(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]], dataset: str, *,
                   model: str = "moe-fusion", control: str | None = "moe-fusion-shuffled",
                   oracle: Mapping[str, Any] | str | Path | None = None,
                   oracle_participants: pd.DataFrame | str | Path | None = None,
                   splits: Iterable[str] = EVALUATED_SPLITS) -> pd.DataFrame:
    """Real run vs shuffled-label control vs training-mean predictor (vs the synthetic oracle).

    Per split: one row ``real run`` (``model`` over its seeds), one ``shuffled-label control``
    (``control``; skipped when ``None``), one ``mean predictor`` (from the real run's
    ``mean_predictor`` metrics: deterministic, so its sd is 0 or NaN) and, when ``oracle`` is given
    (the generator's ``oracle.json`` or its path: on the synthetic cohort), one generator-oracle row
    (MAE, RMSE, CCC only: the oracle gives no distribution or band).  After each split of
    :data:`SUBSET_SPLITS` (dev) the same rows again on its AI-agent participants only, split label
    ``dev-ai``: real run and control from ``by_interviewer["ai"]``, mean predictor from
    ``mean_predictor_by_interviewer["ai"]`` (``n/a`` for metrics files that predate it), and -- when
    ``oracle`` is given -- the oracle computed here from ``oracle_participants`` (the generator's
    ``ground_truth/participants.csv`` or its path: ``oracle_phq`` of the split's AI-agent
    participants, scored with :mod:`depsev.evaluate.metrics`; ``n/a`` cells when not given).

    Columns: ``dataset, split, row, model, n_seeds, weighting`` (the real run's / control's chunk
    weighting from its metrics, ``n/a`` when they predate it, empty for rows that aggregate no
    predictions), ``n_participants`` (mean over seeds), per metric text / ``_mean`` / ``_sd``,
    ``mae_minus_mean_predictor`` and ``control_beats_mean_predictor`` (same value on every row of a
    split label: True when the control's mean participant MAE is below the mean predictor's -- a
    warning sign of label leakage), ``note``.  InputError when ``model`` (or ``control``) has no
    metrics for a split, or an oracle file is absent or malformed.
    """
    summaries = summarise_runs(metrics_by_model_seed)
    report = read_oracle(oracle) if isinstance(oracle, (str, Path)) else oracle
    if isinstance(oracle_participants, (str, Path)):
        oracle_people = read_oracle_participants(oracle_participants)
    elif oracle_participants is not None:
        oracle_people = check_oracle_participants(oracle_participants, "oracle participants table")
    else:
        oracle_people = None
    rows: list[dict[str, Any]] = []
    for split in splits:
        real = _require_summary(summaries, model, split)
        ctrl = None if control is None else _require_summary(summaries, control, split)
        split_rows = [_headline_row(ROW_REAL, model, real, ("participant",), split)]
        if ctrl is not None:
            split_rows.append(_headline_row(ROW_CONTROL, control, ctrl, ("participant",), split))
        split_rows.append(_headline_row(ROW_MEAN, "training-mean predictor", real, ("mean_predictor",),
                                        split))
        if report is not None:
            split_rows.append(_oracle_row(report, split))
        rows.extend(_flag_control(split_rows, control is not None))
        if split in SUBSET_SPLITS:
            rows.extend(_flag_control(_subset_rows(real, ctrl, model, control, split, report is not None,
                                                   oracle_people), control is not None))
    table = pd.DataFrame(rows)
    table.insert(0, "dataset", dataset)
    return table


def _flag_control(split_rows: list[dict[str, Any]], has_control: bool) -> list[dict[str, Any]]:
    """Fill ``mae_minus_mean_predictor`` / ``control_beats_mean_predictor`` of one split label's rows
    (real run first, then the control when there is one, then the mean predictor)."""
    mean_mae = next(r["mae_mean"] for r in split_rows if r["row"] == ROW_MEAN)
    beats = bool(has_control and split_rows[1]["mae_mean"] < mean_mae)  # False when either is NaN
    for row in split_rows:
        row["mae_minus_mean_predictor"] = row["mae_mean"] - mean_mae
        row["control_beats_mean_predictor"] = beats
    if beats:
        split_rows[1]["note"] = (f"WARNING: the shuffled-label control beats the mean predictor (MAE "
                                 f"{split_rows[1]['mae_mean']:.3f} < {mean_mae:.3f}): labels leak into "
                                 "the inputs or the data hold a label-free shortcut")
    return split_rows


def _subset_rows(real: Mapping[str, Any], ctrl: Mapping[str, Any] | None, model: str, control: str | None,
                 split: str, with_oracle: bool, oracle_people: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The ``<split>-ai`` rows: the split's AI-agent participants only."""
    label, who = f"{split}-{SUBSET_INTERVIEWER}", SUBSET_INTERVIEWER
    rows = [_headline_row(ROW_REAL, model, real, ("by_interviewer", who), label)]
    if ctrl is not None:
        rows.append(_headline_row(ROW_CONTROL, str(control), ctrl, ("by_interviewer", who), label))
    rows.append(_headline_row(ROW_MEAN, "training-mean predictor", real,
                              ("mean_predictor_by_interviewer", who), label))
    if with_oracle:
        rows.append(_subset_oracle_row(oracle_people, split, label))
    only = f"{split} participants with interviewer == {who!r} only"
    for row in rows:
        if row["row"] != ROW_ORACLE:
            row["note"] = f"{only}; {row['note']}" if row["note"] else only
    return rows


def _require_summary(summaries: Mapping[tuple[str, str], dict[str, Any]], model: str, split: str
                     ) -> dict[str, Any]:
    if (model, split) not in summaries:
        known = sorted({m for m, s in summaries if s == split})
        raise InputError(None, f"no metrics for model {model!r} on split {split!r} (models with {split} "
                               f"metrics: {known})")
    return summaries[(model, split)]


def _headline_row(kind: str, model: str, summary: Mapping[str, Any], path: Sequence[str], split: str
                  ) -> dict[str, Any]:
    """One headline row from ``summary[path[0]][path[1]]...`` (the whole-split sections must exist; the
    interviewer subsets may be absent in older metrics files, giving ``n/a`` cells)."""
    whole_split = len(path) == 1
    n = _optional_stat(summary, path, "n")
    row: dict[str, Any] = {"split": split, "row": kind, "model": model, "n_seeds": len(summary["seeds"]),
                           "weighting": "" if kind == ROW_MEAN else _weighting(summary),
                           "n_participants": math.nan if n is None else float(n["mean"])}
    for metric in HEADLINE_METRICS:
        stat = _stat(summary, path[0], metric) if whole_split else _optional_stat(summary, path, metric)
        row.update(_metric_cells(metric, stat, metric, NOT_AVAILABLE))
        if kind == ROW_MEAN and stat is not None and stat["n"] > 0:  # deterministic: no spread to show
            row[metric] = f"{stat['mean']:.{_DECIMALS.get(metric, 3)}f} (deterministic)"
    row["note"] = ("predicts the training mean (and variance) for everyone; the same in every seed's "
                   "metrics" if kind == ROW_MEAN else "")
    return row


def _exact_row(split: str, values: Mapping[str, Any], n: float, note: str) -> dict[str, Any]:
    """A generator-oracle row: exact numbers (no seeds) for the metrics in ``values``, ``n/a`` elsewhere."""
    row: dict[str, Any] = {"split": split, "row": ROW_ORACLE, "model": "generator oracle", "n_seeds": 0,
                           "weighting": "", "n_participants": n}
    for metric in HEADLINE_METRICS:
        value = values.get(metric)
        stat = None if value is None else {"mean": float(value), "sd": math.nan, "n": 1, "n_nan": 0}
        row.update(_metric_cells(metric, stat, metric, NOT_AVAILABLE))
        if stat is not None:
            row[metric] = f"{float(value):.{_DECIMALS.get(metric, 3)}f} (exact, no seeds)"
    row["note"] = note
    return row


def _oracle_row(report: Mapping[str, Any], split: str) -> dict[str, Any]:
    values, n = split_oracle(report, split)
    return _exact_row(split, values, n, ORACLE_NOTE)


def _subset_oracle_row(people: pd.DataFrame | None, split: str, label: str) -> dict[str, Any]:
    """The oracle on ``split``'s AI-agent participants, from the generator's participants table."""
    return _exact_row(label, *subset_oracle(people, split, SUBSET_INTERVIEWER))


# ---------------------------------------------------------------- aggregation choice
#: columns of :func:`aggregation_table`
AGGREGATION_COLUMNS = ["dataset", "model", "weighting", "n_seeds", "dev_mae_mean", "dev_mae_sd",
                       "dev_coverage_50", "dev_coverage_90", "chosen"]


def aggregation_table(metrics_by_model_seed: Mapping[RunKey, Mapping[str, Any]], dataset: str
                      ) -> pd.DataFrame:
    """The dev comparison of chunk weightings behind each model's numbers, one row per model x weighting.

    Read from the per-run metrics' ``weighting_choice`` records (written by :func:`evaluate_predictions`
    from :func:`depsev.evaluate.aggregate.choose_weighting`; the same in every seed's and split's file
    of a model, which is checked).  Columns :data:`AGGREGATION_COLUMNS`: ``n_seeds`` (dev tables
    compared), ``dev_mae_mean`` / ``dev_mae_sd`` (participant MAE over the seeds, points),
    ``dev_coverage_50`` / ``dev_coverage_90`` (mean interval coverage), ``chosen`` (the weighting the
    model's metrics use).  A model whose metrics predate the choice gets one row with weighting ``n/a``
    (or the recorded weighting), NaN numbers and ``chosen`` False.  Models in name order, weightings in
    :data:`depsev.evaluate.aggregate.WEIGHTINGS` order.  InputError when the seeds of a model disagree.
    """
    by_model: dict[str, list[tuple[RunKey, Mapping[str, Any]]]] = {}
    for key, metrics in metrics_by_model_seed.items():
        by_model.setdefault(str(key[0]), []).append((key, metrics))
    rows = []
    for model in sorted(by_model):
        runs = sorted(by_model[model], key=lambda r: (r[0][1], str(r[0][2])))
        choices = [m.get("weighting_choice") or [] for _, m in runs]
        first = choices[0]
        for (key, _), other in zip(runs[1:], choices[1:], strict=True):
            if json.dumps(other, sort_keys=True) != json.dumps(first, sort_keys=True):
                raise InputError(None, f"model {model!r}: the weighting comparison of run {key} differs from "
                                       f"that of run {runs[0][0]} (they must come from one dev comparison)")
        if not first:
            recorded = runs[0][1].get("weighting")
            weighting = recorded if isinstance(recorded, str) else NOT_AVAILABLE
            rows.append({"model": model, "weighting": weighting, "n_seeds": 0, "dev_mae_mean": math.nan,
                         "dev_mae_sd": math.nan, "dev_coverage_50": math.nan, "dev_coverage_90": math.nan,
                         "chosen": False})
            continue
        order = {w: i for i, w in enumerate(WEIGHTINGS)}
        for rec in sorted(first, key=lambda r: order.get(r.get("weighting"), len(order))):
            rows.append({"model": model, "weighting": rec.get("weighting", NOT_AVAILABLE),
                         "n_seeds": rec.get("n_seeds", 0), "dev_mae_mean": rec.get("mae_mean", math.nan),
                         "dev_mae_sd": rec.get("mae_sd", math.nan),
                         "dev_coverage_50": rec.get("coverage_50_mean", math.nan),
                         "dev_coverage_90": rec.get("coverage_90_mean", math.nan),
                         "chosen": bool(rec.get("chosen", False))})
    table = pd.DataFrame(rows, columns=AGGREGATION_COLUMNS[1:])
    table.insert(0, "dataset", dataset)
    return table

