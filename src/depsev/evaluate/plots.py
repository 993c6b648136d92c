"""Report figures (matplotlib ``Figure`` objects rendered by the Agg canvas; no pyplot, no global state).

Every function takes the data, ``dataset`` -- the label put into the title (use
:func:`depsev.evaluate.tables.figure_label`, e.g. ``"SYNTHETIC demo cohort"``, so a synthetic figure can
never pass for a real-corpus one) -- and an optional ``path``; it returns the
:class:`~matplotlib.figure.Figure` and, when ``path`` is given, saves it there as PNG.

- :func:`plot_confusion`: 5 x 5 band confusion matrix (participant level);
- :func:`plot_prediction_scatter`: predicted vs true PHQ-8 with +-1 sigma bars, coloured by interviewer;
- :func:`plot_calibration`: expected vs observed coverage of the Gaussian intervals, levels 0.1..0.9;
- :func:`plot_training_curves`: train / dev loss and dev MAE per epoch from ``curves.csv``;
- :func:`plot_gate_by_interviewer`: the MoE gate weight of the AI expert for WoZ vs AI sessions;
- :func:`plot_modality_gates`: distributions of the fusion model's ``alpha_audio`` and ``alpha_video``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from depsev.constants import AI, BAND_LABELS, INTERVIEWERS, N_BANDS, PHQ_MAX, WOZ
from depsev.errors import InputError
from depsev.evaluate.aggregate import band_of_scores, finite_column, require_table
from depsev.evaluate.metrics import band_confusion, interval_coverage, predicted_bands

PathLike = str | Path
#: calibration levels of :func:`plot_calibration`
CALIBRATION_LEVELS = tuple(round(0.1 * k, 1) for k in range(1, 10))
INTERVIEWER_COLOURS = {WOZ: "tab:blue", AI: "tab:orange"}
INTERVIEWER_NAMES = {WOZ: "Wizard-of-Oz", AI: "AI agent"}
#: accepted names of the dev-MAE column of curves.csv, first match wins
DEV_MAE_COLUMNS = ("dev_mae", "dev_participant_mae")
DPI = 110


def _title(fig: Figure, text: str, dataset: str) -> None:
    if not str(dataset).strip():
        raise InputError(None, "every figure needs a dataset label for its title")
    fig.suptitle(f"{text}\n{dataset}")


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=DPI)
    return fig


def _column(df: pd.DataFrame, col: str, source: PathLike | None) -> np.ndarray:
    return finite_column(df, col, source).to_numpy()


# ---------------------------------------------------------------- confusion
def plot_confusion(data: pd.DataFrame | Sequence[Sequence[float]] | np.ndarray, dataset: str,
                   path: PathLike | None = None, *, title: str = "Severity band confusion (participants)",
                   source: PathLike | None = None) -> Figure:
    """5 x 5 band confusion: ``data`` is a participant table (``phq_score`` + ``pred_band`` or
    ``p_band_0..4``) or a ready 5 x 5 matrix (rows true band, columns predicted; e.g. summed over seeds)."""
    if isinstance(data, pd.DataFrame):
        table = require_table(data, ["phq_score"], source)
        if "participant_id" in table and table["participant_id"].duplicated().any():
            raise InputError(source, "confusion matrix is participant level: aggregate chunks first")
        matrix = band_confusion(band_of_scores(_column(table, "phq_score", source)),
                                predicted_bands(table, source)).astype(float)
    else:
        matrix = np.asarray(data, dtype=float)
        if matrix.shape != (N_BANDS, N_BANDS) or not np.all(np.isfinite(matrix)):
            raise InputError(source, f"confusion matrix must be finite {N_BANDS} x {N_BANDS}, got shape "
                                     f"{matrix.shape}")
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, label="participants")
    ticks = np.arange(N_BANDS)
    ax.set_xticks(ticks, BAND_LABELS)
    ax.set_yticks(ticks, BAND_LABELS)
    ax.set_xlabel("predicted PHQ-8 band")
    ax.set_ylabel("true PHQ-8 band")
    top = matrix.max() if matrix.size else 0
    for i in range(N_BANDS):
        for j in range(N_BANDS):
            text = f"{matrix[i, j]:.0f}" if float(matrix[i, j]).is_integer() else f"{matrix[i, j]:.1f}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if top and matrix[i, j] > top / 2 else "black")
    _title(fig, title, dataset)
    return _finish(fig, path)


# ---------------------------------------------------------------- scatter
def plot_prediction_scatter(participants: pd.DataFrame, dataset: str, path: PathLike | None = None, *,
                            title: str = "Predicted vs true PHQ-8 (participants, +-1 sigma)",
                            source: PathLike | None = None) -> Figure:
    """Predicted ``mu`` vs true ``phq_score``, error bars ``sqrt(var)``, colour = ``interviewer``."""
    table = require_table(participants, ["phq_score", "mu", "var", "interviewer"], source)
    y, mu, var = (_column(table, c, source) for c in ("phq_score", "mu", "var"))
    if np.any(var <= 0):
        raise InputError(source, "column 'var': values must be > 0")
    fig = Figure(figsize=(6, 5.5))
    ax = fig.add_subplot()
    kinds = table["interviewer"].astype(str).to_numpy()
    for kind in sorted(set(kinds), key=lambda k: (k not in INTERVIEWERS, k)):
        sel = kinds == kind
        name = INTERVIEWER_NAMES.get(kind, kind)
        ax.errorbar(y[sel], mu[sel], yerr=np.sqrt(var[sel]), fmt="o", ms=4, alpha=0.8, capsize=2,
                    color=INTERVIEWER_COLOURS.get(kind), label=f"{name} (n={sel.sum()})")
    ax.plot([0, PHQ_MAX], [0, PHQ_MAX], color="grey", lw=1, ls="--", label="perfect")
    for edge in (5, 10, 15, 20):
        ax.axvline(edge, color="lightgrey", lw=0.6)
        ax.axhline(edge, color="lightgrey", lw=0.6)
    ax.set_xlim(-1, PHQ_MAX + 1)
    ax.set_ylim(-1, PHQ_MAX + 1)
    ax.set_xlabel("true PHQ-8")
    ax.set_ylabel("predicted PHQ-8 (mu)")
    ax.legend(loc="upper left", fontsize="small")
    _title(fig, title, dataset)
    return _finish(fig, path)


# ---------------------------------------------------------------- calibration
def calibration_points(participants: pd.DataFrame, levels: Sequence[float] = CALIBRATION_LEVELS,
                       source: PathLike | None = None) -> pd.DataFrame:
    """``level`` (expected coverage) and ``observed`` coverage of the central Gaussian intervals."""
    table = require_table(participants, ["phq_score", "mu", "var"], source)
    y, mu, var = (_column(table, c, source) for c in ("phq_score", "mu", "var"))
    observed = [interval_coverage(y, mu, var, float(lv)) for lv in levels]
    return pd.DataFrame({"level": [float(lv) for lv in levels], "observed": observed})


def plot_calibration(participants: pd.DataFrame, dataset: str, path: PathLike | None = None, *,
                     levels: Sequence[float] = CALIBRATION_LEVELS,
                     title: str = "Calibration of the Gaussian intervals (participants)",
                     source: PathLike | None = None) -> Figure:
    """Observed share of truths inside ``mu +- z sigma`` against the nominal level (diagonal = calibrated)."""
    points = calibration_points(participants, levels, source)
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="calibrated")
    ax.plot(points["level"], points["observed"], marker="o", label=f"model (n={len(participants)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("expected coverage (interval level)")
    ax.set_ylabel("observed coverage")
    ax.legend(loc="upper left")
    _title(fig, title, dataset)
    return _finish(fig, path)


# ---------------------------------------------------------------- training curves
def read_curves(curves: pd.DataFrame | PathLike) -> pd.DataFrame:
    """``curves.csv`` (or its DataFrame) with ``epoch``, ``train_loss``, ``dev_loss`` and a dev-MAE column
    (``dev_mae`` or ``dev_participant_mae``, returned as ``dev_mae``); other columns are kept."""
    source = None if isinstance(curves, pd.DataFrame) else Path(curves)
    if source is not None:
        if not source.is_file():
            raise InputError(source, "curves file not found")
        try:
            curves = pd.read_csv(source)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(source, f"not a readable CSV ({exc})") from None
    table = require_table(curves, ["epoch", "train_loss", "dev_loss"], source)
    mae_col = next((c for c in DEV_MAE_COLUMNS if c in table), None)
    if mae_col is None:
        raise InputError(source, f"curves need one of the columns {list(DEV_MAE_COLUMNS)}")
    for col in ("epoch", "train_loss", "dev_loss", mae_col):
        table[col] = pd.to_numeric(table[col], errors="coerce")
        if table[col].isna().all():
            raise InputError(source, f"column {col!r} holds no numbers")
    return table.assign(dev_mae=table[mae_col]).sort_values("epoch")


def plot_training_curves(curves: pd.DataFrame | PathLike, dataset: str, path: PathLike | None = None, *,
                         title: str = "Training curves", best_epoch: int | None = None) -> Figure:
    """Train / dev loss and dev MAE per epoch (a missing value, e.g. an epoch without dev, is a gap)."""
    table = read_curves(curves)
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_mae = fig.subplots(1, 2)
    ax_loss.plot(table["epoch"], table["train_loss"], marker="o", ms=3, label="train loss")
    ax_loss.plot(table["epoch"], table["dev_loss"], marker="o", ms=3, label="dev loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_mae.plot(table["epoch"], table["dev_mae"], marker="o", ms=3, color="tab:green", label="dev MAE")
    ax_mae.set_xlabel("epoch")
    ax_mae.set_ylabel("dev MAE (PHQ-8 points)")
    ax_mae.legend()
    if best_epoch is not None:
        for ax in (ax_loss, ax_mae):
            ax.axvline(best_epoch, color="grey", ls="--", lw=1)
    _title(fig, title, dataset)
    return _finish(fig, path)


# ---------------------------------------------------------------- gates
def _by_interviewer(table: pd.DataFrame, col: str, source: PathLike | None) -> dict[str, np.ndarray]:
    values = _column(table, col, source)
    kinds = table["interviewer"].astype(str).to_numpy()
    unknown = sorted(set(kinds) - set(INTERVIEWERS))
    if unknown:
        raise InputError(source, f"column 'interviewer': unknown value(s) {unknown}")
    return {k: values[kinds == k] for k in INTERVIEWERS}


def plot_gate_by_interviewer(chunks: pd.DataFrame, dataset: str, path: PathLike | None = None, *,
                             title: str = "MoE gate weight of the AI-agent expert by interviewer type",
                             source: PathLike | None = None) -> Figure:
    """Box + strip of ``gate_ai`` per chunk for WoZ and AI sessions (do the experts specialise?).

    A box per interviewer type over chunks, each chunk a dot (jittered), and each participant's mean
    as a diamond.  InputError when the predictions have no ``gate_ai`` (the model has no experts).
    """
    table = require_table(chunks, ["interviewer", "gate_ai"], source)
    groups = _by_interviewer(table, "gate_ai", source)
    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot()
    positions = np.arange(1, len(INTERVIEWERS) + 1)
    data = [groups[k] for k in INTERVIEWERS]
    ax.boxplot([d if d.size else [np.nan] for d in data], positions=positions, widths=0.5,
               showfliers=False)
    rng = np.random.default_rng(0)
    for pos, kind, values in zip(positions, INTERVIEWERS, data, strict=True):
        ax.scatter(pos + rng.uniform(-0.15, 0.15, values.size), values, s=8, alpha=0.4,
                   color=INTERVIEWER_COLOURS[kind],
                   label=f"chunks ({INTERVIEWER_NAMES[kind]}, n={values.size})")
        if "participant_id" in table:
            sel = table["interviewer"].astype(str) == kind
            means = table.loc[sel].groupby("participant_id")["gate_ai"].mean()
            ax.scatter(np.full(len(means), pos + 0.3), means, marker="D", s=18, color="black",
                       label="participant mean" if kind == INTERVIEWERS[0] else None)
    ax.set_xticks(positions, [f"{INTERVIEWER_NAMES[k]} sessions" for k in INTERVIEWERS])
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("gate weight of the AI-agent expert (gate_ai)")
    ax.legend(loc="best", fontsize="small")
    _title(fig, title, dataset)
    return _finish(fig, path)


def plot_modality_gates(chunks: pd.DataFrame, dataset: str, path: PathLike | None = None, *,
                        title: str = "Modality gates of the fusion model (per chunk)",
                        bins: int = 20, source: PathLike | None = None) -> Figure:
    """Histograms of ``alpha_audio`` and ``alpha_video`` (left) and their box plots by interviewer (right)."""
    table = require_table(chunks, ["alpha_audio", "alpha_video", "interviewer"], source)
    audio, video = _column(table, "alpha_audio", source), _column(table, "alpha_video", source)
    fig = Figure(figsize=(10, 4))
    ax_hist, ax_box = fig.subplots(1, 2)
    edges = np.linspace(0, 1, bins + 1)
    ax_hist.hist(audio, bins=edges, alpha=0.6, label=f"alpha_audio (mean {audio.mean():.2f})")
    ax_hist.hist(video, bins=edges, alpha=0.6, label=f"alpha_video (mean {video.mean():.2f})")
    ax_hist.set_xlabel("gate value")
    ax_hist.set_ylabel("chunks")
    ax_hist.legend(fontsize="small")
    by_a, by_v = _by_interviewer(table, "alpha_audio", source), _by_interviewer(table, "alpha_video", source)
    data, labels = [], []
    for kind in INTERVIEWERS:
        for name, groups in (("audio", by_a), ("video", by_v)):
            data.append(groups[kind] if groups[kind].size else [np.nan])
            labels.append(f"{name}\n{INTERVIEWER_NAMES[kind]}")
    ax_box.boxplot(data, showfliers=False)
    ax_box.set_xticks(np.arange(1, len(labels) + 1), labels, fontsize="small")
    ax_box.set_ylim(-0.05, 1.05)
    ax_box.set_ylabel("gate value")
    _title(fig, title, dataset)
    return _finish(fig, path)
