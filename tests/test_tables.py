"""Result tables (Table 5 grid, headline, published Table 6, lightweight Table 4) on hand-made predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from depsev.constants import PHQ_MAX
from depsev.errors import InputError
from depsev.evaluate import metrics as M
from depsev.evaluate.aggregate import P_BAND_COLUMNS, WEIGHTINGS, aggregate_participants, choose_weighting
from depsev.evaluate.metrics import all_metrics, mean_predictor_metrics, metrics_by
from depsev.evaluate.published import ORIGIN_CITED, ORIGIN_PAPER, published_table
from depsev.evaluate.tables import (
    AGGREGATION_COLUMNS,
    GRID_FAMILIES,
    GRID_METRICS,
    GRID_MODALITIES,
    NOT_RUN,
    aggregation_table,
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


def _chosen_runs(models: dict[str, dict], seeds=(1, 2)) -> dict:
    """As the rule evaluate does it: the weighting chosen on the seeds' dev tables, then every split."""
    out = {}
    for model, kwargs in models.items():
        tables = {(seed, split): make_chunks(seed * 100 + len(model), split=split, **kwargs)
                  for seed in seeds for split in ("dev", "test")}
        name, choice = choose_weighting([tables[(seed, "dev")] for seed in seeds])
        for (seed, split), table in tables.items():
            out[(model, seed, split)] = evaluate_predictions(table, TRAIN_SCORES, weighting=name,
                                                             weighting_choice=choice)
    return out


def _old(runs: dict) -> dict:
    """The same metrics as written before the weighting choice and the per-interviewer mean predictor."""
    new_keys = ("weighting", "weighting_choice", "mean_predictor_by_interviewer")
    return {k: {key: v for key, v in m.items() if key not in new_keys} for k, m in runs.items()}


# ---------------------------------------------------------------- evaluate_predictions
def test_evaluate_predictions_equals_all_metrics_on_same_data():
    chunks = make_chunks(5)
    out = evaluate_predictions(chunks, TRAIN_SCORES, weighting="precision")
    participants = aggregate_participants(chunks, weighting="precision")
    assert out["weighting"] == "precision" and out["weighting_choice"] == []
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


def test_evaluate_predictions_records_the_weighting_and_the_mean_predictor_per_interviewer():
    chunks = make_chunks(5, split="dev")
    name, choice = choose_weighting([chunks])
    out = evaluate_predictions(chunks, TRAIN_SCORES, weighting=name, weighting_choice=choice)
    assert out["weighting"] == name
    assert [r["weighting"] for r in out["weighting_choice"]] == list(WEIGHTINGS)
    assert sum(r["chosen"] for r in out["weighting_choice"]) == 1
    assert _same(out["weighting_choice"], json.loads(json.dumps(out["weighting_choice"])))
    participants = aggregate_participants(chunks, weighting=name)
    assert _same(out["participant"], all_metrics(participants, "participant"))
    assert set(out["mean_predictor_by_interviewer"]) == {"ai", "woz"}
    ai = participants[participants["interviewer"] == "ai"]
    assert _same(out["mean_predictor_by_interviewer"]["ai"], mean_predictor_metrics(TRAIN_SCORES, ai))
    assert out["mean_predictor_by_interviewer"]["ai"]["n"] == out["by_interviewer"]["ai"]["n"] == 5
    default = evaluate_predictions(chunks, TRAIN_SCORES)
    assert default["weighting"] == "capped" and default["weighting_choice"] == []
    json.loads(json.dumps(out))


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


