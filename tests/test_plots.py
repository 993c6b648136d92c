"""Report figures: each writes a non-empty PNG and carries the dataset label in its title."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from depsev.errors import InputError
from depsev.evaluate import plots
from depsev.evaluate.aggregate import P_BAND_COLUMNS, aggregate_participants
from depsev.evaluate.metrics import band_confusion, interval_coverage
from depsev.evaluate.tables import figure_label

LABEL = figure_label("demo")  # "SYNTHETIC demo cohort"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_chunks(n: int = 12, chunks: int = 4, seed: int = 0) -> pd.DataFrame:
    """Chunk predictions with gates: AI sessions get a high ``gate_ai``, WoZ sessions a low one."""
    rng = np.random.default_rng(seed)
    phq = rng.integers(0, 25, n)
    rows = []
    for i in range(n):
        pid, kind = (300 + i, "woz") if i % 2 == 0 else (600 + i, "ai")
        for c in range(chunks):
            gate_ai = rng.uniform(0.6, 1.0) if kind == "ai" else rng.uniform(0.0, 0.4)
            rows.append({"participant_id": pid, "split": "test", "interviewer": kind, "gender": "female",
                         "phq_score": int(phq[i]), "chunk_index": c,
                         "mu": float(np.clip(phq[i] + rng.normal(0, 3), 0, 24)), "var": rng.uniform(4, 16),
                         **dict(zip(P_BAND_COLUMNS, rng.dirichlet(np.ones(5)), strict=True)),
                         "gate_woz": 1 - gate_ai, "gate_ai": gate_ai,
                         "alpha_audio": rng.uniform(0.5, 1.0), "alpha_video": rng.uniform(0.0, 0.5)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def chunk_table() -> pd.DataFrame:
    return make_chunks()


@pytest.fixture(scope="module")
def participants(chunk_table) -> pd.DataFrame:
    return aggregate_participants(chunk_table)


def _check(fig, path) -> None:
    assert LABEL in fig._suptitle.get_text()
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_confusion_matrix_counts_and_png(participants, tmp_path):
    path = tmp_path / "sub" / "confusion.png"
    fig = plots.plot_confusion(participants, LABEL, path)
    _check(fig, path)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    expected = band_confusion(participants["band"], participants["pred_band"])
    np.testing.assert_array_equal(shown, expected)
    assert shown.sum() == len(participants)
    fig2 = plots.plot_confusion(expected * 2, LABEL)  # a ready matrix (e.g. summed over seeds)
    np.testing.assert_array_equal(np.asarray(fig2.axes[0].images[0].get_array()), expected * 2)
    with pytest.raises(InputError, match="aggregate chunks first"):
        plots.plot_confusion(make_chunks(), LABEL)
    with pytest.raises(InputError, match="5 x 5"):
        plots.plot_confusion(np.ones((4, 5)), LABEL)


def test_prediction_scatter_colours_by_interviewer(participants, tmp_path):
    path = tmp_path / "scatter.png"
    fig = plots.plot_prediction_scatter(participants, LABEL, path)
    _check(fig, path)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Wizard-of-Oz (n=6)" in labels and "AI agent (n=6)" in labels


def test_calibration_points_and_png(participants, tmp_path):
    points = plots.calibration_points(participants)
    assert list(points["level"]) == pytest.approx([0.1 * k for k in range(1, 10)])
    y, mu, var = (participants[c].to_numpy(float) for c in ("phq_score", "mu", "var"))
    assert points["observed"].iloc[4] == pytest.approx(interval_coverage(y, mu, var, 0.5))
    assert points["observed"].is_monotonic_increasing
    path = tmp_path / "calibration.png"
    _check(plots.plot_calibration(participants, LABEL, path), path)


def test_training_curves_tolerate_extra_columns_and_both_mae_names(tmp_path):
    curves = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "dev_loss": [3.1, 2.5, 2.4],
                           "dev_participant_mae": [6.0, 5.0, 4.5], "dev_participant_rmse": [7.0, 6.0, 5.5],
                           "lr": [1e-3] * 3})
    csv = tmp_path / "curves.csv"
    curves.to_csv(csv, index=False)
    path = tmp_path / "curves.png"
    fig = plots.plot_training_curves(csv, LABEL, path, best_epoch=3)
    _check(fig, path)
    assert list(fig.axes[1].lines[0].get_ydata()) == [6.0, 5.0, 4.5]
    renamed = curves.rename(columns={"dev_participant_mae": "dev_mae"})
    assert list(plots.read_curves(renamed)["dev_mae"]) == [6.0, 5.0, 4.5]
    with pytest.raises(InputError, match="dev_mae"):
        plots.plot_training_curves(curves.drop(columns="dev_participant_mae"), LABEL)
    with pytest.raises(InputError, match="not found"):
        plots.plot_training_curves(tmp_path / "absent.csv", LABEL)


def test_gate_by_interviewer(chunk_table, tmp_path):
    path = tmp_path / "gates.png"
    fig = plots.plot_gate_by_interviewer(chunk_table, LABEL, path)
    _check(fig, path)
    # the participant-mean diamonds sit where the data put them: WoZ low, AI high
    means = {}
    for coll in fig.axes[0].collections:
        xy = np.asarray(coll.get_offsets())
        if xy.shape[0] and np.allclose(xy[:, 0], xy[0, 0]) and np.isclose(xy[0, 0] % 1, 0.3):
            means[round(float(xy[0, 0]))] = xy[:, 1]  # diamonds at position + 0.3
    assert sorted(means) == [1, 2] and len(means[1]) == len(means[2]) == 6
    assert means[1].max() < 0.4 < 0.6 < means[2].min()
    with pytest.raises(InputError, match="gate_ai"):
        plots.plot_gate_by_interviewer(chunk_table.drop(columns="gate_ai"), LABEL)


def test_modality_gates(chunk_table, tmp_path):
    path = tmp_path / "alpha.png"
    fig = plots.plot_modality_gates(chunk_table, LABEL, path)
    _check(fig, path)
    heights = sum(p.get_height() for p in fig.axes[0].patches)
    assert heights == 2 * len(chunk_table)  # two histograms, every chunk counted in each
    with pytest.raises(InputError, match="alpha_video"):
        plots.plot_modality_gates(chunk_table.drop(columns="alpha_video"), LABEL)


def test_every_figure_needs_a_dataset_label(participants):
    with pytest.raises(InputError, match="dataset label"):
        plots.plot_calibration(participants, "  ")


def test_split_figures_aggregate_chunks_as_the_evaluation_chose(chunk_table, tmp_path, monkeypatch):
    """The report's figures show the participants the tables measure: the chunk weighting recorded in
    the evaluation's metrics file (chosen on dev), not the default."""
    import json

    from depsev.evaluate import report

    preds = tmp_path / "test.parquet"
    chunk_table.to_parquet(preds)
    seen = {}
    monkeypatch.setattr(report, "plot_prediction_scatter",
                        lambda people, label, path, title: seen.update(people=people, label=label))
    out = {k: tmp_path / f"{k}.png" for k in report.FIGURES}
    metrics = tmp_path / "test.json"
    for weighting in ("median", "capped"):
        metrics.write_text(json.dumps({"weighting": weighting, "participant": {}}))
        report.render_split_figures(preds, "demo", out, model="moe-fusion", split="test", metrics=metrics)
        expected = aggregate_participants(chunk_table, weighting=weighting)
        pd.testing.assert_series_equal(seen["people"]["mu"], expected["mu"])
        assert seen["label"] == f"{LABEL}; chunks weighted: {weighting}"
    assert not np.allclose(aggregate_participants(chunk_table, weighting="median")["mu"],
                           aggregate_participants(chunk_table, weighting="capped")["mu"])
    metrics.write_text("{}")
    with pytest.raises(InputError, match="no chunk weighting recorded"):
        report.render_split_figures(preds, "demo", out, model="moe-fusion", split="test", metrics=metrics)
