"""openSMILE eGeMAPS stage on real speech (16 kHz and 48 kHz): rate, columns, session clock,
metadata, the E-DAIC v01a set, empty audio, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from depsev.errors import InputError
from depsev.features.audio import load_audio
from depsev.features.egemaps import egemaps_session


def _segments(path: Path, spans: list[tuple[float, float, float]]) -> Path:
    """Segments table from (session start, clean start, duration) triples."""
    df = pd.DataFrame({"start": [s for s, _, _ in spans], "end": [s + d for s, _, d in spans],
                       "clean_start": [c for _, c, _ in spans], "clean_end": [c + d for _, c, d in spans],
                       "source": "vad"})
    df.to_parquet(path)
    return path


def _check_frames(df: pd.DataFrame, duration: float, n_features: int) -> None:
    assert df.shape[1] == 2 + n_features
    clean = df["clean_time"].to_numpy()
    assert clean[0] == 0.0
    np.testing.assert_allclose(np.diff(clean), 0.01, atol=1e-9)  # 100 frames/s
    # one frame per 10 ms hop whose (up to 60 ms) analysis window fits in the audio
    assert abs(len(df) - 100 * duration) <= 7
    feats = df.iloc[:, 2:]
    assert (feats.dtypes == np.float32).all()
    assert np.isfinite(feats.to_numpy()).all()
    assert feats["Loudness_sma3"].max() > 0.1  # real speech is in there


def test_egemaps_16k_session_clock_and_metadata(speech_fixtures, tmp_path):
    wav = speech_fixtures / "pyannote_sample_2speakers_16k.wav"
    d = sf.info(str(wav)).duration
    seg = _segments(tmp_path / "seg.parquet", [(100.0, 0.0, 10.0), (200.0, 10.0, d - 10.0)])
    out = tmp_path / "egemaps" / "612.parquet"
    res = egemaps_session(wav, seg, out)
    assert res == {"participant_id": 612, "n_frames": res["n_frames"], "n_features": 25, "empty": False,
                   "feature_set": "eGeMAPSv02", "out": str(out)}
    df = pd.read_parquet(out)
    _check_frames(df, d, 25)
    clean = df["clean_time"].to_numpy()
    np.testing.assert_allclose(df["time"].to_numpy(), np.where(clean < 10.0, 100.0 + clean, 190.0 + clean))
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    meta = json.loads(pq.read_schema(out).metadata[b"depsev"])
    assert meta["feature_set"] == "eGeMAPSv02" and meta["feature_level"] == "LowLevelDescriptors"
    assert meta["n_features"] == 25 and meta["feature_names"] == list(df.columns[2:])
    assert meta["opensmile_version"] and meta["n_frames"] == len(df)
    assert meta["same_set_as_edaic_shipped"] is False and "23" in meta["edaic_shipped_set"]


def test_egemaps_48k_fixture_and_edaic_set(speech_fixtures, tmp_path):
    y16 = load_audio(speech_fixtures / "alsa_Front_Center_48k.wav")
    wav = tmp_path / "clean.wav"
    sf.write(wav, y16, 16000, subtype="FLOAT")
    d = len(y16) / 16000
    seg = _segments(tmp_path / "seg.parquet", [(0.0, 0.0, d)])
    res = egemaps_session(wav, seg, tmp_path / "a.parquet", feature_set="eGeMAPSv01a")
    assert res["n_features"] == 23
    df = pd.read_parquet(tmp_path / "a.parquet")
    _check_frames(df, d, 23)
    np.testing.assert_array_equal(df["time"].to_numpy(), df["clean_time"].to_numpy())
    meta = json.loads(pq.read_schema(tmp_path / "a.parquet").metadata[b"depsev"])
    assert meta["same_set_as_edaic_shipped"] is True and meta["n_features"] == 23


def test_egemaps_empty_audio(tmp_path):
    wav = tmp_path / "empty.wav"
    sf.write(wav, np.zeros(0, np.float32), 16000)
    seg = _segments(tmp_path / "seg.parquet", [])
    out = tmp_path / "e.parquet"
    res = egemaps_session(wav, seg, out)
    assert res["empty"] is True and res["n_frames"] == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.num_columns == 27
    assert json.loads(table.schema.metadata[b"depsev"])["empty"] is True


def test_egemaps_bad_input(speech_fixtures, tmp_path):
    seg = _segments(tmp_path / "seg.parquet", [(0.0, 0.0, 1.0)])  # shorter than the 4 s wav
    with pytest.raises(InputError, match="seg.parquet: cannot map"):
        egemaps_session(speech_fixtures / "cmu_arctic_a0007_16k.wav", seg, tmp_path / "x.parquet")
    with pytest.raises(InputError, match="audio file not found"):
        egemaps_session(tmp_path / "none.wav", seg, tmp_path / "x.parquet")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    with pytest.raises(InputError, match="bad.wav: cannot read audio"):
        egemaps_session(bad, seg, tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="unknown openSMILE feature set"):
        egemaps_session(speech_fixtures / "cmu_arctic_a0007_16k.wav", seg, tmp_path / "x.parquet",
                        feature_set="nope")
    assert not (tmp_path / "x.parquet").exists()
