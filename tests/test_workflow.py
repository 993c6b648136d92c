"""The Snakemake workflow: lint, dry run, and the whole DAG on a tiny SYNTHETIC cohort."""

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

REPO = Path(__file__).resolve().parents[1]


def _snakemake(*args, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def test_lint_is_clean():
    res = _snakemake("--lint")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_dry_run_plans_the_cohort_and_manifest(tmp_path):
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "demo_generate" in out and "manifest_build" in out


def test_config_is_validated(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"dataset": {"kind": "nonsense", "root": "x"}}))
    res = _snakemake("-n", "--configfile", str(bad))
    assert res.returncode != 0
    assert "nonsense" in res.stdout + res.stderr


def test_random_weights_refused_for_real_corpus(tmp_path):
    cfg = tmp_path / "real.yaml"
    cfg.write_text(yaml.safe_dump({"dataset": {"kind": "edaic", "root": str(tmp_path)}}))
    res = _snakemake("-n", "--configfile", str(cfg))
    assert res.returncode != 0
    assert "random" in res.stdout + res.stderr and "depsev weights vggish" in res.stdout + res.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The whole DAG on a tiny synthetic cohort, in a scratch working directory."""
    work = tmp_path_factory.mktemp("wf")
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(participants=10, minutes=1.2, seed=5)
    cfg["demo"]["chunks"] = {"video_frames": 600, "audio_frames": 15}
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake("--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                     "--configfile", str(work / "tiny.yaml"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-6000:]
    return work


def test_tiny_run_outputs(tiny_run):
    work = tiny_run
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    assert len(manifest) == 10
    summary = pd.read_csv(work / "results/qc/summary.tsv", sep="\t")
    assert (summary["participants_in"] == summary["ok"] + summary["flagged"]).all()
    for stats in ("video", "audio", "egemaps"):
        s = json.loads((work / f"results/normalize/{stats}.json").read_text())
        train = set(manifest.loc[(manifest["split"] == "train") & (manifest["status"] == "ok"),
                                 "participant_id"])
        assert set(s["participant_ids"]) == train
    for modality in ("video", "audio", "fusion"):
        for split in ("train", "dev", "test"):
            parts = sorted((work / f"results/shards/{modality}/{split}").glob("part-*.parquet"))
            assert parts, (modality, split)
            df = pd.read_parquet(parts[0])
            assert set(df["split"]) == {split}
    for rule in ("audio_clean", "vggish_embed", "opensmile_lld", "face_frames", "chunk_shards"):
        assert any((work / "benchmarks" / rule).glob("*.tsv")), rule
        assert any((work / "logs" / rule).glob("*.log")), rule


def test_single_stage_reruns(tiny_run):
    res = _snakemake("--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tiny_run),
                     "--configfile", str(tiny_run / "tiny.yaml"), "--forcerun", "opensmile_lld", "-n")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "opensmile_lld" in out and "vggish_embed" not in out.split("Job stats")[-1].split("Reasons")[0]
