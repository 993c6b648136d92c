"""Every bad input to the corpus readers raises InputError naming the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from depsev.constants import EDAIC_OPENFACE_COLUMNS, FACE_FEATURES
from depsev.corpus import (
    audio_info,
    find_sessions,
    read_daicwoz_clnf,
    read_detailed_phq8,
    read_egemaps_csv,
    read_labels,
    read_openface,
    read_sessions_table,
    read_split_file,
    read_transcript,
    read_vgg16_csv,
)
from depsev.corpus.openface import CLNF_AU_INTENSITY, CLNF_AU_PRESENCE
from depsev.errors import InputError


def _raises(fn, path: Path, *problem: str):
    """Call ``fn``; assert InputError whose message starts with ``path`` and mentions each snippet."""
    with pytest.raises(InputError) as info:
        fn()
    msg = str(info.value)
    assert info.value.path == Path(path), msg
    assert msg.startswith(f"{path}: "), msg
    for snippet in problem:
        assert re.search(snippet, msg), (snippet, msg)
    return msg


# --- OpenFace ---------------------------------------------------------------------------------

def _edaic_of(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.uniform(0, 1, (n, len(FACE_FEATURES))).round(3), columns=FACE_FEATURES)
    df.insert(0, "success", 1)
    df.insert(0, "confidence", 0.9)
    df.insert(0, "timestamp", np.round(np.arange(n) / 30, 3))
    df.insert(0, "frame", np.arange(1, n + 1))
    return df


def _write(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


def test_openface_missing_empty_header_only(tmp_path):
    p = tmp_path / "missing.csv"
    _raises(lambda: read_openface(p), p, "not found")
    p.write_bytes(b"")
    _raises(lambda: read_openface(p), p, r"empty \(0 bytes\)")
    p.write_text("\n\n")
    _raises(lambda: read_openface(p), p, "empty")
    p.write_text(",".join(EDAIC_OPENFACE_COLUMNS) + "\n")
    _raises(lambda: read_openface(p), p, "no data rows")


def test_openface_renamed_columns_are_listed(tmp_path):
    p = _write(tmp_path / "of.csv", _edaic_of().rename(columns={"AU12_r": "AU12_intensity",
                                                              "pose_Tx": "Tx"}))
    msg = _raises(lambda: read_openface(p), p, "missing required column", "AU12_r", "pose_Tx")
    assert "AU12_intensity" in msg  # what the file has instead is shown


def test_openface_non_numeric_and_empty_cells(tmp_path):
    df = _edaic_of().astype({"AU06_r": object})
    df.loc[4, "AU06_r"] = "0.5.1"
    p = _write(tmp_path / "of.csv", df)
    _raises(lambda: read_openface(p), p, "non-numeric", "'AU06_r'", "data row 5")
    df = _edaic_of().astype({"gaze_0_x": object})
    df.loc[2, "gaze_0_x"] = ""
    p = _write(tmp_path / "of2.csv", df)
    _raises(lambda: read_openface(p), p, "empty/NaN", "'gaze_0_x'", "data row 3")


@pytest.mark.parametrize("stamps, row", [([0.0, 0.033, 0.02], 3), ([0.0, 0.033, 0.033], 3)])
def test_openface_timestamps_must_increase(tmp_path, stamps, row):
    df = _edaic_of(3)
    df["timestamp"] = stamps
    p = _write(tmp_path / "of.csv", df)
    _raises(lambda: read_openface(p), p, "timestamp", "not strictly increasing", f"data row {row}")


def test_openface_success_and_frame_values(tmp_path):
    df = _edaic_of()
    df.loc[3, "success"] = 2
    p = _write(tmp_path / "of.csv", df)
    _raises(lambda: read_openface(p), p, "success", "not 0 or 1", "data row 4")
    df = _edaic_of()
    df["frame"] = df["frame"].astype(float)
    df.loc[1, "frame"] = 2.5
    p = _write(tmp_path / "of2.csv", df)
    _raises(lambda: read_openface(p), p, "frame", "not an integer")
    for value in (1.5, -0.1):
        df = _edaic_of()
        df.loc[2, "confidence"] = value
        p = _write(tmp_path / "of3.csv", df)
        _raises(lambda p=p: read_openface(p), p, "confidence", r"outside \[0, 1\]", "data row 3")


def test_openface_binary_garbage(tmp_path):
    p = tmp_path / "of.csv"
    p.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9c\n\x00\x01")
    _raises(lambda: read_openface(p), p, "")


def test_openface2_without_face_0(openface_fixtures, tmp_path):
    raw = pd.read_csv(openface_fixtures / "changeLighting.csv", skipinitialspace=True)
    raw["face_id"] = 3
    p = _write(tmp_path / "of.csv", raw)
    _raises(lambda: read_openface(p), p, "no rows for face_id 0")


def test_openface2_missing_columns_listed(openface_fixtures, tmp_path):
    raw = pd.read_csv(openface_fixtures / "default.csv", skipinitialspace=True)
    p = _write(tmp_path / "of.csv", raw.drop(columns=["AU28_c", "gaze_angle_y"]))
    _raises(lambda: read_openface(p), p, "openface2", "AU28_c", "gaze_angle_y")


def _clnf(tmp_path: Path, n: int = 10) -> tuple[Path, Path, Path]:
    meta = pd.DataFrame({"frame": np.arange(1, n + 1), "timestamp": np.round(np.arange(n) / 30, 3),
                         "confidence": 0.9, "success": 1})
    aus = pd.concat([meta, pd.DataFrame(0.5, index=meta.index,
                                        columns=CLNF_AU_INTENSITY + CLNF_AU_PRESENCE)], axis=1)
    pose = pd.concat([meta, pd.DataFrame(0.1, index=meta.index,
                                         columns=["Tx", "Ty", "Tz", "Rx", "Ry", "Rz"])], axis=1)
    gaze = pd.concat([meta, pd.DataFrame(0.2, index=meta.index,
                                         columns=["x_0", "y_0", "z_0", "x_1", "y_1", "z_1"])], axis=1)
    return (_write(tmp_path / "303_CLNF_AUs.txt", aus), _write(tmp_path / "303_CLNF_pose.txt", pose),
            _write(tmp_path / "303_CLNF_gaze.txt", gaze))


def test_clnf_parts_must_match(tmp_path):
    aus, pose, gaze = _clnf(tmp_path)
    df = pd.read_csv(pose)
    _write(pose, df.iloc[:-1])
    _raises(lambda: read_daicwoz_clnf(aus, pose, gaze), pose, "frames do not match", "9 rows vs 10")
    df["timestamp"] = df["timestamp"] + 0.5
    _write(pose, df)
    _raises(lambda: read_daicwoz_clnf(aus, pose, gaze), pose, "timestamp differs")
    _write(pose, pd.read_csv(gaze))
    _raises(lambda: read_daicwoz_clnf(aus, pose, gaze), pose, "CLNF pose file", "missing required",
            "Tx", "Rz")


def test_clnf_reader_rejects_other_openface_files(tmp_path):
    p = _write(tmp_path / "300_OpenFace2.1.0_Pose_gaze_AUs.csv", _edaic_of())
    _raises(lambda: read_daicwoz_clnf(p), p, "not a DAIC-WOZ CLNF AU file", "edaic")
    aus, _, _ = _clnf(tmp_path)
    df = pd.read_csv(aus)
    df.loc[5, "AU17_r"] = np.nan
    _write(aus, df)
    _raises(lambda: read_daicwoz_clnf(aus), aus, "'AU17_r'", "data row 6")


# --- labels -----------------------------------------------------------------------------------

HEADER = "Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),PTSD Severity\n"


def _labels(root: Path, train: str = "300,female,0,4,0,1\n", dev: str = "301,male,0,5,0,1\n",
            test: str = "600,male,1,11,0,1\n") -> Path:
    d = root / "labels"
    d.mkdir(exist_ok=True)
    for split, rows in (("train", train), ("dev", dev), ("test", test)):
        (d / f"{split}_split.csv").write_text(HEADER + rows)
    return d


@pytest.mark.parametrize("row, problem", [
    ("300,female,0,25,0,1\n", r"participant 300 \(data row 1\).*25 is outside 0..24"),
    ("300,female,0,-1,0,1\n", r"participant 300 .*-1 is outside 0..24"),
    ("300,female,0,7.5,0,1\n", r"participant 300 .*'7.5' is not an integer"),
    ("300,female,0,abc,0,1\n", r"participant 300 .*'abc' is not an integer"),
    ("300,female,0,,0,1\n", r"participant 300 .*PHQ_Score '' is not an integer"),
    ("x300,female,0,4,0,1\n", r"data row 1.*Participant_ID 'x300' is not an integer"),
    ("300,female,2,4,0,1\n", r"participant 300 .*PHQ_Binary '2' is not 0 or 1"),
    ("300,female,0,4,0,1\n302,male,0,3,0,1\n300,female,0,4,0,1\n",
     r"participant 300 is listed twice \(data row 1 and data row 3\)"),
])
def test_split_file_bad_rows(tmp_path, row, problem):
    d = _labels(tmp_path, train=row)
    _raises(lambda: read_labels(tmp_path, "edaic"), d / "train_split.csv", problem)


def test_split_file_missing_column_is_named_with_what_the_file_has(tmp_path):
    p = tmp_path / "dev_split.csv"
    p.write_text("Participant_ID,Gender,PHQ_Binary,PHQScore\n300,female,0,4\n")
    _raises(lambda: read_split_file(p, "dev"), p, "missing required column phq_score or phq8_score",
            "PHQScore")
    p.write_text("ID,PHQ_Score\n300,4\n")
    _raises(lambda: read_split_file(p, "dev"), p, "participant_id", r"\['ID', 'PHQ_Score'\]")


def test_split_file_empty_and_header_only(tmp_path):
    p = tmp_path / "dev_split.csv"
    p.write_text("")
    _raises(lambda: read_split_file(p, "dev"), p, "empty")
    p.write_text(HEADER)
    _raises(lambda: read_split_file(p, "dev"), p, "no data rows")
    p.write_text(HEADER + "300,female,0,4,0,1\n")
    _raises(lambda: read_split_file(p, "validation"), p, "unknown split")


def test_id_in_two_splits_names_both_files(tmp_path):
    d = _labels(tmp_path, dev="300,female,0,4,0,1\n")
    _raises(lambda: read_labels(tmp_path, "demo"), d / "dev_split.csv", "participant 300 is in two splits",
            "train", "dev", re.escape(str(d / "train_split.csv")))


def test_missing_label_files_are_listed(tmp_path):
    d = _labels(tmp_path)
    (d / "test_split.csv").unlink()
    _raises(lambda: read_labels(tmp_path, "edaic"), tmp_path, "missing label file", "test: test_split.csv")
    _raises(lambda: read_labels(tmp_path, "daic-woz"), tmp_path, "train_split_Depression_AVEC2017.csv",
            "dev_split_Depression_AVEC2017.csv", "full_test_split.csv")
    (tmp_path / "test_split.csv").write_text(HEADER + "600,male,1,11,0,1\n")
    (d / "test_split.csv").write_text(HEADER + "600,male,1,11,0,1\n")
    _raises(lambda: read_labels(tmp_path, "edaic"), d / "test_split.csv", "found twice")
    _raises(lambda: read_labels(tmp_path, "avec"), tmp_path, "unknown dataset kind")


def test_detailed_phq8_bad(tmp_path):
    p = tmp_path / "Detailed_PHQ8_Labels.csv"
    head = ("Participant_ID,PHQ_8NoInterest,PHQ_8Depressed,PHQ_8Sleep,PHQ_8Tired,PHQ_8Appetite,"
            "PHQ_8Failure,PHQ_8Concentrating,PHQ_8Moving,PHQ_8Total\n")
    p.write_text(head + "300,0,1,1,0,0,0,0,0,2\n301,1,1,1,1,1,1,1,1,9\n")
    _raises(lambda: read_detailed_phq8(p), p, "participant 301", "items sum to 8 but PHQ_8Total is 9")
    p.write_text(head + "300,0,4,1,0,0,0,0,0,5\n")
    _raises(lambda: read_detailed_phq8(p), p, "participant 300", "PHQ_8Depressed '4'", "0..3")
    p.write_text(head.replace(",PHQ_8Moving", "") + "300,0,1,1,0,0,0,0,2\n")
    _raises(lambda: read_detailed_phq8(p), p, "missing required", "PHQ_8Moving")


# --- transcripts ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, problem", [
    ("", r"empty \(0 bytes\)"),
    ("Start_Time,End_Time,Text,Confidence\n", "no data rows"),
    ("Start,End,Text\n1,2,hi\n", r"missing column\(s\) \['start_time', 'end_time'\]"),
    ("Start_Time,End_Time,Text,Confidence\n1.0,2.0,hi,0.9\nabc,3.0,yo,0.9\n",
     r"non-numeric value 'abc' in column 'Start_Time' \(data row 2\)"),
    ("Start_Time,End_Time,Text,Confidence\n1.0,,hi,0.9\n", "empty/NaN value in column 'End_Time'"),
    ("Start_Time,End_Time,Text,Confidence\n5.0,2.0,hi,0.9\n", r"end 2.0 is before start 5.0 \(data row 1\)"),
    ("start_time\tstop_time\tspeaker\tvalue\n1.0\t2.0\tBob\thi\n", r"unknown speaker 'Bob' \(data row 1\)"),
    ("start_time\tstop_time\tspeaker\n1.0\t2.0\tEllie\n", r"missing column\(s\) \['value'\]"),
    ('Start_Time,End_Time,Text,Confidence\n1.0,2.0,"unclosed,0.9\n', "could not be parsed"),
])
def test_transcript_bad(tmp_path, text, problem):
    p = tmp_path / "300_Transcript.csv"
    p.write_text(text)
    _raises(lambda: read_transcript(p), p, problem)


def test_transcript_missing(tmp_path):
    p = tmp_path / "nope.csv"
    _raises(lambda: read_transcript(p), p, "transcript not found")


# --- sessions, audio --------------------------------------------------------------------------

def test_two_files_of_one_kind_names_both(tmp_path):
    a = tmp_path / "data" / "300_P" / "300_AUDIO.wav"
    b = tmp_path / "data" / "300_P" / "300_P" / "300_AUDIO.wav"
    for p in (a, b):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    msg = _raises(lambda: find_sessions(tmp_path, "edaic"), a, "participant 300 has two audio files")
    assert str(a) in msg and str(b) in msg
    _raises(lambda: find_sessions(tmp_path / "nope", "edaic"), tmp_path / "nope", "does not exist")
    _raises(lambda: find_sessions(tmp_path, "avec"), tmp_path, "unknown dataset kind")


def test_audio_info_bad(tmp_path):
    p = tmp_path / "300_AUDIO.wav"
    _raises(lambda: audio_info(p), p, "audio file not found")
    p.write_bytes(b"")
    _raises(lambda: audio_info(p), p, r"empty \(0 bytes\)")
    p.write_bytes(b"RIFF\x00\x00not a wav at all")
    _raises(lambda: audio_info(p), p, "unreadable or corrupt audio")
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    _raises(lambda: audio_info(p), p, r"no samples \(0 frames\)")
    # NaN samples (float WAV): a message, not a crash later in numpy
    y = np.zeros(16000 * 3, dtype=np.float32)
    y[16000 * 2] = np.nan
    sf.write(p, y, 16000, subtype="FLOAT")
    _raises(lambda: audio_info(p), p, r"NaN or infinite samples \(first at 2\.00 s\)")
    # truncated (header says 30.2 s, half the bytes present): libsndfile reads what is there silently
    sf.write(p, np.full(int(30.2 * 16000), 0.1, dtype=np.float32), 16000, subtype="PCM_16")
    assert audio_info(p)["duration_s"] == pytest.approx(30.2)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _raises(lambda: audio_info(p), p, r"truncated: its WAV header declares 30\.2 s, the file holds 15\.1 s")


@pytest.mark.parametrize("text, problem", [
    ("participant_id\tinterviewer\n1000\thuman\n", r"interviewer 'human' is not one of woz, ai"),
    ("participant_id\tinterviewer\n1000\twoz\n1000\tai\n", "participant 1000 is listed twice"),
    ("participant_id\ttype\n1000\twoz\n", r"missing column\(s\) \['interviewer'\]"),
    ("participant_id\tinterviewer\nP1\twoz\n", "participant_id 'P1' is not an integer"),
    ("", "empty"),
])
def test_sessions_table_bad(tmp_path, text, problem):
    p = tmp_path / "sessions.tsv"
    p.write_text(text)
    _raises(lambda: read_sessions_table(p), p, problem)


# --- shipped features -------------------------------------------------------------------------

def _vgg(path: Path, n_neurons: int = 4096, bad: str | None = None, time_name: str = "timeStamp") -> Path:
    cols = ["name", time_name] + [f"neuron_{i}" for i in range(n_neurons)]
    rows = [["'a.wav'", "0.0"] + ["0.5"] * n_neurons, ["'a.wav'", "1.0"] + ["0.25"] * n_neurons]
    if bad is not None:
        rows[1][2 + 17] = bad
    path.write_text("\n".join(",".join(r) for r in [cols, *rows]) + "\n")
    return path


def test_vgg16_bad(tmp_path):
    p = _vgg(tmp_path / "v.csv", n_neurons=4095)
    _raises(lambda: read_vgg16_csv(p), p, "expected neuron_0 .. neuron_4095", "found 4095", "neuron_4095")
    p = _vgg(tmp_path / "v.csv", bad="oops")
    _raises(lambda: read_vgg16_csv(p), p, "non-numeric value 'oops' in column 'neuron_17'", "data row 2")
    p = _vgg(tmp_path / "v.csv", bad="")
    _raises(lambda: read_vgg16_csv(p), p, "empty/NaN", "'neuron_17'", "data row 2")
    p = _vgg(tmp_path / "v.csv", time_name="when")
    _raises(lambda: read_vgg16_csv(p), p, "exactly one time column")
    p.write_text("")
    _raises(lambda: read_vgg16_csv(p), p, "empty")
    q = tmp_path / "none.csv"
    _raises(lambda: read_vgg16_csv(q), q, "not found")


def test_egemaps_bad(tmp_path):
    p = tmp_path / "e.csv"
    llds = [f"l{i}" for i in range(22)]
    p.write_text(";".join(["name", "frameTime", *llds]) + "\n'u';0.0;" + ";".join(["1"] * 22) + "\n")
    _raises(lambda: read_egemaps_csv(p), p, "expected 23 eGeMAPSv01a LLD columns", "found 22")
    llds.append("l22")
    p.write_text(";".join(["name", "frameTime", *llds]) + "\n'u';0.0;" + ";".join(["1"] * 22)
                 + ";x\n")
    _raises(lambda: read_egemaps_csv(p), p, "non-numeric value 'x' in column 'l22'")
    p.write_text(";".join(["name", "frameTime", *llds]) + "\n'u';0.01;" + ";".join(["1"] * 23)
                 + "\n'u';0.0;" + ";".join(["1"] * 23) + "\n")
    _raises(lambda: read_egemaps_csv(p), p, "frameTime", "not strictly increasing")


def test_integers_are_plain_ascii_digits():
    """IDs and scores: Python's int()/float() accept '1e1', '1_0' and non-ASCII digits; depsev does not."""
    from depsev.corpus.sessions import _SESSION_DIR, parse_int

    assert [parse_int(v) for v in ("7", " 7 ", "7.0", "-3", 7, 7.0)] == [7, 7, 7, -3, 7, 7]
    for bad in ("1e1", "1_0", "3_16", "\uff13", "\u0663", "7.5", "nan", "", "0x10"):
        assert parse_int(bad) is None, bad
    assert _SESSION_DIR.fullmatch("300_P") and not _SESSION_DIR.fullmatch("\u0663\u0660\u0660_P")
