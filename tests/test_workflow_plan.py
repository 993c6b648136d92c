"""The Snakemake workflow planned, not run: lint, dry runs, config validation at DAG-build time.
(The whole DAG on a tiny SYNTHETIC cohort: tests/test_workflow.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake_run import REPO
from snakemake_run import job_counts as _job_counts
from snakemake_run import snakemake as _snakemake


def test_lint_is_clean():
    res = _snakemake("--lint")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_dry_run_plans_the_cohort_and_manifest(tmp_path):
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "demo_generate" in out and "manifest_build" in out


def test_a_real_corpus_left_at_kind_demo_is_refused_when_the_dag_is_built(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "data" / "300_P").mkdir(parents=True)
    (corpus / "notes.txt").write_text("mine")
    (tmp_path / "c.yaml").write_text(f"dataset: {{kind: demo, root: {corpus}}}\n")
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"),
                     str(tmp_path / "c.yaml"))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "not a synthetic cohort written by depsev" in out, out[-3000:]
    assert (corpus / "notes.txt").read_text() == "mine" and (corpus / "data" / "300_P").is_dir()


@pytest.fixture(scope="module")
def manifest_only(tmp_path_factory, small_cohort):
    """A scratch working directory holding the small SYNTHETIC cohort and its manifest (nothing else
    run), so that dry runs plan the whole DAG past the manifest checkpoint in seconds."""
    work = tmp_path_factory.mktemp("dag")
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    shutil.copytree(small_cohort, work / "results" / "demo-cohort")
    res = _snakemake("results/manifest.parquet", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
                     "--directory", str(work), "--rerun-triggers", "mtime")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return work


def _dry_run(work: Path, *args: str, opensmile_enabled: bool | None = None) -> dict[str, int]:
    extra = []
    if opensmile_enabled is not None:
        overlay = {"audio": {"opensmile": {"enabled": opensmile_enabled}}}
        (work / "opensmile.yaml").write_text(yaml.safe_dump(overlay))
        extra = ["--configfile", str(work / "config.yaml"), str(work / "opensmile.yaml")]
    res = _snakemake("-n", *args, *extra, "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                     "--rerun-triggers", "mtime")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return _job_counts(out)


@pytest.mark.parametrize("enabled", [None, True])
def test_egemaps_in_default_targets_only_when_enabled(manifest_only, enabled):
    """audio.opensmile.enabled (config.yaml: false): eGeMAPS, their QC and statistics join the default
    targets only when true; every other stage is planned the same."""
    manifest = pd.read_parquet(manifest_only / "results/manifest.parquet")
    n_ok = int((manifest["status"] == "ok").sum())
    counts = _dry_run(manifest_only, opensmile_enabled=enabled)
    assert counts["audio_clean"] == counts["vggish_embed"] == counts["face_frames"] == n_ok
    assert counts.get("opensmile_lld", 0) == (n_ok if enabled else 0)
    assert counts["normalize_fit"] == (3 if enabled else 2)  # video, audio (+ egemaps)
    assert counts["qc_summary"] == 1 and counts["integrity_check"] == 1


def test_egemaps_made_when_asked_for(manifest_only):
    """Off by default, the eGeMAPS rules still run for a file asked for: the statistics need the
    training sessions' LLDs (and their cleaned audio), nothing else."""
    manifest = pd.read_parquet(manifest_only / "results/manifest.parquet")
    n_train = int(((manifest["status"] == "ok") & (manifest["split"] == "train")).sum())
    counts = _dry_run(manifest_only, "results/normalize/egemaps.json")
    assert counts == {"audio_clean": n_train, "opensmile_lld": n_train, "normalize_fit": 1}
    pid = int(manifest.loc[manifest["status"] == "ok", "participant_id"].iloc[0])
    assert _dry_run(manifest_only, f"results/features/egemaps/{pid}.parquet") == \
        {"audio_clean": 1, "opensmile_lld": 1}


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


def test_config_typos_and_missing_paths_fail_when_the_dag_is_built(tmp_path):
    """Before any job runs (Snakemake would delete a rerun job's outputs first)."""
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"model": {"hiden": 32}}))
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"), str(typo))
    assert res.returncode != 0 and "hiden" in res.stdout + res.stderr
    # a missing input path (every case: tests/test_settings.py, Settings.check_inputs)
    real = tmp_path / "real.yaml"
    real.write_text(yaml.safe_dump({"dataset": {"kind": "edaic", "root": str(tmp_path)},
                                    "audio": {"vggish": {"weights": str(tmp_path / "w.pth")}}}))
    res = _snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"), str(real))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "VGGish weights file not found" in out, out[-2000:]


def test_a_rule_script_runs_with_its_rules_threads(tmp_path):
    """Every rule script enters depsev.workflow.job: numeric libraries imported after it use the rule's
    ``threads:`` (Snakemake sets OMP_NUM_THREADS for shell rules only), and its output goes to the log."""
    import subprocess
    import sys

    code = ("import types, depsev.workflow as w\n"
            f"sm = types.SimpleNamespace(threads=1, log=[{str(tmp_path / 'job.log')!r}])\n"
            "with w.job(sm):\n"
            "    import torch\n"
            "    print('threads', torch.get_num_threads())\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert (tmp_path / "job.log").read_text().split() == ["threads", "1"]
    for script in sorted((REPO / "workflow/scripts").glob("*.py")):
        if script.name != "_depsev.py":
            assert "with job(snakemake):" in script.read_text(), script.name
