"""The workflow on a REAL one-node SLURM cluster through ``--profile profiles/slurm``.

Runs only when ``DEPSEV_SLURM=1`` and ``sinfo`` answers (start the cluster with
``bash tests/cluster/start.sh`` and ``. /tmp/depsev-slurm/env.sh``; ``.ci/run`` does both). Otherwise
every test here is skipped with the reason.

What is checked, on a tiny SYNTHETIC cohort (10 participants x 0.6 min):

* the demo DAG up to the video normalization completes through the slurm executor plugin with the CI
  cluster's account and partition given on the command line (per-session rules are grouped so that
  SLURM runs few jobs);
* ``sacct`` lists exactly the jobs that run submitted, all COMPLETED, and their comments name our rules;
* a job forced to fail (a participant's recording replaced by garbage, then that participant's
  ``audio_clean`` target) comes back FAILED from SLURM and Snakemake exits non-zero.

Every subprocess runs under ``timeout -s KILL`` (a slurm-plugin run that loses track of its jobs does
not stop on SIGTERM).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
#: wall-clock limits (seconds) of the SLURM runs
RUN_LIMIT = 900
FAIL_LIMIT = 300
JOBNAME_PREFIX = "depsevci"

# Per-session stages become a handful of group jobs: one SLURM job instead of dozens of tiny ones,
# each of which would otherwise cost a submission and ~20 s of status polling.
GROUPS = ["audio_clean=sessions", "vggish_embed=sessions", "opensmile_lld=sessions",
          "face_frames=sessions", "normalize_fit=fit", "normalize_apply=apply",
          "chunk_shards=shards"]
GROUP_COMPONENTS = ["sessions=100", "fit=3", "apply=100", "shards=9"]
# A group job asks SLURM for the sum of its parallel members' resources unless these per-group
# limits apply (mem_mb has `local` scope: it bounds each group job, not the whole run); the CI node
# has 2 CPUs, so a group runs its members in layers of at most 2 cores and 6 GB.
GROUP_LIMITS = ["--cores", "2", "--resources", "mem_mb=6000"]


def _slurm_env() -> dict[str, str]:
    """The environment of every subprocess: the venv's tools first, and the CI cluster's SLURM_CONF."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    scratch = Path(env.get("DEPSEV_SLURM_DIR", "/tmp/depsev-slurm"))
    if "SLURM_CONF" not in env and (scratch / "etc" / "slurm.conf").is_file():
        env["SLURM_CONF"] = str(scratch / "etc" / "slurm.conf")
    return env


def _run(cmd: list[str], limit: int, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``cmd`` under ``timeout -s KILL limit`` (and a Python-side timeout a little later)."""
    return subprocess.run(["timeout", "-s", "KILL", str(limit), *cmd], cwd=cwd, env=_slurm_env(),
                          text=True, capture_output=True, timeout=limit + 30)


def _why_no_slurm() -> str | None:
    """None when the SLURM tests can run, else the reason to skip them."""
    if os.environ.get("DEPSEV_SLURM") != "1":
        return "DEPSEV_SLURM is not 1 (start a cluster with tests/cluster/start.sh, then set it)"
    if shutil.which("sinfo") is None:
        return "sinfo not found: SLURM client tools are not installed"
    try:
        res = _run(["sinfo", "-h", "-o", "%P %a"], 30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if res.returncode != 0 or " up" not in res.stdout:
        return f"sinfo does not show an up partition: {res.stdout.strip()} {res.stderr.strip()[-300:]}"
    return None


_REASON = _why_no_slurm()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

ACCOUNT = os.environ.get("DEPSEV_SLURM_ACCOUNT", "depsev-ci")
PARTITION = os.environ.get("DEPSEV_SLURM_PARTITION", "debug")


def _snakemake_slurm(work: Path, *args: str, limit: int) -> subprocess.CompletedProcess:
    """Snakemake through the repository's slurm profile, with the CI cluster's account/partition.

    Targets must come before ``--default-resources`` (which swallows the words after it), so ``args``
    go first. A command-line ``--default-resources`` replaces the profile's whole block, hence
    mem_mb and runtime are repeated here.
    """
    cmd = [sys.executable, "-m", "snakemake", *args,
           "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "tiny.yaml"), "--profile", str(PROFILE),
           "--slurm-jobname-prefix", JOBNAME_PREFIX, "--slurm-init-seconds-before-status-checks", "5",
           "--latency-wait", "10", "--jobs", "20",
           "--default-resources", f"slurm_account={ACCOUNT}", f"slurm_partition={PARTITION}",
           "mem_mb=1000", "runtime=20"]
    return _run(cmd, limit)


def _run_id(output: str) -> str:
    """The SLURM run ID (the job name of every job of that run) that the plugin logs."""
    m = re.search(rf"SLURM run ID: ({JOBNAME_PREFIX}_[0-9a-f-]+)", output)
    assert m, "the slurm executor did not log its run ID:\n" + output[-3000:]
    return m.group(1)


def _sacct(run_id: str, since: str) -> pd.DataFrame:
    """sacct's allocation rows of one run: job_id, name, state, comment."""
    res = _run(["sacct", "-n", "-P", "-X", "-S", since, "--name", run_id,
                "--format=JobID,JobName%80,State,Comment%200"], 60)
    assert res.returncode == 0, res.stderr
    rows = [line.split("|", 3) for line in res.stdout.splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=["job_id", "name", "state", "comment"])


def _submitted_ids(output: str) -> set[str]:
    """SLURM job IDs the plugin reports having submitted."""
    return set(re.findall(r"SLURM jobid (\d+)", output)) | set(re.findall(r"external jobid '(\d+)'", output))


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """The tiny demo DAG through --profile profiles/slurm, up to the video normalization statistics:
    the manifest of a generated cohort (a checkpoint: the DAG is re-evaluated after it), every session's
    face frames as one group job and the statistics as another. Each later stage would add a SLURM round
    trip of ~45 s and nothing new to check: the audio stages are the same kind of per-session job (one
    runs on SLURM in test_failing_rule_is_reported_failed), the whole DAG runs locally in
    tests/test_workflow.py, and the training rules request ``gpu=1``, which this GPU-less CI cluster
    cannot grant.

    Returns (workdir, snakemake output, SLURM run id, sacct start time, seconds).
    """
    work = tmp_path_factory.mktemp("slurmwf")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(participants=10, minutes=0.6, seed=5)
    cfg["demo"]["chunks"] = {"video_frames": 600, "audio_frames": 15}
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    # the cohort that rule demo_generate would write, generated here (a SLURM job of its own would add a
    # round trip and ~7 CPU-s of job start-up and check nothing that the manifest's job does not)
    from depsev.corpus.synthetic import generate_cohort

    generate_cohort(work / cfg["dataset"]["root"], **{k: cfg["demo"][k] for k in ("participants", "minutes",
                                                                                  "seed")})
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))
    t0 = time.monotonic()
    res = _snakemake_slurm(work, "results/normalize/video.json", "--groups", *GROUPS,
                           "--group-components", *GROUP_COMPONENTS, *GROUP_LIMITS,
                           limit=RUN_LIMIT)
    secs = time.monotonic() - t0
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"rc={res.returncode} after {secs:.0f} s\n" + out[-8000:]
    print(f"SLURM demo run: {secs:.0f} s")
    return work, out, _run_id(out), since, secs


