"""Result tables (Table 5 grid, headline, published Table 6, lightweight Table 4) on hand-made predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from depsev.constants import PHQ_MAX
from depsev.errors import InputError
from depsev.evaluate.aggregate import P_BAND_COLUMNS, aggregate_participants
from depsev.evaluate.metrics import all_metrics, mean_predictor_metrics, metrics_by
from depsev.evaluate.published import ORIGIN_CITED, ORIGIN_PAPER, published_table
from depsev.evaluate.tables import (
    GRID_FAMILIES,
    GRID_METRICS,
    GRID_MODALITIES,
    NOT_RUN,
    comparison_grid,
    dataset_label,
    evaluate_predictions,
    figure_label,
    headline_table,
    parse_model_name,
    read_metrics_tree,
)

TRAIN_SCORES = [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 17, 21]
LABEL = dataset_label("demo")


def make_chunks(seed: int, *, split: str = "test", n: int = 10, chunks: int = 3, noise: float = 3.0,
                random_mu: bool = False) -> pd.DataFrame:
    """Chunk predictions of ``n`` participants (half WoZ, half AI), ``chunks`` chunks each.

    ``noise``: SD of the chunk predictions around the truth; ``random_mu``: predictions that ignore
    the truth (uniform over 0..24).  Truth is the same for every seed (fixed participants).
    """
    truth_rng, rng = np.random.default_rng(0), np.random.default_rng(seed)
    phq = truth_rng.integers(0, PHQ_MAX + 1, n)
    rows = []
    for i in range(n):
        pid = 300 + i if i % 2 == 0 else 600 + i
        for c in range(chunks):
            near = float(np.clip(phq[i] + rng.normal(0, noise), 0, PHQ_MAX))
            mu = rng.uniform(0, PHQ_MAX) if random_mu else near
            probs = rng.dirichlet(np.ones(5))
            gate_ai = rng.uniform(0.6, 1.0) if pid >= 600 else rng.uniform(0.0, 0.4)
            rows.append({"participant_id": pid, "split": split, "interviewer": "ai" if pid >= 600 else "woz",
                         "gender": "female" if i % 3 else "male", "phq_score": int(phq[i]),
                         "band": int(min(phq[i] // 5, 4)), "chunk_index": c, "mu": mu,
                         "var": rng.uniform(2.0, 20.0), **dict(zip(P_BAND_COLUMNS, probs, strict=True)),
                         "gate_woz": 1 - gate_ai, "gate_ai": gate_ai,
                         "alpha_audio": rng.uniform(0, 1), "alpha_video": rng.uniform(0, 1)})
    return pd.DataFrame(rows)


def _same(a, b) -> bool:
    """Equal including NaN (compared through JSON, which writes NaN as NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _runs(models: dict[str, dict], seeds=(1, 2, 3), splits=("dev", "test")) -> dict:
    """{(model, seed, split): evaluate_predictions(...)} for models given as make_chunks kwargs."""
    out = {}
    for model, kwargs in models.items():
        for seed in seeds:
            for split in splits:
                out[(model, seed, split)] = evaluate_predictions(
                    make_chunks(seed * 100 + len(model), split=split, **kwargs), TRAIN_SCORES)
    return out


# ---------------------------------------------------------------- evaluate_predictions
def test_evaluate_predictions_equals_all_metrics_on_same_data():
    chunks = make_chunks(5)
    out = evaluate_predictions(chunks, TRAIN_SCORES)
    participants = aggregate_participants(chunks)
    assert out["level"] == "participant" and out["split"] == "test"
    assert out["n_participants"] == 10 and out["n_chunks"] == 30
    assert _same(out["participant"], all_metrics(participants, "participant"))
    assert _same(out["chunk_level"], all_metrics(chunks, "chunk"))
    assert out["chunk_level"]["level"] == "chunk" and out["chunk_level"]["n"] == 30
    assert _same(out["by_interviewer"], metrics_by(participants, "interviewer"))
    assert set(out["by_interviewer"]) == {"ai", "woz"}
    assert _same(out["by_gender"], metrics_by(participants, "gender"))
    assert _same(out["mean_predictor"], mean_predictor_metrics(TRAIN_SCORES, participants))
    # independent check of the headline MAE: inverse-variance weighted chunk means per participant
    w, pid = 1 / chunks["var"], chunks["participant_id"]
    mu = (chunks["mu"] * w).groupby(pid).sum() / w.groupby(pid).sum()
    truth = chunks.groupby("participant_id")["phq_score"].first()
    assert out["participant"]["mae"] == pytest.approx(float(np.mean(np.abs(mu - truth))))
    json.loads(json.dumps(out))  # serialisable


def test_evaluate_predictions_rejects_mixed_splits_and_bad_tables():
    mixed = pd.concat([make_chunks(1, split="dev"), make_chunks(2, split="test").assign(
        participant_id=lambda d: d["participant_id"] + 50)])
    with pytest.raises(InputError, match="one split"):
        evaluate_predictions(mixed, TRAIN_SCORES)
    with pytest.raises(InputError, match="missing column"):
        evaluate_predictions(make_chunks(1).drop(columns="var"), TRAIN_SCORES, source="x.parquet")


def test_labels():
    assert dataset_label("demo") == "depsev, on synthetic demo cohort"
    assert dataset_label("edaic") == "depsev, on E-DAIC"
    assert figure_label("demo") == "SYNTHETIC demo cohort"
    assert parse_model_name("moe-fusion-shuffled").variant == "shuffled"
    assert parse_model_name("rf-video").family_label == "random forest"
    with pytest.raises(InputError, match="model name"):
        parse_model_name("transformer-fusion")


def test_read_metrics_tree_round_trips_json(tmp_path):
    metrics = evaluate_predictions(make_chunks(3), TRAIN_SCORES)
    for seed in (1, 2):
        folder = tmp_path / "moe-fusion" / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "test.json").write_text(json.dumps(metrics))
    (tmp_path / "moe-fusion" / "seed1" / "notes.json").write_text("{}")
    tree = read_metrics_tree(tmp_path)
    assert sorted(tree) == [("moe-fusion", 1, "test"), ("moe-fusion", 2, "test")]
    assert _same(tree[("moe-fusion", 2, "test")], metrics)
    (tmp_path / "moe-fusion" / "seed2" / "dev.json").write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        read_metrics_tree(tmp_path)
    with pytest.raises(InputError, match="no metrics files"):
        read_metrics_tree(tmp_path / "empty")


