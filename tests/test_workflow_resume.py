"""A killed workflow run resumed (--unlock, --rerun-incomplete) to the same tables, in a copy of the
shared tiny run (tests/tiny_run.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from snakemake_run import REPO
from snakemake_run import job_counts as _job_counts
from snakemake_run import snakemake as _snakemake
from tiny_run import copy_run


def test_a_killed_run_resumes_to_the_same_tables(tiny_run, tmp_path):
    """SIGKILL to Snakemake and to its running job mid-way through a training chain, then
    ``--unlock`` and ``--rerun-incomplete`` (as the README says): the resumed run's tables, metrics and
    models equal the uninterrupted run's (same seeds, same numbers)."""
    import signal
    import time

    work = copy_run(tiny_run, tmp_path / "wf")
    # in a copy of the finished run, one training chain is redone (the audio mixture's WoZ expert, the
    # AI-agent expert started from it, the mixture of both), with the mixture's evaluation and the tables
    chain = ("expert-audio-woz", "expert-audio-ai", "moe-audio")
    for log in ("train_expert/audio-woz-seed0", "train_expert/audio-ai-seed0", "train_moe/audio-seed0"):
        (work / f"logs/{log}.log").unlink()
    # the tables (rule tables_build) and what they need; figures and the latency table are left out
    args = ["results/tables/headline.csv", "--cores", "2", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(work), "--configfile", str(work / "tiny.yaml")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    redo = ["--forcerun", "results/models/expert-audio-woz/seed0"]
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", *args, *redo], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = work / "logs/train_expert/audio-ai-seed0.log"  # the second job of the chain has begun
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
    assert not (work / "results/models/expert-audio-ai/seed0/summary.json").exists()
    assert not (work / "logs/train_moe/audio-seed0.log").exists()  # the mixture had not started
    assert list((work / ".snakemake/incomplete").iterdir())  # the killed jobs' outputs are marked
    refused = _snakemake(*args)  # and the killed run's lock is left: refused until --unlock
    assert refused.returncode != 0 and "--unlock" in refused.stdout + refused.stderr
    assert _snakemake(*args, "--unlock").returncode == 0
    res = _snakemake(*args, "--rerun-incomplete")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # the rest of the chain was redone (not the stale copies compared below): the killed expert, the
    # mixture started from it, its evaluation and the tables
    assert _job_counts(res.stdout + res.stderr) == {"train_expert": 1, "train_moe": 1, "evaluate": 1,
                                                    "tables_build": 1}
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
    for split in ("dev", "test"):  # the mixture's evaluation (its experts are not evaluated on their own)
        assert (json.loads((work / f"results/metrics/moe-audio/seed0/{split}.json").read_text())
                == json.loads((tiny_run / f"results/metrics/moe-audio/seed0/{split}.json").read_text()))
