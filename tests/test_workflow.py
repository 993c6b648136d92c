"""The Snakemake workflow: the whole DAG on a tiny SYNTHETIC cohort holding bad sessions (built once per
pytest run: tests/tiny_run.py), single-stage reruns, the report and the predict rules. (A killed run
resumed: tests/test_workflow_resume.py; the paper preset: tests/test_workflow_preset.py; lint, dry runs
and config checks: tests/test_workflow_plan.py.)"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from snakemake_run import REPO
from snakemake_run import job_counts as _job_counts
from snakemake_run import snakemake as _snakemake

SPLITS = ("train", "dev", "test")


def test_bad_sessions_are_qc_rows_and_the_run_goes_on(tiny_run):
    """At least 15 kinds of bad session in the corpus: the whole DAG completed (no --keep-going), every
    bad session is a QC row carrying its reason, odd-but-readable input went all the way through, and
    count in = ok + flagged at every stage."""
    bad = {int(k): v for k, v in json.loads((tiny_run / "bad_sessions.json").read_text()).items()}
    assert sum(expected != "ok" for _, expected in bad.values()) >= 15
    qc = pd.read_csv(tiny_run / "results/qc/sessions.tsv", sep="\t", keep_default_na=False)
    assert qc["participant_id"].is_unique
    for pid, (case, expected) in bad.items():
        status = qc.loc[qc["participant_id"] == pid, "status"]
        assert len(status) == 1, (pid, case)
        if expected == "ok":
            assert status.item() == "ok", (case, status.item())
            assert (tiny_run / f"results/features/vggish/{pid}.parquet").is_file(), case
        else:
            assert status.item().startswith("flagged: ") and expected in status.item(), (case, status.item())
            assert not list((tiny_run / "results/features").glob(f"*/{pid}*")), case
    labelled = sum(len(pd.read_csv(p)) for p in (tiny_run / "results/demo-cohort/labels").glob("*_split.csv"))
    summary = pd.read_csv(tiny_run / "results/qc/summary.tsv", sep="\t")
    assert (summary["participants_in"] == summary["ok"] + summary["flagged"]).all()
    first = summary.iloc[0]
    assert first["participants_in"] == labelled + 1 == len(qc)  # + the session without a label
    assert first["flagged"] == sum(expected != "ok" for _, expected in bad.values())


def test_tiny_run_outputs(tiny_run):
    work = tiny_run
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    assert int((manifest["status"] == "ok").sum()) == 10 + 1  # + a readable copy (tests/badcorpus.py)
    summary = pd.read_csv(work / "results/qc/summary.tsv", sep="\t")
    assert (summary["participants_in"] == summary["ok"] + summary["flagged"]).all()
    train = set(manifest.loc[(manifest["split"] == "train") & (manifest["status"] == "ok"), "participant_id"])
    for stats in ("video", "audio"):
        s = json.loads((work / f"results/normalize/{stats}.json").read_text())
        assert s["fitted_on"] == "train" and set(s["participant_ids"]) == train
    # eGeMAPS feed no model: not made by default (audio.opensmile.enabled: false)
    assert not (work / "results/normalize/egemaps.json").exists()
    assert not (work / "results/features/egemaps").exists()
    assert not (work / "benchmarks/opensmile_lld").exists()
    for modality in ("video", "audio", "fusion"):  # every modality's shards are default targets
        for split in ("train", "dev", "test"):
            parts = sorted((work / f"results/shards/{modality}/{split}").glob("part-*.parquet"))
            assert parts, (modality, split)
            df = pd.read_parquet(parts[0])
            assert set(df["split"]) == {split}
    for rule in ("audio_clean", "vggish_embed", "face_frames", "chunk_shards",
                 "normalize_apply", "train_expert", "train_moe", "train_fusion", "train_baseline", "evaluate",
                 "plots_render", "curves_render"):
        assert any((work / "benchmarks" / rule).glob("*.tsv")), rule
        assert any((work / "logs" / rule).glob("*.log")), rule
    assert json.loads((work / "results/qc/integrity.json").read_text())["ok"] is True
    front = (work / "results/report/summary.rst").read_text()  # the report's front page (report_summary)
    assert "**Data: SYNTHETIC**" in front and "Integrity: PASSED" in front
    assert "data:image/png;base64," in front


def test_tiny_run_models_and_tables(tiny_run):
    work = tiny_run
    evaluated = ("moe-fusion", "moe-fusion-shuffled", "expert-fusion-woz", "expert-fusion-ai", "moe-audio",
                 "rf-audio", "rf-fusion")
    inner = ("expert-audio-woz", "expert-audio-ai", "expert-fusion-woz-shuffled", "expert-fusion-ai-shuffled")
    assert sorted(p.name for p in (work / "results/models").iterdir()) == sorted(evaluated + inner)
    for model in evaluated + inner:
        for seed in (0,):
            d = work / f"results/models/{model}/seed{seed}"
            cfg = json.loads((d / "config.json").read_text())
            assert cfg["synthetic"] is True and cfg["data"]["splits"] == ["train", "dev"]
            assert cfg["features"]["schema_version"] == 3
            # the feature preparation, carried forward by the feature files and the shards
            key = "vggish_weights_mode" if "audio" in cfg["features"]["streams"] else "confidence_threshold"
            assert cfg["features"]["preparation"][key] is not None, (model, key)
            for split in ("dev", "test"):
                metrics = work / f"results/metrics/{model}/seed{seed}/{split}.json"
                assert metrics.is_file() == (model in evaluated), metrics
                if model in evaluated:
                    m = json.loads(metrics.read_text())
                    assert m["split"] == split and m["n_participants"] > 0 and m["weighting"]
    # the mixtures start from their two interviewer experts (the shuffled control's from its own)
    for mixture, expert in (("moe-audio", "expert-audio"), ("moe-fusion", "expert-fusion"),
                            ("moe-fusion-shuffled", "expert-fusion")):
        cfg = json.loads((work / f"results/models/{mixture}/seed0/config.json").read_text())
        suffix = "-shuffled" if mixture.endswith("shuffled") else ""
        assert cfg["init_experts"] == {who: f"results/models/{expert}-{who}{suffix}/seed0"
                                       for who in ("woz", "ai")}
        assert cfg["shuffle_labels"] == bool(suffix)
    ai = json.loads((work / "results/models/expert-fusion-ai/seed0/config.json").read_text())
    assert ai["init_from"] == "results/models/expert-fusion-woz/seed0" and ai["interviewer"] == "ai"
    assert (work / "results/tables/aggregation.csv").is_file()
    grid = pd.read_csv(work / "results/tables/comparison_grid.csv")
    assert grid["dataset"].str.contains("synthetic").all()
    headline = pd.read_csv(work / "results/tables/headline.csv")
    assert {"real run", "shuffled-label control", "mean predictor"} <= set(headline["row"])
    assert headline["row"].str.contains("oracle").any()
    published = pd.read_csv(work / "results/tables/published.csv")
    assert published["origin"].str.startswith("published").any()
    assert published["origin"].str.contains("synthetic").any()
    light = pd.read_csv(work / "results/tables/lightweight.csv")
    assert (light.loc[light["model"] == "moe-fusion", "parameters"] < 128_905).all()
    pngs = list((work / "results/plots").rglob("*.png"))
    assert len(pngs) >= 10 and all(p.stat().st_size > 1000 for p in pngs)


def test_report_renders_offline(tiny_run):
    res = _snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "--report", str(tiny_run / "report.html"),
                     cwd=tiny_run)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "SYNTHETIC" in html and "random" in html
    # the front page (rule report_summary): the answer first; `depsev bench report` checks it in a browser
    assert "depsev-summary" in html and "Data: SYNTHETIC" in html and "Integrity: PASSED" in html


@pytest.fixture(scope="module")
def forced_dry_run(tiny_run) -> str:
    """One dry run of the finished tiny run with two stages forced (VGGish, the fusion mixture's
    training): what would rerun, and each job's declared inputs."""
    res = _snakemake("--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "-n", "--forcerun", "vggish_embed",
                     "train_fusion")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return out