# ---------------------------------------------------------------- Table 5 grid
def test_comparison_grid_shape_labels_and_mean_sd_strings():
    runs = _runs({"moe-fusion": {}, "lstm-audio": {"noise": 5.0}, "moe-fusion-shuffled": {"random_mu": True}})
    grid = comparison_grid(runs, LABEL)
    assert len(grid) == len(GRID_FAMILIES) * len(GRID_MODALITIES) + 1  # + the shuffled variant
    assert (grid["dataset"] == LABEL).all()
    assert grid["model"].iloc[-1] == "moe-fusion-shuffled" and grid["variant"].iloc[-1] == "shuffled"
    for split in ("dev", "test"):
        for metric in GRID_METRICS:
            names = {f"{split}_{metric}", f"{split}_{metric}_mean", f"{split}_{metric}_sd"}
            assert names <= set(grid.columns)
        assert f"{split}_chunk_level_mae" in grid.columns
    row = grid.set_index("model").loc["moe-fusion"]
    assert row["family"] == "MoE fusion" and row["modality"] == "fusion" and row["test_n_seeds"] == 3
    maes = [runs[("moe-fusion", s, "test")]["participant"]["mae"] for s in (1, 2, 3)]
    mean, sd = float(np.mean(maes)), float(np.std(maes, ddof=1))
    assert row["test_mae_mean"] == pytest.approx(mean) and row["test_mae_sd"] == pytest.approx(sd)
    assert row["test_mae"] == f"{mean:.3f} ± {sd:.3f} (3 seeds)"
    chunk_maes = [runs[("moe-fusion", s, "test")]["chunk_level"]["mae"] for s in (1, 2, 3)]
    assert row["test_chunk_level_mae_mean"] == pytest.approx(np.mean(chunk_maes))
    assert row["test_mae_norm_mean"] == pytest.approx(mean / 24)
    assert row["test_mae_norm"].endswith("(3 seeds)") and row["test_mae_norm"].count(".") == 2
    missing = grid.set_index("model").loc["resnet-video"]
    assert missing["test_n_seeds"] == 0 and missing["test_mae"] == NOT_RUN
    assert math.isnan(missing["test_mae_mean"])


