"""The paper preset (workflow/presets/paper.yaml) through the workflow in its own working directory,
seeded with the shared tiny run's cohort and features (tests/tiny_run.py); nothing is mixed with the
default configuration's results."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from snakemake_run import REPO
from snakemake_run import job_counts as _job_counts
from snakemake_run import snakemake as _snakemake

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
        # one seed, one cell of the grid besides the paper's model (the grid's rules are the same for each):
        # the LSTM baseline on the video stream alone, which the tiny run leaves out
        "evaluate": {"seeds": [0], "baselines": ["lstm"], "modalities": ["video"], "shuffled_control": False,
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
    assert {"moe-fusion", "lstm-video"} <= set(grid["model"])
    # a face-only model records the face preparation only
    lstm = json.loads((work / "results/models/lstm-video/seed0/config.json").read_text())
    assert lstm["model"]["video_dim"] == 17
    lstm = lstm["features"]["preparation"]
    assert lstm["confidence_threshold"] == 0.75 and "denoise" not in lstm
    for split in ("train", "dev", "test"):  # the video stream's own shards: the 17 AU intensities
        part = sorted((work / f"results/shards/video/{split}").glob("part-*.parquet"))[0]
        assert len(pd.read_parquet(part)["seq"].iloc[0][0]) == 17, split
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
