"""The report's figures for one model (rule ``plots_render``): thin glue over :mod:`plots`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from depsev.errors import InputError, read_json
from depsev.evaluate.aggregate import DEFAULT_WEIGHTING, aggregate_participants
from depsev.evaluate.plots import (
    plot_calibration,
    plot_confusion,
    plot_gate_by_interviewer,
    plot_modality_gates,
    plot_prediction_scatter,
    plot_training_curves,
)
from depsev.evaluate.tables import figure_label

FIGURES = ("confusion", "scatter", "calibration", "gates_by_interviewer", "modality_gates")


def render_split_figures(predictions: str | Path, dataset_kind: str, out: dict[str, str | Path],
                         *, model: str, split: str, metrics: str | Path | None = None) -> None:
    """Write the participant-level figures of one model's predictions on one split.

    ``metrics``: the evaluation's metrics file of the same predictions; its ``weighting`` (the chunk
    weighting chosen on dev, :func:`depsev.evaluate.aggregate.choose_weighting`) aggregates the chunks,
    so that the figures show the participants the tables measure (without it: the default weighting).
    """
    chunks = pd.read_parquet(predictions)
    weighting = DEFAULT_WEIGHTING
    if metrics is not None:
        recorded = read_json(metrics)
        weighting = recorded.get("weighting") if isinstance(recorded, dict) else None
        if weighting is None:
            raise InputError(metrics, "no chunk weighting recorded in the metrics file")
    people = aggregate_participants(chunks, weighting=weighting, source=predictions)
    label = figure_label(dataset_kind)
    per_person = f"{label}; chunks weighted: {weighting}"  # the participant-level figures' second line
    what = f"{model}, {split} split"
    plot_confusion(people, per_person, out["confusion"], title=f"Severity band confusion ({what})")
    plot_prediction_scatter(people, per_person, out["scatter"],
                            title=f"Predicted vs true PHQ-8 ({what}, +-1 sigma)")
    plot_calibration(people, per_person, out["calibration"], title=f"Interval calibration ({what})")
    plot_gate_by_interviewer(chunks, label, out["gates_by_interviewer"],
                             title=f"Gate weight of the AI-agent expert by interviewer type ({what})")
    plot_modality_gates(chunks, label, out["modality_gates"], title=f"Modality gates ({what})")


def render_training_curves(model_dir: str | Path, dataset_kind: str, out: str | Path, *, model: str) -> None:
    plot_training_curves(Path(model_dir) / "curves.csv", figure_label(dataset_kind), out,
                         title=f"Training curves: {model} ({Path(model_dir).name})")