def test_comparison_grid_single_seed_and_undefined_metric_are_spelled_out():
    runs = _runs({"lstm-video": {}}, seeds=(4,), splits=("test",))
    runs[("lstm-video", 4, "test")]["participant"]["ccc"] = math.nan
    grid = comparison_grid(runs, LABEL, splits=("test",)).set_index("model")
    assert grid.loc["lstm-video", "test_mae"].endswith("(1 seed, no sd)")
    assert grid.loc["lstm-video", "test_ccc"] == "undefined (1 seed)"
    with pytest.raises(InputError, match="model name"):
        comparison_grid({("gru-fusion", 1, "test"): runs[("lstm-video", 4, "test")]}, LABEL)


# ---------------------------------------------------------------- headline
def _headline_runs(control_good: bool) -> dict:
    control = {"noise": 0.5} if control_good else {"random_mu": True}
    return _runs({"moe-fusion": {}, "moe-fusion-shuffled": control}, seeds=(1, 2), splits=("test",))


def test_headline_flags_a_control_that_beats_the_mean_predictor():
    runs = _headline_runs(control_good=True)
    table = headline_table(runs, LABEL, splits=("test",))
    assert list(table["row"]) == ["real run", "shuffled-label control", "mean predictor"]
    assert (table["dataset"] == LABEL).all()
    control, mean = table.iloc[1], table.iloc[2]
    assert control["mae_mean"] < mean["mae_mean"]
    assert table["control_beats_mean_predictor"].all()
    assert control["note"].startswith("WARNING")
    expected = mean_predictor_metrics(TRAIN_SCORES, aggregate_participants(make_chunks(1)))["mae"]
    assert mean["mae_mean"] == pytest.approx(expected)


def test_headline_does_not_flag_a_control_worse_than_the_mean_predictor():
    table = headline_table(_headline_runs(control_good=False), LABEL, splits=("test",))
    control, mean = table.iloc[1], table.iloc[2]
    assert control["mae_mean"] > mean["mae_mean"]  # precondition: random predictions lose
    assert not table["control_beats_mean_predictor"].any()
    assert control["note"] == ""


def test_headline_adds_the_synthetic_oracle_from_its_file(tmp_path):
    from depsev.corpus.synthetic import oracle_report

    gt = pd.DataFrame({"split": ["train"] * 4 + ["dev"] * 2 + ["test"] * 4,
                       "phq_score": [1, 5, 9, 20, 2, 11, 3, 7, 12, 18],
                       "oracle_phq": [2.0, 6.0, 8.0, 17.0, 3.0, 9.0, 4.0, 8.0, 10.0, 15.0]})
    path = tmp_path / "oracle.json"
    path.write_text(json.dumps(oracle_report(gt)))
    table = headline_table(_headline_runs(control_good=False), LABEL, oracle=path, splits=("test",))
    oracle = table.iloc[-1]
    assert oracle["row"].startswith("generator oracle")
    assert oracle["mae_mean"] == pytest.approx(np.mean(np.abs([1, 1, 2, 3])))
    assert oracle["accuracy"] == "n/a" and math.isnan(oracle["accuracy_mean"])
    with pytest.raises(InputError, match="oracle file not found"):
        headline_table(_headline_runs(False), LABEL, oracle=tmp_path / "none.json", splits=("test",))
    with pytest.raises(InputError, match="no metrics for model 'moe-audio'"):
        headline_table(_headline_runs(False), LABEL, model="moe-audio", splits=("test",))


