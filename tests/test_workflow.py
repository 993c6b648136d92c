"""The Snakemake workflow: the whole DAG on a tiny SYNTHETIC cohort holding bad sessions, a killed
run resumed, single-stage reruns, the report and the predict rules. (Lint, dry runs and config checks:
tests/test_workflow_plan.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from badcorpus import add_bad_sessions
from snakemake_run import REPO
from snakemake_run import job_counts as _job_counts
from snakemake_run import snakemake as _snakemake

SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The whole DAG on a tiny synthetic cohort, in a scratch working directory."""
    work = tmp_path_factory.mktemp("wf")
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(participants=10, minutes=1.2, seed=5)
    cfg["demo"]["chunks"] = {"video_frames": 600, "audio_frames": 20}
    # every rule runs, with the smallest model grid: wiring, not learning (tests/test_learning.py); one
    # seed (another seed is the same jobs with another wildcard value; statistics over seeds:
    # tests/test_tables.py)
    cfg["train"].update(max_epochs=2, patience=2)
    cfg["evaluate"].update(seeds=[0], baselines=["rf", "lstm"], latency_repeats=2,
                           single_stream_mixtures=True)  # off in config.yaml: wired here
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    # the cohort the DAG would generate (rule demo_generate), written first so that bad sessions can be
    # added to it: the run must complete with them (no --keep-going), each one a QC row with its reason
    from depsev.corpus.synthetic import generate_cohort

    size = {k: cfg["demo"][k] for k in ("participants", "minutes", "seed")}
    generate_cohort(work / cfg["dataset"]["root"], **size)
    bad = add_bad_sessions(work / cfg["dataset"]["root"])
    (work / "bad_sessions.json").write_text(json.dumps({str(k): v for k, v in bad.items()}))
    res = _snakemake("--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                     "--configfile", str(work / "tiny.yaml"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-6000:]
    return work


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
    for modality in ("video", "audio", "fusion"):
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
                 "moe-video", "rf-audio", "lstm-fusion")
    inner = ("expert-audio-woz", "expert-video-ai", "expert-fusion-woz-shuffled", "expert-fusion-ai-shuffled")
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


def test_a_killed_run_resumes_to_the_same_tables(tiny_run, tmp_path):
    """SIGKILL to Snakemake and to its running job mid-way through a training chain, then
    ``--unlock`` and ``--rerun-incomplete`` (as the README says): the resumed run's tables, metrics and
    models equal the uninterrupted run's (same seeds, same numbers)."""
    import signal
    import time

    work = tmp_path / "wf"
    shutil.copytree(tiny_run, work, symlinks=True)
    # in a copy of the finished run, one training chain is redone (the fusion WoZ expert, the AI-agent
    # expert started from it, the mixture of both), with their evaluation and the tables
    chain = ("expert-fusion-woz", "expert-fusion-ai", "moe-fusion")
    for log in ("train_expert/fusion-woz-seed0", "train_expert/fusion-ai-seed0", "train_fusion/fusion-seed0"):
        (work / f"logs/{log}.log").unlink()
    # the tables (rule tables_build) and what they need; figures and the latency table are left out
    args = ["results/tables/headline.csv", "--cores", "2", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(work), "--configfile", str(work / "tiny.yaml")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    redo = ["--forcerun", "results/models/expert-fusion-woz/seed0"]
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", *args, *redo], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = work / "logs/train_expert/fusion-ai-seed0.log"  # the second job of the chain has begun
    deadline = time.monotonic() + 300
    try:
        while not started.exists():
            assert proc.poll() is None, "the run ended before the job to kill started"
            assert time.monotonic() < deadline, "the job to kill never started"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started
        proc.wait()
    assert not (work / "results/models/expert-fusion-ai/seed0/summary.json").exists()
    assert list((work / ".snakemake/incomplete").iterdir())  # the killed jobs' outputs are marked
    refused = _snakemake(*args)  # and the killed run's lock is left: refused until --unlock
    assert refused.returncode != 0 and "--unlock" in refused.stdout + refused.stderr
    assert _snakemake(*args, "--unlock").returncode == 0
    res = _snakemake(*args, "--rerun-incomplete")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for table in ("headline", "comparison_grid", "aggregation"):
        pd.testing.assert_frame_equal(pd.read_csv(work / f"results/tables/{table}.csv"),
                                      pd.read_csv(tiny_run / f"results/tables/{table}.csv"))
    for model in chain:
        for name in ("summary.json", "config.json"):
            resumed, first = (json.loads((w / f"results/models/{model}/seed0/{name}").read_text())
                              for w in (work, tiny_run))
            assert resumed == first, (model, name)
        pd.testing.assert_frame_equal(
            pd.read_parquet(work / f"results/models/{model}/seed0/dev_predictions.parquet"),
            pd.read_parquet(tiny_run / f"results/models/{model}/seed0/dev_predictions.parquet"))
        for split in ("dev", "test"):
            assert (json.loads((work / f"results/metrics/{model}/seed0/{split}.json").read_text())
                    == json.loads((tiny_run / f"results/metrics/{model}/seed0/{split}.json").read_text()))


def test_report_renders_offline(tiny_run):
    res = _snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "--report", str(tiny_run / "report.html"),
                     cwd=tiny_run)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "SYNTHETIC" in html and "random" in html
    # the front page (rule report_summary): the answer first; `depsev bench report` checks it in a browser
    assert "depsev-summary" in html and "Data: SYNTHETIC" in html and "Integrity: PASSED" in html


