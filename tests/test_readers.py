"""Corpus readers on real OpenFace output and on E-DAIC/DAIC-WOZ-shaped files with their quirks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from depsev.constants import EDAIC_OPENFACE_COLUMNS, FACE_FEATURES, FACE_META, GAZE, POSE
from depsev.corpus import (
    SessionFiles,
    audio_info,
    find_sessions,
    interviewer_for,
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
from depsev.corpus.openface import CLNF_AU_INTENSITY, CLNF_AU_PRESENCE, detect_format

OUT_COLUMNS = FACE_META + FACE_FEATURES


# --- real OpenFace 2.x output -------------------------------------------------------------------

@pytest.mark.parametrize("name, rows", [("default.csv", 288), ("changeLighting.csv", 88)])
def test_real_openface2_output(openface_fixtures, name, rows):
    df = read_openface(openface_fixtures / name)
    assert df.attrs["openface_format"] == "openface2"
    assert list(df.columns) == OUT_COLUMNS
    assert len(df) == rows and df.attrs["other_face_rows"] == 0 and df.attrs["missing_features"] == []
    assert df["timestamp"].dtype == np.float64 and df["frame"].dtype == np.int64
    assert df["success"].dtype == np.int8 and (df["success"] == 1).all()
    assert all(df[c].dtype == np.float32 for c in ["confidence", *FACE_FEATURES])
    assert np.allclose(df["confidence"], 0.98)
    assert (np.diff(df["timestamp"]) > 0).all() and df["timestamp"].iloc[0] == 0.0
    assert abs(df["timestamp"].iloc[1] - 1 / 15) < 1e-3  # 15 fps videos
    # values land in the right columns (selected by name, not position)
    raw = pd.read_csv(openface_fixtures / name, skipinitialspace=True)
    for col in ("pose_Tz", "gaze_angle_x", "AU12_r", "AU45_c"):
        np.testing.assert_allclose(df[col], raw[col].astype(np.float32))


def test_real_smile_is_in_au12(openface_fixtures):
    df = read_openface(openface_fixtures / "default.csv")
    assert 2.9 < df["AU12_r"].max() < 3.0  # the README: smiles, AU12_r up to 2.96
    assert set(np.unique(df["AU12_c"])) <= {0.0, 1.0}


def test_real_header_file_matches_and_is_recognised(openface_fixtures):
    header = (openface_fixtures / "csv_header_aus_pose_gaze.txt").read_text().strip()
    first = (openface_fixtures / "default.csv").read_text().splitlines()[0].strip()
    assert header == first
    names = [c.strip() for c in header.split(",")]
    assert len(names) == 334 and detect_format(names) == "openface2"
    assert set(FACE_FEATURES) <= set(names)


def test_openface2_without_spaces_reads_the_same(openface_fixtures, tmp_path):
    text = (openface_fixtures / "changeLighting.csv").read_text().replace(", ", ",")
    (tmp_path / "nospace.csv").write_text(text)
    a = read_openface(openface_fixtures / "changeLighting.csv")
    b = read_openface(tmp_path / "nospace.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_openface2_several_faces_keeps_face_0(openface_fixtures, tmp_path):
    raw = pd.read_csv(openface_fixtures / "changeLighting.csv", skipinitialspace=True)
    other = raw.copy()
    other["face_id"] = 1
    other["AU12_r"] = 4.5
    both = pd.concat([raw, other]).sort_values(["frame", "face_id"], kind="stable")
    both.to_csv(tmp_path / "two_faces.csv", index=False)
    df = read_openface(tmp_path / "two_faces.csv")
    assert len(df) == len(raw) and df.attrs["other_face_rows"] == len(raw)
    assert (df["AU12_r"] < 4.5).all()
    np.testing.assert_array_equal(df["frame"], raw["frame"])


# --- E-DAIC-shaped files --------------------------------------------------------------------------

def _edaic_openface(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(0, 3, size=(n, len(FACE_FEATURES))).round(4), columns=FACE_FEATURES)
    df.insert(0, "success", (rng.uniform(size=n) > 0.2).astype(int))
    df.insert(0, "confidence", rng.uniform(0.5, 1.0, size=n).round(3))
    df.insert(0, "timestamp", np.round(np.arange(n) / 30, 3))
    df.insert(0, "frame", np.arange(1, n + 1))
    return df


def test_edaic_openface_selected_by_name(tmp_path):
    src = _edaic_openface()
    shuffled = src[list(reversed(EDAIC_OPENFACE_COLUMNS))]  # order is not verified on real data
    shuffled.columns = [" " + c for c in shuffled.columns]  # leading spaces in names
    path = tmp_path / "300_OpenFace2.1.0_Pose_gaze_AUs.csv"
    shuffled.to_csv(path, index=False)
    df = read_openface(path)
    assert df.attrs["openface_format"] == "edaic"
    assert list(df.columns) == OUT_COLUMNS
    for col in EDAIC_OPENFACE_COLUMNS:
        np.testing.assert_allclose(df[col].to_numpy(np.float64), src[col], rtol=1e-6)
    assert (df["success"] == 0).any()  # failed frames are kept, not dropped


def _write_labels(root, *, nested_labels=True):
    d = root / "labels" if nested_labels else root
    d.mkdir(parents=True, exist_ok=True)
    header = "Participant_ID, Gender, PHQ_Binary, PHQ_Score, PCL-C (PTSD), PTSD Severity\n"
    (d / "train_split.csv").write_text(header + "300,female ,0,12,0,30\n301,male,0,3,0,20\n"
                                       "302, male,1,19,1,50\n")
    (d / "dev_split.csv").write_text(header + "600,female,0,24,0,17\n601,Female,0,9,0,18\n")
    (d / "test_split.csv").write_text(header + "650,male,1,10,0,40\n")


@pytest.mark.parametrize("kind", ["edaic", "demo"])
def test_edaic_labels(tmp_path, kind):
    _write_labels(tmp_path)
    df = read_labels(tmp_path, kind)
    assert list(df.columns) == ["participant_id", "split", "gender", "phq_score", "phq_binary",
                                "phq_binary_shipped", "band"]
    assert df["participant_id"].tolist() == [300, 301, 302, 600, 601, 650]
    assert df["split"].tolist() == ["train"] * 3 + ["dev"] * 2 + ["test"]
    assert df["gender"].tolist() == ["female", "male", "male", "female", "female", "male"]
    assert df["phq_score"].dtype == np.int64 and df["participant_id"].dtype == np.int64
    # binary derived from the score; the disagreeing shipped value is kept separately
    assert df["phq_binary"].tolist() == [1, 0, 1, 1, 0, 1]
    assert df["phq_binary_shipped"].dtype == "Int64"
    assert df["phq_binary_shipped"].tolist() == [0, 0, 1, 0, 0, 1]
    assert df["band"].tolist() == [2, 0, 3, 4, 1, 2]


def test_split_file_without_binary_or_gender(tmp_path):
    p = tmp_path / "dev_split.csv"
    p.write_text("Participant_ID,PHQ_Score\n400,7\n401,14.0\n")
    df = read_split_file(p, "dev")
    assert df["phq_score"].tolist() == [7, 14]
    assert df["gender"].tolist() == ["", ""]
    assert df["phq_binary_shipped"].isna().all()


def test_detailed_phq8(tmp_path):
    p = tmp_path / "Detailed_PHQ8_Labels.csv"
    p.write_text("Participant_ID,PHQ_8NoInterest,PHQ_8Depressed,PHQ_8Sleep,PHQ_8Tired,PHQ_8Appetite,"
                 "PHQ_8Failure,PHQ_8Concentrating,PHQ_8Moving,PHQ_8Total\n"
                 "300,0,1,1,0,0,0,0,0,2\n301,3,3,3,3,3,3,3,3,24\n")
    df = read_detailed_phq8(p)
    assert df.columns[0] == "participant_id" and df.columns[-1] == "phq_score"
    assert df["phq_score"].tolist() == [2, 24] and df["sleep"].tolist() == [1, 3]


def test_edaic_transcript_with_commas_in_text(tmp_path):
    p = tmp_path / "300_Transcript.csv"
    p.write_text('Start_Time,End_Time,Text,Confidence\n1.2,3.4,"well, yes",0.93\n5.0,5.0,,0.5\n'
                 "6.1,9.8,i'm fine,0.88\n")
    df = read_transcript(p)
    assert df.attrs["transcript_format"] == "edaic"
    assert list(df.columns) == ["start", "end", "speaker", "text"]
    assert df["text"].tolist() == ["well, yes", "", "i'm fine"]
    assert (df["speaker"] == "participant").all()
    assert df["start"].dtype == np.float64 and df["end"].tolist() == [3.4, 5.0, 9.8]


def test_transcript_text_that_is_not_utf8_does_not_fail_the_file(tmp_path):
    """A latin-1 byte in the (unused) text: the times are read, the byte becomes U+FFFD."""
    p = tmp_path / "300_Transcript.csv"
    p.write_bytes(b"Start_Time,End_Time,Text,Confidence\n1.0,2.5,caf\xe9 au lait,0.9\n3.0,4.0,ok,0.8\n")
    df = read_transcript(p)
    assert df["start"].tolist() == [1.0, 3.0] and df["end"].tolist() == [2.5, 4.0]
    assert df["text"].tolist() == ["caf\ufffd au lait", "ok"]


# --- DAIC-WOZ-shaped files ----------------------------------------------------------------------

def test_daicwoz_labels_at_root_with_coded_gender(tmp_path):
    (tmp_path / "train_split_Depression_AVEC2017.csv").write_text(
        "Participant_ID,PHQ8_Binary,PHQ8_Score,Gender,PHQ8_NoInterest\n303,0,0,0,0\n304,0,15,1,2\n")
    (tmp_path / "dev_split_Depression_AVEC2017.csv").write_text(
        "Participant_ID,PHQ8_Binary,PHQ8_Score,Gender,PHQ8_NoInterest\n409,0,10,1,1\n")
    (tmp_path / "full_test_split.csv").write_text("Participant_ID,PHQ_Binary,PHQ_Score,Gender\n"
                                                   "300,0,2,1\n")
    df = read_labels(tmp_path, "daic-woz")
    assert df["participant_id"].tolist() == [303, 304, 409, 300]
    assert df["gender"].tolist() == ["female", "male", "male", "male"]  # 0 = female, 1 = male
    assert df["phq_binary"].tolist() == [0, 1, 1, 0]  # 409's shipped binary is wrong
    assert df["phq_binary_shipped"].tolist() == [0, 0, 0, 0]


def _write_clnf(d, pid: int = 303, n: int = 40, seed: int = 1):
    """DAIC-WOZ-shaped CLNF files (", " separators, leading spaces); returns the AU/pose/gaze frames."""
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame({"frame": np.arange(1, n + 1), "timestamp": np.round(np.arange(n) / 30, 3),
                         "confidence": rng.uniform(0.8, 1, n).round(4), "success": 1})
    aus = pd.concat([meta, pd.DataFrame(rng.uniform(0, 5, (n, 20)).round(3),
                                        columns=CLNF_AU_INTENSITY + CLNF_AU_PRESENCE)], axis=1)
    pose = pd.concat([meta, pd.DataFrame(rng.normal(size=(n, 6)).round(4),
                                         columns=["Tx", "Ty", "Tz", "Rx", "Ry", "Rz"])], axis=1)
    gcols = ["x_0", "y_0", "z_0", "x_1", "y_1", "z_1", "x_h0", "y_h0", "z_h0", "x_h1", "y_h1", "z_h1"]
    gaze = pd.concat([meta, pd.DataFrame(rng.normal(size=(n, 12)).round(4), columns=gcols)], axis=1)
    paths = []
    for name, df in (("AUs", aus), ("pose", pose), ("gaze", gaze)):
        p = d / f"{pid}_CLNF_{name}.txt"
        lines = [", ".join(df.columns)] + [", ".join(map(str, row)) for row in df.itertuples(index=False)]
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths, (aus, pose, gaze)


def test_daicwoz_clnf_aus_alone_and_merged(tmp_path):
    (aus_p, pose_p, gaze_p), (aus, pose, gaze) = _write_clnf(tmp_path)
    alone = read_openface(aus_p)
    assert alone.attrs["openface_format"] == "daicwoz_clnf"
    assert list(alone.columns) == FACE_META + [c for c in FACE_FEATURES
                                               if c in CLNF_AU_INTENSITY + CLNF_AU_PRESENCE]
    assert "AU07_r" in alone.attrs["missing_features"] and "pose_Tx" in alone.attrs["missing_features"]

    df = read_daicwoz_clnf(aus_p, pose_p, gaze_p)
    assert df.attrs["openface_format"] == "daicwoz_clnf"
    assert [c for c in df.columns if c in POSE + GAZE] == POSE + GAZE[:6]
    assert df.attrs["missing_features"] == [c for c in FACE_FEATURES if c not in df.columns]
    assert "gaze_angle_x" in df.attrs["missing_features"]
    np.testing.assert_allclose(df["pose_Rz"], pose["Rz"].astype(np.float32))
    np.testing.assert_allclose(df["gaze_1_y"], gaze["y_1"].astype(np.float32))
    np.testing.assert_allclose(df["AU26_r"], aus["AU26_r"].astype(np.float32))
    assert all(df[c].dtype == np.float32 for c in df.columns[4:])
    only_pose = read_daicwoz_clnf(aus_p, pose=pose_p)
    assert "pose_Tx" in only_pose.columns and "gaze_0_x" not in only_pose.columns


def test_daicwoz_transcript(tmp_path):
    p = tmp_path / "303_TRANSCRIPT.csv"
    p.write_text("start_time\tstop_time\tspeaker\tvalue\n36.588\t39.668\tEllie\thi i'm ellie\n"
                 '62.328\t63.178\tParticipant \tgood "thanks"\n65.0\t66.0\tParticipant\t\n')
    df = read_transcript(p)
    assert df.attrs["transcript_format"] == "daicwoz"
    assert df["speaker"].tolist() == ["interviewer", "participant", "participant"]
    assert df["text"].tolist() == ["hi i'm ellie", 'good "thanks"', ""]
    assert df["start"].tolist() == [36.588, 62.328, 65.0]


# --- sessions, audio, interviewer -----------------------------------------------------------------

def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_find_sessions_edaic_nested_and_flat(tmp_path):
    nested = tmp_path / "data" / "300_P" / "300_P"
    a = _touch(nested / "300_AUDIO.wav")
    t = _touch(nested / "300_Transcript.csv")
    o = _touch(nested / "features" / "300_OpenFace2.1.0_Pose_gaze_AUs.csv")
    v = _touch(nested / "features" / "300_vgg16.csv")
    e = _touch(nested / "features" / "300_OpenSMILE2.3.0_egemaps.csv")
    _touch(nested / "features" / "300_OpenSMILE2.3.0_mfcc.csv")  # not a kind depsev reads
    flat = tmp_path / "data" / "601_P"
    a2 = _touch(flat / "601_AUDIO.wav")
    vid = _touch(flat / "601_interview.MP4")
    (tmp_path / "data" / "602_P").mkdir()  # empty session folder: still reported
    _touch(tmp_path / "labels" / "train_split.csv")
    sessions = find_sessions(tmp_path, "demo")
    assert sorted(sessions) == [300, 601, 602]
    s = sessions[300]
    assert (s.audio, s.transcript, s.openface, s.vgg16, s.egemaps) == (a, t, o, v, e)
    assert s.directory == nested and s.video is None and s.openface_pose is None
    assert sessions[601].audio == a2 and sessions[601].video == vid and sessions[601].openface is None
    assert sessions[602].directory == tmp_path / "data" / "602_P" and sessions[602].audio is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.audio = None  # type: ignore[misc]
    assert isinstance(s, SessionFiles)


@pytest.mark.parametrize("under", ["", "data"])
def test_find_sessions_daicwoz(tmp_path, under):
    d = tmp_path / under / "303_P" if under else tmp_path / "303_P"
    files = {k: _touch(d / f"303_{n}") for k, n in [("audio", "AUDIO.wav"), ("transcript", "TRANSCRIPT.csv"),
                                                     ("openface", "CLNF_AUs.txt"),
                                                     ("openface_pose", "CLNF_pose.txt"),
                                                     ("openface_gaze", "CLNF_gaze.txt")]}
    _touch(d / "303_CLNF_hog.bin")
    _touch(d / "303_COVAREP.csv")
    s = find_sessions(tmp_path, "daic-woz")[303]
    for k, p in files.items():
        assert getattr(s, k) == p
    assert s.directory == d and s.vgg16 is None and s.video is None


def test_audio_info_real_speech(speech_fixtures):
    info = audio_info(speech_fixtures / "cmu_arctic_a0007_16k.wav")
    assert info["sample_rate"] == 16000 and info["channels"] == 1
    assert abs(info["duration_s"] - 4.0) < 0.1 and info["frames"] == round(info["duration_s"] * 16000)
    info48 = audio_info(speech_fixtures / "alsa_Front_Center_48k.wav")
    assert info48["sample_rate"] == 48000 and 1.0 < info48["duration_s"] < 2.0


def test_audio_info_written_stereo(tmp_path):
    p = tmp_path / "x.wav"
    sf.write(p, np.zeros((8000, 2), dtype=np.float32), 8000)
    assert audio_info(p) == {"duration_s": 1.0, "sample_rate": 8000, "channels": 2, "frames": 8000}


def test_interviewer_rules_and_sessions_table(tmp_path):
    assert interviewer_for(300) == "woz" and interviewer_for(492) == "woz"
    assert interviewer_for(600) == "ai" and interviewer_for(718) == "ai"
    with pytest.raises(ValueError, match="sessions table"):
        interviewer_for(1000)
    p = tmp_path / "sessions.tsv"
    p.write_text("participant_id\t interviewer\n1000\t WoZ \n 1001\tai\n600\twoz\n")
    table = read_sessions_table(p)
    assert table == {1000: "woz", 1001: "ai", 600: "woz"}
    assert interviewer_for(1000, table) == "woz" and interviewer_for(600, table) == "woz"
    assert interviewer_for(601, table) == "ai"
    c = tmp_path / "sessions.csv"
    c.write_text("participant_id,interviewer\n7,ai\n")
    assert read_sessions_table(c) == {7: "ai"}


# --- shipped E-DAIC audio features --------------------------------------------------------------

def test_vgg16_csv_header_variants(tmp_path):
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(3, 4096)).astype(np.float32)
    names = [f"neuron_{i}" for i in range(4096)]
    df = pd.DataFrame(feats, columns=names)
    df = df[names[::-1]]  # neuron columns in another order: matched by index
    df.insert(0, " timeStamp", [0.0, 1.0, 2.0])
    df.insert(0, "name", ["'300_AUDIO.wav'"] * 3)
    df["class"] = "?"
    p = tmp_path / "300_vgg16.csv"
    df.to_csv(p, index=False, float_format="%.7g")
    times, out = read_vgg16_csv(p)
    assert times.dtype == np.float64 and times.tolist() == [0.0, 1.0, 2.0]
    assert out.dtype == np.float32 and out.shape == (3, 4096)
    np.testing.assert_allclose(out, feats, rtol=1e-6)


def _egemaps_text(n_lld: int = 23, rows: int = 4, trailing: str = "") -> str:
    llds = [f"lld_{i}_sma3" for i in range(n_lld)]
    lines = [";".join(["name", "frameTime", *llds]) + trailing]
    for r in range(rows):
        lines.append(";".join(["'unknown'", f"{r * 0.01:.2f}", *[f"{r + i / 10:.3f}" for i in range(n_lld)]])
                     + trailing)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("trailing", ["", ";"])
def test_egemaps_csv(tmp_path, trailing):
    p = tmp_path / "300_OpenSMILE2.3.0_egemaps.csv"
    p.write_text(_egemaps_text(trailing=trailing))
    df = read_egemaps_csv(p)
    assert df.columns[0] == "time" and len(df.columns) == 24
    assert df["time"].dtype == np.float64 and df["time"].tolist() == [0.0, 0.01, 0.02, 0.03]
    assert all(df[c].dtype == np.float32 for c in df.columns[1:])
    assert df.attrs["feature_set"] == "eGeMAPSv01a (E-DAIC shipped, openSMILE 2.3.0)"
    assert df["lld_3_sma3"].iloc[2] == pytest.approx(2.3)