# ---------------------------------------------------------------- published (Table 6)
def test_published_table_labels_every_row_and_never_mixes_origins():
    grid = comparison_grid(_runs({"moe-fusion": {}, "lstm-audio": {}}, seeds=(1, 2), splits=("test",)), LABEL,
                           splits=("test",))
    table = published_table(grid, LABEL)
    published = table["origin"].str.startswith("published")
    ours = table["origin"] == LABEL
    assert (published ^ ours).all()  # each row is exactly one of the two
    assert ours.sum() == 2  # the not-run grid cells are left out
    assert set(table.loc[published, "origin"]) == {ORIGIN_PAPER, ORIGIN_CITED}
    assert table["source"].str.len().gt(10).all()
    assert table.loc[published, "source"].str.contains("Table|AVEC|Published reference").all()
    assert table.loc[ours, "source"].str.startswith("depsev run").all()
    paper_multi = table[table["source"].str.endswith("Table 5, Multi-Model / LSTM")].iloc[0]
    assert (paper_multi["table_mae"], paper_multi["accuracy"]) == (0.1271, 0.8386)
    avec = table[table["method"] == "AVEC 2019 DDS baseline"].iloc[0]
    assert (avec["ccc"], avec["rmse_points"]) == (0.120, 6.37)
    moe = table[ours & (table["modality"] == "fusion")].iloc[0]
    g = grid.set_index("model").loc["moe-fusion"]
    assert moe["table_mae"] == pytest.approx(g["test_mae_norm_mean"])
    assert moe["mae_points"] == pytest.approx(g["test_mae_mean"])
    # grouped by modality, published rows first within each
    assert list(dict.fromkeys(table["modality"])) == ["audio", "video", "fusion"]
    for _, part in table.groupby("modality", sort=False):
        first_ours = np.flatnonzero(part["origin"].to_numpy() == LABEL)
        after = part["origin"].iloc[first_ours[0]:] if first_ours.size else part["origin"].iloc[:0]
        assert not after.str.startswith("published").any()
    with pytest.raises(InputError, match="depsev's own label"):
        published_table(grid, "E-DAIC")
    with pytest.raises(InputError, match="lacks column"):
        published_table(grid.drop(columns="test_ccc_mean"), LABEL)


# ---------------------------------------------------------------- lightweight (Table 4)
def test_lightweight_row_on_a_built_fusion_model():
    from depsev.evaluate.lightweight import (
        ORIGIN_PUBLISHED,
        chunks_per_session,
        lightweight_row,
        lightweight_table,
    )
    from depsev.models import ModelConfig, build_model, count_parameters
    from depsev.models.flops import fusion_flops
    from depsev.shards.chunks import ChunkConfig

    cfg = ModelConfig(audio_dim=64, hidden=8, expert_hidden=4, fusion_hidden=8, fusion_steps=5)
    model = build_model("fusion", "fusion", cfg, seed=0)
    row = lightweight_row(model, cfg, 16, 60, batch_size=2, repeats=3, warmup=1, name="moe-fusion")
    assert row["parameters"] == count_parameters(model)
    assert row["size_mb"] > row["parameters"] * 4 / 1e6 > 0  # fp32 weights plus serialisation overhead
    assert row["latency_batch_s"] > 0 and row["latency_session_s"] > 0
    assert row["flops_analytic"] == fusion_flops(cfg, 16, 60).flops
    assert row["flops_ptflops"] == 2 * row["macs_ptflops"] > 0
    assert row["modality"] == "fusion" and row["torch_threads"] >= 1 and row["device"]
    # 15 min at 30 fps = 27000 frames in 60-frame chunks = 450 chunks
    assert row["chunks_per_session"] == 450
    assert row["latency_session_s"] == pytest.approx(450 * row["latency_batch_s"] / 2)
    table = lightweight_table([row], dataset=LABEL)
    assert list(table["origin"]) == [row["origin"], ORIGIN_PUBLISHED]
    assert table["parameters"].iloc[1] == 128905 and table["dataset"].iloc[0] == LABEL
    # the shard stage's partial-chunk rule: 27000 frames / 5000 -> 5 (+0.4 dropped); / 4000 -> 7 (+0.75 kept)
    assert chunks_per_session(15, "video", ChunkConfig(video_frames=5000)) == 5
    assert chunks_per_session(15, "fusion", ChunkConfig(video_frames=4000)) == 7
    assert chunks_per_session(15, "audio", ChunkConfig(audio_frames=300)) == 3  # 937 examples
    with pytest.raises(InputError, match="steps per chunk"):
        lightweight_row(model, cfg, 16, 60, batch_size=2, repeats=1, chunks=ChunkConfig(video_frames=5000))