def test_single_stage_reruns(tiny_run):
    res = _snakemake("--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "--forcerun", "vggish_embed", "-n")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    stats = _job_counts(out)
    assert "vggish_embed" in stats and "audio_clean" not in stats and "face_frames" not in stats
    assert "opensmile_lld" not in stats


def test_training_reads_the_shards_only(tiny_run):
    """Training takes the feature preparation it records from the shard metadata: its rules declare
    the train and dev shards (and expert checkpoints) as inputs, never a feature file or a test shard."""
    res = _snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "-n", "--forcerun", "train_fusion",
                     "results/models/moe-fusion/seed0")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    block = out.split("rule train_fusion:")[1]
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


# ---------------------------------------------------------------- the paper preset
PRESET = REPO / "workflow/presets/paper.yaml"
#: what a preset run shares with the tiny run: the cohort and the per-session features, which no setting
#: of the preset changes (same audio cleaning, VGGish weights, face threshold); everything from the
#: normalization statistics on (face.features au17, chunks, balancing, models, tables) is the preset's own
SHARED_WITH_PRESET = ("demo-cohort", "manifest.parquet", "features", "qc/sessions.tsv", "qc/face", "qc/audio",
                      "qc/vggish")


@pytest.fixture(scope="module")
def preset_run(tiny_run, tmp_path_factory):
    """``snakemake -d WORK --configfile workflow/presets/paper.yaml tiny.yaml`` in a working directory
    without a config.yaml (the repository's, then the preset, then the tiny sizes), seeded with the tiny
    run's cohort and per-session features (copied, times kept) so that only the preset's stages run."""
    work = tmp_path_factory.mktemp("preset")
    for rel in SHARED_WITH_PRESET:
        src, dst = tiny_run / "results" / rel, work / "results" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    (work / "results/config_name.txt").write_text("paper\n")  # a fresh folder of the preset's
    tiny_cfg = yaml.safe_load((tiny_run / "tiny.yaml").read_text())
    tiny = {
        "demo": {**tiny_cfg["demo"],
                 # the tiny run's chunk sizes halved: 300 face frames (60 LSTM steps after the preset's 5x
                 # down-sampling, no pooling), 10 VGGish frames
                 "chunks": {"video_frames": 300, "audio_frames": 10}},
        "train": {"max_epochs": 1, "patience": 1, "mixture_epochs": 1},
        # one seed, one cell of the grid besides the paper's model (the grid's rules are the same for each)
        "evaluate": {"seeds": [0], "baselines": ["rf"], "modalities": ["fusion"], "shuffled_control": False,
                     "single_stream_mixtures": False},
    }
    (work / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    import time

    start = time.monotonic()
    res = _snakemake("results/tables/headline.csv", "results/tables/comparison_grid.csv",
                     "--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                     "--configfile", str(PRESET), str(work / "tiny.yaml"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-6000:]
    print(f"preset DAG: {time.monotonic() - start:.1f} s")
    return work, _job_counts(res.stdout + res.stderr)


def test_preset_run_trains_with_the_preset_and_writes_its_own_tables(preset_run, tiny_run):
    work, jobs = preset_run
    assert not (work / "config.yaml").exists()
    # the shared per-session features were not redone; every stage the preset changes ran
    assert not {"demo_generate", "manifest_build", "face_frames", "audio_clean", "vggish_embed"} & set(jobs)
    assert {"normalize_fit", "chunk_shards", "train_expert", "train_fusion", "train_baseline", "evaluate",
            "tables_build"} <= set(jobs), jobs
    assert (work / "results/config_name.txt").read_text().strip() == "paper"
    # the preset reached every stage: the 17 AU intensities, balanced training chunks, the paper's model
    # and optimiser settings
    video = json.loads((work / "results/normalize/video.json").read_text())
    assert len(video["feature_names"]) == 17 and all(n.endswith("_r") for n in video["feature_names"])
    cfg = json.loads((work / "results/models/moe-fusion/seed0/config.json").read_text())
    model, train = cfg["model"], cfg["train"]
    assert model["video_dim"] == 17 and model["encoder_steps"] == 0 and model["moe_variance"] == "paper"
    assert (model["hidden"], model["expert_hidden"], model["fusion_hidden"]) == (40, 20, 32)
    assert train["lr"] == 0.001 and train["grad_accum_steps"] == 4 and train["ai_expert_init"] == "scratch"
    assert cfg["features"]["balance"] is not None  # chunks.balance_train: the train shards down-sampled
    ai = json.loads((work / "results/models/expert-fusion-ai/seed0/config.json").read_text())
    assert not ai.get("init_from")  # from scratch
    # its own tables, labelled with the configuration; the tiny run's say "default"
    for table in ("headline", "comparison_grid"):
        assert set(pd.read_csv(work / f"results/tables/{table}.csv")["config"]) == {"paper"}, table
        assert set(pd.read_csv(tiny_run / f"results/tables/{table}.csv")["config"]) == {"default"}
    grid = pd.read_csv(work / "results/tables/comparison_grid.csv")
    assert {"moe-fusion", "rf-fusion"} <= set(grid["model"])
    assert grid["dataset"].str.contains("synthetic").all()
    headline = pd.read_csv(work / "results/tables/headline.csv")
    assert "shuffled-label control" not in set(headline["row"])  # evaluate.shuffled_control: false


def test_a_results_folder_of_one_configuration_is_refused_to_another(preset_run, tiny_run, tmp_path):
    """Nothing is mixed: the default configuration in the preset run's folder, and the preset in the
    default run's, are refused when the DAG is built."""
    work, _ = preset_run
    for folder, owner, extra in ((work, "paper", []), (tiny_run, "default", ["--configfile", str(PRESET)])):
        res = _snakemake("-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory",
                         str(folder), *extra)
        assert res.returncode != 0
        assert f"holds the outputs of configuration '{owner}'" in res.stdout + res.stderr
