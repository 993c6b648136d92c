"""The whole DAG on a tiny SYNTHETIC cohort holding bad sessions: built once per pytest run, whichever
test process (pytest-xdist worker) asks first; the others wait for it on a lock file (see the
``tiny_run`` fixture in conftest.py). Tests that change it work on a copy (:func:`copy_run`)."""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import yaml
from badcorpus import add_bad_sessions
from snakemake_run import REPO
from snakemake_run import snakemake as _snakemake

#: written when the run completed
DONE = "tiny_run_done.json"


def build_tiny_run(work: Path) -> Path:
    """The finished tiny run in ``work`` (built here unless another process did)."""
    work.parent.mkdir(parents=True, exist_ok=True)
    with open(work.parent / f"{work.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / DONE).is_file():
            if work.exists():
                shutil.rmtree(work)  # a run that failed earlier in this pytest run
            _build(work)
            (work / DONE).write_text(json.dumps({"work": str(work)}))
    return work


def _build(work: Path) -> None:
    work.mkdir(parents=True)
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(participants=10, minutes=1.2, seed=5)
    cfg["demo"]["chunks"] = {"video_frames": 600, "audio_frames": 20}
    # every rule runs, with the smallest model grid: wiring, not learning (tests/test_learning.py); one
    # seed (another seed is the same jobs with another wildcard value; statistics over seeds:
    # tests/test_tables.py). Two of the three modalities and one baseline family: a video-only model
    # (the LSTM baseline) runs in the paper preset's run (tests/test_workflow_preset.py), the video
    # mixture in tests/test_learning.py; the same rules with other wildcard values.
    cfg["train"].update(max_epochs=2, patience=2)
    cfg["model"]["rf_trees"] = 10  # the random-forest baseline's wiring; 200 trees are 2-3 CPU-s per RF job
    # no spectral gating (tests/test_audio_clean.py tests it): a preparation setting that is not
    # depsev's default, carried by the features, shards and checkpoints to `depsev predict`, which the
    # predict tests (tests/test_predict.py, on this run's models) check is followed
    cfg["audio"]["denoise"] = False
    cfg["evaluate"].update(seeds=[0], baselines=["rf"], modalities=["audio", "fusion"],
                           latency_repeats=2, single_stream_mixtures=True)  # off in config.yaml: wired here
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


def copy_run(tiny_run: Path, dst: Path) -> Path:
    """A private copy of the finished run, without the locks and incomplete markers of any Snakemake
    that another test process may be running in it right now."""
    shutil.copytree(tiny_run, dst, symlinks=True,
                    ignore=lambda d, names: [n for n in names if Path(d).name == ".snakemake"
                                             and n in ("locks", "incomplete")])
    return dst
