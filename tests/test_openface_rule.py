"""The openface_extract rule: planned, with the digest-pinned image, for a session that has a video
and no OpenFace CSV.

No container runtime exists on the build machines, and `snakemake --use-singularity` refuses even a
dry run without one, so the dry run below sees a stand-in `apptainer` that only answers `--version`
(a test fixture: nothing is pulled or executed).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def _run(args, cwd, path_prefix=""):
    env = {**os.environ,
           "PATH": os.pathsep.join(p for p in (path_prefix, str(Path(sys.executable).parent),
                                              os.environ.get("PATH", "")) if p)}
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(cwd / "cfg.yaml"), "--rerun-triggers", "mtime"],
                          cwd=cwd, env=env, text=True, capture_output=True, timeout=600)


def test_video_session_plans_openface_container(small_cohort, tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    cohort = tmp_path / "results" / "demo-cohort"
    shutil.copytree(small_cohort, cohort)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    session = sorted((cohort / "data").glob("*_P"))[0]
    pid = session.name.split("_")[0]
    next(session.glob("features/*_OpenFace2.1.0_Pose_gaze_AUs.csv")).unlink()
    # a hostile name: any character may follow the ID; it must reach the shell as one quoted word
    (session / f"{pid}_x; touch pwned; echo .mp4").write_bytes(b"\x00" * 64)  # never read by a dry run

    res = _run(["results/manifest.parquet", "--cores", "1"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    manifest = pd.read_parquet(tmp_path / "results/manifest.parquet")
    row = manifest.loc[manifest["participant_id"] == int(pid)].iloc[0]
    assert row["openface_path"] == "" and row["video_path"].endswith(".mp4")
    # the manifest flags the odd name (the session stays out of the default targets) ...
    assert row["status"].startswith("flagged: ") and "rename it" in row["status"], row["status"]
    # ... and should the rule be asked for it anyway, the name reaches the shell as quoted words

    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "apptainer").write_text('#!/bin/sh\necho "apptainer version 1.4.5"\n')
    (fakebin / "apptainer").chmod(0o755)
    res = _run([f"results/features/face/{pid}.parquet", "-n", "-p", "--use-singularity"], tmp_path,
               str(fakebin))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "openface_extract" in out
    assert f"image {cfg['openface']['image']} will be pulled" in out
    assert "@sha256:" in cfg["openface"]["image"]
    assert (f"{cfg['openface']['binary']} -f {shlex.quote(row['video_path'])} -pose -gaze -aus "
            f"-out_dir results/openface/{pid}/raw") in out
    raw = shlex.quote(f"results/openface/{pid}/raw/{pid}_x; touch pwned; echo .csv")
    assert f"test -s {raw} ||" in out and f"&& mv {raw} results/openface/{pid}/" in out
    shell_line = next(line for line in out.splitlines() if f"mkdir -p results/openface/{pid}/raw" in line)
    assert "touch pwned" not in shell_line.replace(raw, "").replace(shlex.quote(row["video_path"]), "")
