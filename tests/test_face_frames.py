"""face_frames (OpenFace CSV -> per-session Parquet) and the OpenFace container helpers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from depsev.constants import EDAIC_OPENFACE_COLUMNS, FACE_FEATURES
from depsev.errors import InputError
from depsev.features.face import FLAG_FPS, FLAG_MISSING, FLAG_NO_VALID, face_frames, read_face_metadata
from depsev.features.openface_container import (
    DEFAULT_BINARY,
    feature_extraction_command,
    rename_to_edaic,
    run_feature_extraction,
)

OUT_COLUMNS = ["timestamp", "frame", "success", "confidence", "valid", *FACE_FEATURES]


def raw_csv(path: Path) -> pd.DataFrame:
    """The CSV as written, read independently of depsev's reader."""
    return pd.read_csv(path, skipinitialspace=True)


def check_schema(path: Path) -> None:
    schema = pq.read_schema(path)
    assert schema.names == OUT_COLUMNS
    types = {f.name: str(f.type) for f in schema}
    assert (types["timestamp"], types["frame"], types["success"], types["confidence"], types["valid"]) == (
        "double", "int64", "int8", "float", "bool")
    assert {types[f] for f in FACE_FEATURES} == {"float"}
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def edaic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """An E-DAIC-shaped session: 53 columns, irregular timestamps (~26-33 fps)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, len(FACE_FEATURES))).round(6), columns=FACE_FEATURES)
    df[[c for c in FACE_FEATURES if c.endswith("_c")]] = rng.integers(0, 2, size=(n, 18)).astype(float)
    df.insert(0, "frame", np.arange(1, n + 1))
    df.insert(1, "timestamp", np.round(np.cumsum(np.r_[0.0, rng.uniform(1 / 33, 1 / 26, n - 1)]), 3))
    df.insert(2, "confidence", np.full(n, 0.98))
    df.insert(3, "success", np.ones(n, dtype=int))
    return df


def write_edaic(df: pd.DataFrame, path: Path) -> Path:
    # E-DAIC writes ", " between fields like OpenFace 2.1.0
    with path.open("w") as fh:
        fh.write(", ".join(df.columns) + "\n")
        for row in df.itertuples(index=False):
            fh.write(", ".join(str(v) for v in row) + "\n")
    return path


# ---------------------------------------------------------------- real OpenFace output
@pytest.mark.parametrize("name, n_frames", [("default.csv", 288), ("changeLighting.csv", 88)])
def test_real_openface_fixtures(openface_fixtures, tmp_path, name, n_frames):
    src = openface_fixtures / name
    out = tmp_path / "face" / "1.parquet"
    qc = face_frames(src, out, confidence_threshold=0.75)
    assert qc["n_frames"] == qc["n_valid"] == n_frames
    assert qc["n_masked_success0"] == qc["n_masked_lowconf"] == 0
    assert qc["openface_format"] == "openface2" and qc["missing_features"] == []
    assert qc["fps_median"] == pytest.approx(15.0, rel=0.01)
    assert qc["flags"] == [FLAG_FPS] and qc["status"] == f"flagged: {FLAG_FPS}"  # 15 fps sample videos
    check_schema(out)
    got, raw = pd.read_parquet(out), raw_csv(src)
    np.testing.assert_array_equal(got["timestamp"], raw["timestamp"])  # the file's clock, not frame/30
    np.testing.assert_array_equal(got["frame"], raw["frame"])
    assert got["valid"].all()
    for col in FACE_FEATURES:
        np.testing.assert_allclose(got[col], raw[col].astype(np.float32), err_msg=col)
    meta = read_face_metadata(out)
    assert meta["source"] == name and meta["n_frames"] == n_frames and meta["confidence_threshold"] == 0.75
    assert meta["openface_format"] == "openface2"


def test_smile_is_kept(openface_fixtures, tmp_path):
    face_frames(openface_fixtures / "default.csv", tmp_path / "d.parquet")
    assert pd.read_parquet(tmp_path / "d.parquet")["AU12_r"].max() == pytest.approx(2.96)


# ---------------------------------------------------------------- E-DAIC-shaped input
def test_edaic_masked_frames_are_kept_and_counted(tmp_path):
    df = edaic_frame(120)
    df.loc[[3, 4, 50], "success"] = 0
    df.loc[[3, 10, 11, 12], "confidence"] = 0.5  # row 3: success 0 AND low confidence -> success0
    df.loc[20, "confidence"] = 0.75  # at the threshold: valid
    src = write_edaic(df, tmp_path / "321_OpenFace2.1.0_Pose_gaze_AUs.csv")
    assert len(raw_csv(src).columns) == len(EDAIC_OPENFACE_COLUMNS) == 53
    out = tmp_path / "321.parquet"
    qc = face_frames(src, out, confidence_threshold=0.75)
    assert qc["openface_format"] == "edaic"
    counts = [qc[k] for k in ("n_frames", "n_valid", "n_masked_success0", "n_masked_lowconf")]
    assert counts == [120, 114, 3, 3]
    assert 26 <= qc["fps_median"] <= 33 and qc["flags"] == [] and qc["status"] == "ok"
    check_schema(out)
    got = pd.read_parquet(out)
    assert len(got) == 120  # nothing dropped
    expected_valid = np.ones(120, bool)
    expected_valid[[3, 4, 50, 10, 11, 12]] = False
    np.testing.assert_array_equal(got["valid"], expected_valid)
    np.testing.assert_array_equal(got["timestamp"], df["timestamp"])  # irregular steps preserved
    np.testing.assert_array_equal(got["success"], df["success"])
    np.testing.assert_allclose(got[FACE_FEATURES], df[FACE_FEATURES].astype(np.float32))
    meta = read_face_metadata(out)
    assert {k: meta[k] for k in ("n_valid", "n_masked_success0", "n_masked_lowconf")} == {
        "n_valid": 114, "n_masked_success0": 3, "n_masked_lowconf": 3}
    assert meta["fps_median"] == pytest.approx(qc["fps_median"]) and meta["missing_features"] == []
    # a stricter threshold masks more frames and says so
    strict = face_frames(src, tmp_path / "strict.parquet", confidence_threshold=0.99)
    assert strict["n_valid"] == 0 and strict["n_masked_lowconf"] == 117
    assert read_face_metadata(tmp_path / "strict.parquet")["confidence_threshold"] == 0.99


def test_all_frames_without_face_are_written_and_flagged(tmp_path):
    df = edaic_frame(40)
    df["success"] = 0
    df["confidence"] = 0.0
    out = tmp_path / "600.parquet"
    qc = face_frames(write_edaic(df, tmp_path / "600_OpenFace2.1.0_Pose_gaze_AUs.csv"), out)
    assert qc["n_valid"] == 0 and qc["n_masked_success0"] == 40
    assert FLAG_NO_VALID in qc["flags"] and qc["status"].startswith("flagged: ")
    assert out.is_file() and len(pd.read_parquet(out)) == 40


def write_clnf(folder: Path, pid: int, n: int) -> tuple[Path, Path, Path]:
    """A DAIC-WOZ CLNF triple (AUs, pose, gaze) with ", " separators and leading spaces in names."""
    rng = np.random.default_rng(pid)
    meta = pd.DataFrame({"frame": np.arange(1, n + 1), "timestamp": np.round(np.arange(n) / 30, 3),
                         "confidence": 0.9, "success": 1})
    meta.loc[0, "success"] = 0
    aus = [f"AU{i}_r" for i in ("01", "02", "04", "05", "06", "09", "10", "12", "14", "15", "17", "20",
                                "25", "26")] + [f"AU{i}_c" for i in ("04", "12", "15", "23", "28", "45")]
    parts = {"AUs": aus, "pose": ["Tx", "Ty", "Tz", "Rx", "Ry", "Rz"],
             "gaze": [f"{a}_{e}" for e in ("0", "1", "h0", "h1") for a in "xyz"]}
    paths = []
    for part, cols in parts.items():
        df = pd.concat([meta, pd.DataFrame(rng.normal(size=(n, len(cols))).round(5), columns=cols)], axis=1)
        paths.append(write_edaic(df, folder / f"{pid}_CLNF_{part}.txt"))
    return tuple(paths)


def test_daicwoz_clnf_absent_features_are_nan_and_listed(tmp_path):
    aus, pose, gaze = write_clnf(tmp_path, 303, 45)
    out = tmp_path / "303.parquet"
    qc = face_frames(aus, out, pose=pose, gaze=gaze)
    assert qc["openface_format"] == "daicwoz_clnf"
    assert (qc["n_frames"], qc["n_valid"], qc["n_masked_success0"]) == (45, 44, 1)
    # CLNF has no gaze angles and fewer AUs than OpenFace 2.1
    missing = qc["missing_features"]
    assert {"gaze_angle_x", "gaze_angle_y", "AU07_r", "AU23_r", "AU45_r", "AU01_c"} <= set(missing)
    assert not {"pose_Tx", "gaze_0_x", "AU01_r", "AU28_c"} & set(missing)
    assert FLAG_MISSING in qc["flags"] and FLAG_FPS not in qc["flags"]
    check_schema(out)  # still all 49 columns, in order
    got = pd.read_parquet(out)
    assert got[missing].isna().all().all() and got.drop(columns=missing).notna().all().all()
    np.testing.assert_allclose(got["pose_Tx"], raw_csv(pose)["Tx"].astype(np.float32))
    meta = read_face_metadata(out)
    assert meta["missing_features"] == missing
    assert (meta["pose_source"], meta["gaze_source"]) == (pose.name, gaze.name)


def test_bad_input_raises_input_error(tmp_path):
    df = edaic_frame(10)
    df.loc[2, "success"] = 2
    src = write_edaic(df, tmp_path / "303_OpenFace2.1.0_Pose_gaze_AUs.csv")
    with pytest.raises(InputError, match="303_OpenFace2.1.0_Pose_gaze_AUs.csv"):
        face_frames(src, tmp_path / "303.parquet")
    good = write_edaic(edaic_frame(10), tmp_path / "304_OpenFace2.1.0_Pose_gaze_AUs.csv")
    with pytest.raises(InputError, match="pose/gaze"):
        face_frames(good, tmp_path / "304.parquet", pose=tmp_path / "304_CLNF_pose.txt")
    assert not (tmp_path / "303.parquet").exists() and not (tmp_path / "304.parquet").exists()


def test_duckdb_and_pandas_read_the_output(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    df = edaic_frame(50)
    df.loc[:9, "success"] = 0
    out = tmp_path / "310.parquet"
    face_frames(write_edaic(df, tmp_path / "310_OpenFace2.1.0_Pose_gaze_AUs.csv"), out)
    con = duckdb.connect()
    query = "SELECT count(*), sum(CAST(valid AS INTEGER)), max(timestamp) FROM read_parquet(?)"
    n, n_valid, t_max = con.execute(query, [str(out)]).fetchone()
    assert (n, n_valid, t_max) == (50, 40, df["timestamp"].max())
    kv = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE key = 'depsev'", [str(out)]).fetchone()
    meta = json.loads(bytes(kv[0]).decode() if not isinstance(kv[0], str) else kv[0])
    assert meta["n_valid"] == 40 and meta["source"] == "310_OpenFace2.1.0_Pose_gaze_AUs.csv"
    assert pd.read_parquet(out, columns=["valid"])["valid"].sum() == 40


# ---------------------------------------------------------------- OpenFace container helpers
def test_feature_extraction_command_is_exact():
    assert feature_extraction_command("/data/v.mp4", "/tmp/of") == [
        DEFAULT_BINARY, "-f", "/data/v.mp4", "-pose", "-gaze", "-aus", "-out_dir", "/tmp/of"]
    cmd = feature_extraction_command(Path("in/x.avi"), Path("out"), binary="/opt/FeatureExtraction")
    assert cmd == ["/opt/FeatureExtraction", "-f", "in/x.avi", "-pose", "-gaze", "-aus", "-out_dir", "out"]
    assert "-au_static" not in cmd


def test_rename_to_edaic(openface_fixtures, tmp_path):
    out_dir = tmp_path / "of"
    out_dir.mkdir()
    shutil.copy(openface_fixtures / "changeLighting.csv", out_dir / "session.csv")
    dest = tmp_path / "results" / "openface" / "700" / "700_OpenFace2.1.0_Pose_gaze_AUs.csv"
    got = rename_to_edaic(out_dir, "/videos/session.mp4", 700, dest)
    assert got == dest and dest.is_file() and not (out_dir / "session.csv").exists()
    assert dest.read_bytes() == (openface_fixtures / "changeLighting.csv").read_bytes()
    with pytest.raises(InputError, match=str(out_dir)):
        rename_to_edaic(out_dir, "/videos/session.mp4", 700, dest)  # moved already: missing now
    with pytest.raises(ValueError, match="700_OpenFace2.1.0_Pose_gaze_AUs.csv"):
        rename_to_edaic(out_dir, "/videos/session.mp4", 700, tmp_path / "700.csv")


FAKE_BINARY = """#!{python}
# test stand-in for OpenFace FeatureExtraction: copies a real OpenFace CSV to <out_dir>/<video stem>.csv
import shutil, sys
from pathlib import Path
args = sys.argv[1:]
video, out_dir = Path(args[args.index("-f") + 1]), Path(args[args.index("-out_dir") + 1])
assert {{"-pose", "-gaze", "-aus"}} <= set(args), args
out_dir.mkdir(parents=True, exist_ok=True)
shutil.copy({fixture!r}, out_dir / (video.stem + ".csv"))
"""


def test_local_feature_extraction_run_then_face_frames(openface_fixtures, tmp_path):
    """``openface.runtime: none``: a FeatureExtraction installed on the machine (here a stand-in)."""
    fake = tmp_path / "bin" / "FeatureExtraction"
    fake.parent.mkdir()
    fixture = str(openface_fixtures / "changeLighting.csv")
    fake.write_text(FAKE_BINARY.format(python=sys.executable, fixture=fixture))
    fake.chmod(0o755)
    video = tmp_path / "701_VIDEO.wmv"
    shutil.copy(openface_fixtures / "changeLighting.wmv", video)
    dest = tmp_path / "701" / "701_OpenFace2.1.0_Pose_gaze_AUs.csv"
    csv = run_feature_extraction(video, dest, 701, image=None, binary=str(fake), runtime="none")
    assert csv == dest and (tmp_path / "701" / "raw").is_dir()
    log = (tmp_path / "701" / "raw" / "FeatureExtraction.log").read_text()
    assert log.startswith(f"$ {fake} -f {video.resolve()} -pose -gaze -aus -out_dir ")
    qc = face_frames(csv, tmp_path / "701.parquet")
    assert qc["n_frames"] == qc["n_valid"] == 88 and qc["source"] == csv.name


def test_feature_extraction_that_fails_or_cannot_start_names_the_video(tmp_path, monkeypatch):
    video = tmp_path / "702_VIDEO.mp4"
    video.write_bytes(b"\x00" * 16)
    dest = tmp_path / "702" / "702_OpenFace2.1.0_Pose_gaze_AUs.csv"
    failing = tmp_path / "FeatureExtraction"
    failing.write_text("#!/bin/sh\necho 'could not open the video stream' >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(InputError) as err:
        run_feature_extraction(video, dest, 702, image=None, binary=str(failing), runtime="none")
    assert err.value.path == video and "none, exit 3" in str(err.value)
    assert "could not open the video stream" in str(err.value) and not dest.exists()
    with pytest.raises(InputError, match="no FeatureExtraction at"):
        run_feature_extraction(video, dest, 702, image=None, binary=str(tmp_path / "nothing"), runtime="none")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no container runtime anywhere
    with pytest.raises(InputError, match=r"no container runtime \(apptainer, singularity, docker\)"):
        run_feature_extraction(video, dest, 702, image="docker://x@sha256:0", runtime="auto")
    with pytest.raises(InputError, match="openface.runtime is docker but no docker was found"):
        run_feature_extraction(video, dest, 702, image="docker://x@sha256:0", runtime="docker")
    with pytest.raises(ValueError, match="openface.runtime must be one of"):
        run_feature_extraction(video, dest, 702, image="docker://x@sha256:0", runtime="podman")