def test_comparison_grid_dev_ai_columns_and_weighting():
    runs = _chosen_runs({"moe-fusion": {}, "lstm-audio": {"noise": 5.0}})
    grid = comparison_grid(runs, LABEL).set_index("model")
    for metric in ("mae", "rmse", "ccc"):
        assert {f"dev_ai_{metric}", f"dev_ai_{metric}_mean", f"dev_ai_{metric}_sd"} <= set(grid.columns)
    assert "test_ai_mae" not in grid.columns  # test is all AI-agent sessions on E-DAIC: no subset column
    row = grid.loc["moe-fusion"]
    maes = [runs[("moe-fusion", s, "dev")]["by_interviewer"]["ai"]["mae"] for s in (1, 2)]
    assert row["dev_ai_mae_mean"] == pytest.approx(np.mean(maes))
    assert row["dev_ai_mae_sd"] == pytest.approx(np.std(maes, ddof=1))
    assert row["dev_ai_mae"] == f"{np.mean(maes):.3f} ± {np.std(maes, ddof=1):.3f} (2 seeds)"
    assert row["dev_ai_n_participants"] == 5
    assert row["weighting"] == runs[("moe-fusion", 1, "dev")]["weighting"]
    assert grid.loc["rf-video", "dev_ai_mae"] == NOT_RUN and grid.loc["rf-video", "weighting"] == NOT_RUN
    assert math.isnan(grid.loc["rf-video", "dev_ai_n_participants"])
    # metrics without WoZ/AI-agent subsets or the weighting (older files): n/a, not a crash
    old = _old(runs)
    for m in old.values():
        m["by_interviewer"] = {k: v for k, v in m["by_interviewer"].items() if k != "ai"}
    old_grid = comparison_grid(old, LABEL).set_index("model")
    assert old_grid.loc["moe-fusion", "dev_ai_mae"] == "n/a"
    assert math.isnan(old_grid.loc["moe-fusion", "dev_ai_ccc_mean"])
    assert old_grid.loc["moe-fusion", "weighting"] == "n/a"
    assert old_grid.loc["moe-fusion", "test_mae_mean"] == pytest.approx(
        grid.loc["moe-fusion", "test_mae_mean"])


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


def _ground_truth(tmp_path):
    """A generator ground_truth/ folder: dev has 2 WoZ and 3 AI-agent participants."""
    from depsev.corpus.synthetic import oracle_report

    gt = pd.DataFrame({"participant_id": range(10),
                       "split": ["train"] * 3 + ["dev"] * 5 + ["test"] * 2,
                       "interviewer": ["woz", "woz", "ai", "woz", "woz", "ai", "ai", "ai", "ai", "ai"],
                       "phq_score": [1, 5, 9, 20, 2, 11, 3, 7, 12, 18],
                       "oracle_phq": [2.0, 6.0, 8.0, 17.0, 3.0, 9.0, 4.0, 10.0, 10.0, 15.0]})
    (tmp_path / "oracle.json").write_text(json.dumps(oracle_report(gt)))
    gt.to_csv(tmp_path / "participants.csv", index=False)
    return tmp_path


