"""The manifest: every labelled participant appears once, ok or flagged with a reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from depsev.cli import main
from depsev.constants import EDAIC_OPENFACE_COLUMNS
from depsev.corpus.manifest import (
    MANIFEST_COLUMNS,
    build_manifest,
    manifest_counts,
    read_manifest,
    write_manifest,
)
from depsev.errors import InputError


def _labels(root: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(root / "labels" / f"{s}_split.csv") for s in ("train", "dev", "test")])


def _session_dir(root: Path, pid: int) -> Path:
    return next(root.glob(f"data/**/{pid}_P"))


def _status(df: pd.DataFrame, pid: int) -> str:
    return df.loc[df["participant_id"] == pid, "status"].item()


def test_clean_cohort_all_ok(small_cohort):
    df = build_manifest(small_cohort, "demo")
    labels = _labels(small_cohort)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert sorted(df["participant_id"]) == sorted(labels["Participant_ID"].astype(int))
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", ["participant_id", "status"]]
    assert set(df["split"]) == {"train", "dev", "test"}
    assert (df.loc[df["split"] == "test", "interviewer"] == "ai").all()
    assert (df["audio_sample_rate"] == 16000).all() and (df["audio_channels"] == 1).all()
    assert (df["face_frames"] > 0).all()
    # band and binary derived from the score
    assert (df["band"] == (df["phq_score"] // 5).clip(upper=4)).all()
    assert (df["phq_binary"] == (df["phq_score"] >= 10).astype(int)).all()


def _break(root: Path) -> dict[str, int]:
    """Break one session in each way the manifest must flag; return which ID got which."""
    ids = sorted(_labels(root)["Participant_ID"].astype(int))
    broken = {}
    # 1. audio missing
    pid = ids[0]
    next(_session_dir(root, pid).glob("*_AUDIO.wav")).unlink()
    broken["no audio file"] = pid
    # 2. corrupt wav
    pid = ids[1]
    next(_session_dir(root, pid).glob("*_AUDIO.wav")).write_bytes(b"RIFF\x00\x00not a wav at all")
    broken["audio:"] = pid
    # 3. OpenFace all success = 0
    pid = ids[2]
    of = next(_session_dir(root, pid).glob("features/*_OpenFace2.1.0_Pose_gaze_AUs.csv"))
    face = pd.read_csv(of)
    face["success"] = 0
    face.to_csv(of, index=False)
    broken["face success share"] = pid
    # 4. OpenFace with a renamed column
    pid = ids[3]
    of = next(_session_dir(root, pid).glob("features/*_OpenFace2.1.0_Pose_gaze_AUs.csv"))
    face = pd.read_csv(of).rename(columns={"AU12_r": "AU12_intensity"})
    face.to_csv(of, index=False)
    broken["openface:"] = pid
    # 5. labelled but the whole session folder is gone
    pid = ids[4]
    shutil.rmtree(_session_dir(root, pid))
    broken["no session files"] = pid
    # 6. OpenFace header only: no face frames
    pid = ids[5]
    of = next(_session_dir(root, pid).glob("features/*_OpenFace2.1.0_Pose_gaze_AUs.csv"))
    of.write_text(",".join(EDAIC_OPENFACE_COLUMNS) + "\n")
    broken["openface: "] = pid
    return broken


def test_broken_sessions_are_flagged_not_dropped(cohort_copy):
    broken = _break(cohort_copy)
    # 7. a session on disk without a label
    labelled = set(_labels(cohort_copy)["Participant_ID"].astype(int))
    extra = next(i for i in range(718, 599, -1) if i not in labelled)
    src = _session_dir(cohort_copy, max(labelled - set(broken.values())))
    dst = src.parent / f"{extra}_P"
    shutil.copytree(src, dst)
    for f in dst.rglob("*"):
        if f.is_file() and f.name.startswith(src.name.split("_")[0] + "_"):
            f.rename(f.with_name(f"{extra}_" + f.name.split("_", 1)[1]))

    df = build_manifest(cohort_copy, "demo")
    n_labels = len(_labels(cohort_copy))
    counts = manifest_counts(df)
    # count in = ok + flagged; every labelled participant + the unlabelled session
    assert counts["participants_in"] == n_labels + 1 == counts["ok"] + counts["flagged"]
    assert counts["labelled"] == n_labels
    for reason, pid in broken.items():
        status = _status(df, pid)
        assert status.startswith("flagged: ") and reason.strip() in status, (pid, status)
    assert "no label" in _status(df, extra)
    assert df.loc[df["participant_id"] == extra, "split"].item() == ""


def test_short_audio_flagged(cohort_copy):
    df = build_manifest(cohort_copy, "demo")
    from depsev.corpus.manifest import QCThresholds

    long = build_manifest(cohort_copy, "demo", qc=QCThresholds(min_audio_seconds=10_000))
    assert (df["status"] == "ok").all()
    assert long["status"].str.contains("audio").all()


def test_truncated_audio_is_a_flag_not_a_crash(cohort_copy):
    wav = next((cohort_copy / "data").glob("*_P/*_AUDIO.wav"))
    pid = int(wav.name.split("_")[0])
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) * 2 // 3])
    df = build_manifest(cohort_copy, "demo")
    status = _status(df, pid)
    assert status.startswith("flagged: ") and "truncated" in status, status
    assert (df.loc[df["participant_id"] != pid, "status"] == "ok").all()


def test_a_transcript_audio_clean_would_refuse_is_flagged_by_the_manifest(cohort_copy):
    transcript = next((cohort_copy / "data").glob("*_P/*_Transcript.csv"))
    pid = int(transcript.name.split("_")[0])
    lines = transcript.read_text().splitlines()
    lines[1] = "abc," + lines[1].split(",", 1)[1]  # a start time that is not a number
    transcript.write_text("\n".join(lines) + "\n")
    df = build_manifest(cohort_copy, "demo")
    status = _status(df, pid)
    assert status.startswith("flagged: ") and "transcript: " in status and "'abc'" in status, status
    assert int((df["status"] == "ok").sum()) + int(df["status"].str.startswith("flagged").sum()) == len(df)


def test_face_clock_against_the_audio_clock(cohort_copy):
    """Timestamps in ms, or a 1000 s jump: flagged (one instant's face would meet another's speech)."""
    csvs = sorted((cohort_copy / "data").glob("*_P/features/*_OpenFace2.1.0_Pose_gaze_AUs.csv"))
    changed = {}
    for path, how in zip(csvs[:2], ("ms", "jump"), strict=True):
        of = pd.read_csv(path)
        stamp = [c for c in of.columns if c.strip() == "timestamp"][0]
        if how == "ms":
            of[stamp] = of[stamp] * 1000.0
        else:
            of.loc[len(of) // 2:, stamp] += 1000.0
        of.to_csv(path, index=False)
        changed[int(path.name.split("_")[0])] = how
    df = build_manifest(cohort_copy, "demo")
    for pid, how in changed.items():
        status = _status(df, pid)
        assert status.startswith("flagged: "), status
        assert ("jump by 1000 s" in status) if how == "jump" else ("face timestamps run to" in status), status
    assert (df.loc[~df["participant_id"].isin(list(changed)), "status"] == "ok").all()


def test_clock_problems_unit():
    from depsev.qc import face_clock_problems, timestamp_stats

    ok = timestamp_stats(np.arange(0, 90, 1 / 30))
    assert face_clock_problems(ok, 90.5) == [] and face_clock_problems(ok, None) == []
    assert face_clock_problems(ok, 25.0)  # runs 65 s past a 25 s recording (tolerance 60 s)
    assert not face_clock_problems(ok, 31.0)  # 59 s past: within the tolerance
    assert face_clock_problems(timestamp_stats([0.0, 0.03, 45.0]), None)  # a 45 s step
    assert timestamp_stats([]) == {"first_timestamp": None, "last_timestamp": None, "max_gap_s": None}


def test_label_problems_are_errors_naming_the_file(cohort_copy):
    dev = cohort_copy / "labels" / "dev_split.csv"
    train = pd.read_csv(cohort_copy / "labels" / "train_split.csv")
    d = pd.read_csv(dev)
    d.loc[0, "Participant_ID"] = train.loc[0, "Participant_ID"]  # same ID in train and dev
    d.to_csv(dev, index=False)
    with pytest.raises(InputError, match="split"):
        build_manifest(cohort_copy, "demo")
    (cohort_copy / "labels" / "test_split.csv").unlink()
    with pytest.raises(InputError, match="test_split"):
        build_manifest(cohort_copy, "demo")


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        build_manifest(tmp_path / "nope", "edaic")


def test_write_and_cli_roundtrip(small_cohort, tmp_path, capsys):
    out, qc = tmp_path / "m.parquet", tmp_path / "qc" / "sessions.tsv"
    assert main(["manifest", "--root", str(small_cohort), "--kind", "demo", "--out", str(out),
                 "--qc", str(qc)]) == 0
    df = read_manifest(out)
    tsv = pd.read_csv(qc, sep="\t")
    assert len(df) == len(tsv) == len(_labels(small_cohort))
    import pyarrow.parquet as pq

    meta = pq.read_schema(out).metadata[b"depsev"].decode()
    assert '"synthetic": true' in meta
    counts = write_manifest(df, tmp_path / "m2.parquet", tmp_path / "q2.tsv", dataset_kind="edaic")
    assert counts["ok"] + counts["flagged"] == counts["participants_in"]


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    rc = main(["manifest", "--root", str(tmp_path / "missing"), "--kind", "edaic",
               "--out", str(tmp_path / "m.parquet"), "--qc", str(tmp_path / "q.tsv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "missing" in err and "Traceback" not in err


def test_read_manifest_rejects_other_files(tmp_path):
    p = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(p)
    with pytest.raises(InputError, match="not a depsev manifest"):
        read_manifest(p)