def test_demo_dag_completes_on_slurm(slurm_run):
    work, _, _, _, _ = slurm_run
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    assert len(manifest) == 10 and (manifest["status"] == "ok").all()
    stats = json.loads((work / "results/normalize/video.json").read_text())
    train = manifest.loc[manifest["split"] == "train", "participant_id"]
    assert stats["fitted_on"] == "train" and sorted(stats["participant_ids"]) == sorted(train)
    # the rules' own benchmarks and logs were written on the compute node (the cost table reads them)
    for rule in ("face_frames", "normalize_fit"):
        assert any((work / "benchmarks" / rule).glob("*.tsv")), rule
        assert any((work / "logs" / rule).glob("*.log")), rule


def test_sacct_lists_the_submitted_jobs(slurm_run):
    _, out, run_id, since, _ = slurm_run
    jobs = _sacct(run_id, since)
    submitted = _submitted_ids(out)
    assert submitted, "no SLURM submission found in the output:\n" + out[-3000:]
    assert set(jobs["job_id"]) == submitted
    assert (jobs["state"] == "COMPLETED").all(), jobs.to_string()
    comments = " ".join(jobs["comment"])
    # single rules carry rule_<name>, group jobs rule_<group>
    for name in ("manifest_build", "sessions", "fit"):
        assert f"rule_{name}" in comments, (name, jobs.to_string())


def test_failing_rule_is_reported_failed(slurm_run):
    work, _, _, _, _ = slurm_run
    manifest = pd.read_parquet(work / "results/manifest.parquet")
    row = manifest.loc[manifest["status"] == "ok"].iloc[0]
    pid = int(row["participant_id"])
    wav = Path(row["audio_path"])
    wav = wav if wav.is_absolute() else work / wav
    wav.write_bytes(b"this is not a RIFF/WAVE file" * 10)  # a corrupt recording
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))
    # --rerun-triggers mtime: only the corrupt recording (newer than the outputs) reruns anything, even
    # if someone edits the library meanwhile (a code-change trigger would regenerate the cohort)
    res = _snakemake_slurm(work, f"results/features/audio/{pid}.wav", "--forcerun", "audio_clean",
                           "--rerun-triggers", "mtime", "--retries", "0", limit=FAIL_LIMIT)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-4000:]
    assert "FAILED" in out, out[-4000:]
    jobs = _sacct(_run_id(out), since)
    assert len(jobs) == 1, jobs.to_string()
    assert jobs["state"].iloc[0] == "FAILED", jobs.to_string()
    assert jobs["comment"].iloc[0] == f"rule_audio_clean_wildcards_pid={pid}" or \
        jobs["comment"].iloc[0].startswith("rule_audio_clean"), jobs.to_string()
    # the rule's own log says why (depsev's InputError), and no output was left behind
    log = (work / f"logs/audio_clean/{pid}.log").read_text()
    assert str(wav.name) in log or "InputError" in log, log[-2000:]
    assert not (work / f"results/features/audio/{pid}.wav").exists()