def test_headline_adds_dev_ai_rows_coverage_50_and_weighting(tmp_path):
    runs = _chosen_runs({"moe-fusion": {}, "moe-fusion-shuffled": {"random_mu": True}})
    gt = _ground_truth(tmp_path)
    table = headline_table(runs, LABEL, oracle=gt / "oracle.json",
                           oracle_participants=gt / "participants.csv")
    assert list(table["split"]) == ["dev"] * 4 + ["dev-ai"] * 4 + ["test"] * 4
    assert list(table["row"][4:8]) == ["real run", "shuffled-label control", "mean predictor",
                                       "generator oracle (synthetic ground truth)"]
    assert (table["dataset"] == LABEL).all()
    assert {"coverage_50", "coverage_50_mean", "coverage_50_sd", "weighting", "n_participants"} <= set(table)
    chosen = [runs[(m, 1, "dev")]["weighting"] for m in ("moe-fusion", "moe-fusion-shuffled")]
    assert list(table["weighting"][:4]) == [*chosen, "", ""]
    ai = table[table["split"] == "dev-ai"].set_index("row")
    real = [runs[("moe-fusion", s, "dev")]["by_interviewer"]["ai"] for s in (1, 2)]
    assert ai.loc["real run", "mae_mean"] == pytest.approx(np.mean([r["mae"] for r in real]))
    assert ai.loc["real run", "coverage_50_mean"] == pytest.approx(np.mean([r["coverage_50"] for r in real]))
    assert ai.loc["real run", "n_participants"] == 5
    control = [runs[("moe-fusion-shuffled", s, "dev")]["by_interviewer"]["ai"]["mae"] for s in (1, 2)]
    assert ai.loc["shuffled-label control", "mae_mean"] == pytest.approx(np.mean(control))
    mean = runs[("moe-fusion", 1, "dev")]["mean_predictor_by_interviewer"]["ai"]
    assert ai.loc["mean predictor", "mae_mean"] == pytest.approx(mean["mae"])
    assert ai.loc["mean predictor", "mae"].endswith("(deterministic)")
    assert ai.loc["mean predictor", "mae_minus_mean_predictor"] == 0
    assert ai.loc["real run", "note"].startswith("dev participants with interviewer == 'ai' only")
    # oracle on dev AI-agent participants 5, 6, 7: truth 11, 3, 7 vs oracle 9, 4, 10
    oracle = ai.loc["generator oracle (synthetic ground truth)"]
    assert oracle["mae_mean"] == pytest.approx(2.0)
    assert oracle["rmse_mean"] == pytest.approx(math.sqrt((4 + 1 + 9) / 3))
    assert oracle["ccc_mean"] == pytest.approx(M.ccc([11, 3, 7], [9, 4, 10]))
    assert oracle["n_participants"] == 3 and oracle["coverage_50"] == "n/a"
    whole_dev_oracle = table[(table["split"] == "dev") & table["row"].str.startswith("generator")].iloc[0]
    assert whole_dev_oracle["n_participants"] == 5
    # without the per-participant file the dev-ai oracle row says so instead of guessing
    no_people = headline_table(runs, LABEL, oracle=gt / "oracle.json").set_index(["split", "row"])
    row = no_people.loc[("dev-ai", "generator oracle (synthetic ground truth)")]
    assert row["mae"] == "n/a" and math.isnan(row["mae_mean"]) and "not given" in row["note"]
    with pytest.raises(InputError, match="participants.csv: oracle participants file not found"):
        headline_table(runs, LABEL, oracle=gt / "oracle.json", oracle_participants=tmp_path / "x" /
                       "participants.csv")
    pd.DataFrame({"participant_id": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"bad\.csv: .*lacks column"):
        headline_table(runs, LABEL, oracle=gt / "oracle.json", oracle_participants=tmp_path / "bad.csv")


def test_headline_reads_metrics_that_predate_the_new_keys():
    runs = _old(_chosen_runs({"moe-fusion": {}, "moe-fusion-shuffled": {"random_mu": True}}))
    table = headline_table(runs, LABEL)
    assert list(table["split"]) == ["dev"] * 3 + ["dev-ai"] * 3 + ["test"] * 3
    ai = table[table["split"] == "dev-ai"].set_index("row")
    assert ai.loc["mean predictor", "mae"] == "n/a" and math.isnan(ai.loc["mean predictor", "mae_mean"])
    assert math.isnan(ai.loc["real run", "mae_minus_mean_predictor"])
    assert not ai["control_beats_mean_predictor"].any()
    assert ai.loc["real run", "mae_mean"] > 0  # by_interviewer was always written
    assert set(table.loc[table["row"] == "real run", "weighting"]) == {"n/a"}


# ---------------------------------------------------------------- aggregation choice
def test_aggregation_table_one_row_per_model_and_weighting():
    runs = _chosen_runs({"moe-fusion": {}, "lstm-audio": {"noise": 5.0}})
    table = aggregation_table(runs, LABEL)
    assert list(table.columns) == AGGREGATION_COLUMNS
    assert (table["dataset"] == LABEL).all()
    assert list(table["model"]) == ["lstm-audio"] * 4 + ["moe-fusion"] * 4
    assert list(table["weighting"]) == list(WEIGHTINGS) * 2
    moe = table[table["model"] == "moe-fusion"].set_index("weighting")
    assert moe["chosen"].sum() == 1
    assert moe.index[moe["chosen"]][0] == runs[("moe-fusion", 2, "test")]["weighting"]
    # the comparison is on the two seeds' dev tables, recomputed here
    dev = [make_chunks(seed * 100 + len("moe-fusion"), split="dev") for seed in (1, 2)]
    name, choice = choose_weighting(dev)
    expected = choice.set_index("weighting")
    assert moe.index[moe["chosen"]][0] == name
    assert moe["dev_mae_mean"].to_numpy() == pytest.approx(expected["mae_mean"].to_numpy())
    assert moe["dev_coverage_90"].to_numpy() == pytest.approx(expected["coverage_90_mean"].to_numpy())
    assert (moe["n_seeds"] == 2).all()
    assert moe.loc[name, "dev_mae_mean"] == moe["dev_mae_mean"].min()
    # old metrics: one n/a row per model, not a crash
    old = aggregation_table(_old(runs), LABEL)
    assert list(old["weighting"]) == ["n/a", "n/a"] and not old["chosen"].any()
    assert old["dev_mae_mean"].isna().all()
    # a comparison that differs between seeds is refused
    broken = {k: dict(v) for k, v in runs.items()}
    broken[("moe-fusion", 2, "dev")]["weighting_choice"] = broken[("moe-fusion", 2, "dev")][
        "weighting_choice"][:2]
    with pytest.raises(InputError, match="weighting comparison"):
        aggregation_table(broken, LABEL)


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