def test_single_stage_reruns(forced_dry_run):
    stats = _job_counts(forced_dry_run)
    assert "vggish_embed" in stats and "audio_clean" not in stats and "face_frames" not in stats
    assert "opensmile_lld" not in stats


def test_training_reads_the_shards_only(forced_dry_run):
    """Training takes the feature preparation it records from the shard metadata: its rules declare
    the train and dev shards (and expert checkpoints) as inputs, never a feature file or a test shard."""
    jobs = [b.split("\n\n")[0] for b in forced_dry_run.split("rule train_fusion:")[1:]]
    block = [b for b in jobs if "output: results/models/moe-fusion/seed0" in b][0]
    inputs = block.split("input:")[1].split("\n")[0].strip().split(", ")
    shards = [f for f in inputs if f.startswith("results/shards/")]
    assert sorted(shards) == ["results/shards/fusion/dev", "results/shards/fusion/train"]
    assert all(f in shards or f.startswith("results/models/expert-fusion-") for f in inputs), inputs
    assert not [f for f in inputs if f.startswith("results/features/")]


def test_predict_rules_on_new_session_folders(tiny_run):
    """predict_new / predict_summary on a folder of new sessions (copies of two test sessions)."""
    work = tiny_run
    new = work / "new_recordings"
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    ok_test = (manifest["split"] == "test") & (manifest["status"] == "ok")
    pids = manifest.loc[ok_test, "participant_id"].tolist()[:2]
    for pid in pids:
        shutil.copytree(work / f"results/demo-cohort/data/{pid}_P", new / f"{pid}_P")
    cfg = yaml.safe_load((work / "tiny.yaml").read_text())
    cfg["predict"] = {"root": str(new), "kind": "demo", "model": "results/models/moe-fusion/seed0"}
    (work / "predict.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake("results/predict/summary.tsv", "--cores", "2", "--snakefile", str(REPO / "Snakefile"),
                     "--directory", str(work), "--configfile", str(work / "predict.yaml"))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = pd.read_csv(work / "results/predict/summary.tsv", sep="\t")
    assert len(summary) == len(pids)
    assert summary["summary"].str.contains("research measurement, not a diagnosis").all()
    one = json.loads((work / f"results/predict/{pids[0]}.json").read_text())
    assert one["provenance"]["training_dataset"]["synthetic"] is True
    assert set(one["modalities_used"]) == {"audio", "video"}
    # chunks combined as the model's evaluation chose on dev (the rule waits for that evaluation)
    chosen = json.loads((work / "results/metrics/moe-fusion/seed0/dev.json").read_text())["weighting"]
    assert one["provenance"]["chunk_weighting"]["value"] == chosen
    assert one["provenance"]["chunk_weighting"]["source"].startswith("the evaluation's choice on dev")
