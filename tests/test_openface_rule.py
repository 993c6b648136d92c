"""The openface_extract rule runs FeatureExtraction by the library function `depsev predict --video`
uses (depsev.features.openface_container.run_feature_extraction): an argument list, never a shell line.

No container runtime exists on the build machines: a FAKE `apptainer` (tests/fake_openface.py, a test
fixture) first on PATH records its argv and writes a real OpenFace 2.x CSV where FeatureExtraction would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from fake_openface import calls, install_fake_runtime, path_with_only

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["-pose", "-gaze", "-aus"]


def _run(args, cwd, path):
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(cwd / "cfg.yaml"), "--rerun-triggers", "mtime"],
                          cwd=cwd, env=env, text=True, capture_output=True, timeout=600)


def test_rule_runs_feature_extraction_in_the_pinned_image(small_cohort, tmp_path, openface_fixtures):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    cohort = tmp_path / "results" / "demo-cohort"
    shutil.copytree(small_cohort, cohort)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    image, binary = cfg["openface"]["image"], cfg["openface"]["binary"]
    plain, hostile = sorted((cohort / "data").glob("*_P"))[:2]
    pid, odd = plain.name.split("_")[0], hostile.name.split("_")[0]
    for session in (plain, hostile):
        next(session.glob("features/*_OpenFace2.1.0_Pose_gaze_AUs.csv")).unlink()
    video = Path(shutil.copy(openface_fixtures / "changeLighting.wmv", plain / f"{pid}_VIDEO.wmv"))
    # a hostile name: any character may follow the ID; it must reach FeatureExtraction as one argument
    odd_video = hostile / f"{odd}_x; touch pwned; echo .mp4"
    shutil.copy(openface_fixtures / "changeLighting.wmv", odd_video)
    bindir, argv_log = install_fake_runtime(tmp_path / "fakebin", "apptainer",
                                            openface_fixtures / "changeLighting.csv")

    res = _run([f"results/features/face/{pid}.parquet",
                f"results/openface/{odd}/{odd}_OpenFace2.1.0_Pose_gaze_AUs.csv", "--cores", "1"],
               tmp_path, path_with_only(bindir))
    assert res.returncode == 0, res.stderr[-3000:]

    manifest = pd.read_parquet(tmp_path / "results/manifest.parquet").set_index("participant_id")
    assert manifest.loc[int(pid), "openface_path"] == "" and manifest.loc[int(pid), "status"] == "ok"
    # the odd name is flagged by the manifest (kept out of the default targets) ...
    assert manifest.loc[int(odd), "status"].startswith("flagged: ")
    # ... and, the rule asked for it anyway, the name is one argument: nothing was executed from it
    assert not list(tmp_path.rglob("pwned"))

    raw = (tmp_path / "results" / "openface" / pid / "raw").resolve()
    odd_raw = (tmp_path / "results" / "openface" / odd / "raw").resolve()
    got = sorted(calls(argv_log), key=lambda a: a[a.index("-f") + 1] != str(video.resolve()))
    assert got == [
        ["apptainer", "exec", "--bind", f"{plain.resolve()},{raw}", image, binary,
         "-f", str(video.resolve()), *FLAGS, "-out_dir", str(raw)],
        ["apptainer", "exec", "--bind", f"{hostile.resolve()},{odd_raw}", image, binary,
         "-f", str(odd_video.resolve()), *FLAGS, "-out_dir", str(odd_raw)]]
    csv = tmp_path / "results" / "openface" / pid / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"
    assert csv.read_bytes() == (openface_fixtures / "changeLighting.csv").read_bytes()
    assert (tmp_path / "results" / "openface" / odd / f"{odd}_OpenFace2.1.0_Pose_gaze_AUs.csv").is_file()
    tool_log = (tmp_path / "logs" / "openface_extract" / f"{pid}.FeatureExtraction.log").read_text()
    assert tool_log.startswith("$ apptainer exec --bind ")
    assert "FeatureExtraction (fake): processing" in tool_log
    face = pd.read_parquet(tmp_path / "results" / "features" / "face" / f"{pid}.parquet")
    assert len(face) == 88
