"""Chunking of sessions and the Parquet chunk shards (depsev.shards.chunks)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depsev.constants import FACE_FEATURES, phq_band
from depsev.errors import InputError
from depsev.shards.chunks import (
    REASON_NO_VALID,
    REASON_SHORT,
    ChunkConfig,
    balance_chunks,
    build_shards,
    chunk_sequence,
)
from depsev.shards.normalize import save_stats
from depsev.shards.schema import SCHEMA_VERSION, read_shards, rows_to_arrays
from depsev.shards.session import pair_audio

D_AUDIO = 8
#: metadata of the test VGGish files, as vggish_session writes it (audio_clean's settings carried forward)
VGGISH_META = {"stage": "vggish", "weights_mode": "random", "weights_file": "random", "sha256": "ab" * 32,
               "audio_clean": {"segmentation": "auto", "segmentation_used": "transcript", "denoise": False,
                               "normalize_audio": True}}


# ---------------------------------------------------------------- helpers
def _frames(n: int, d: int = 3) -> np.ndarray:
    """Frame i, feature j holds i + j/100: every value says where it came from."""
    return (np.arange(n)[:, None] + np.arange(d)[None, :] / 100).astype(np.float32)


def _chunk(n: int, size: int = 10, downsample: int = 1, min_coverage: float = 0.5, valid=None):
    valid = np.ones(n, bool) if valid is None else valid
    return chunk_sequence(_frames(n), valid, np.arange(n) / 30.0, size=size, downsample=downsample,
                          min_coverage=min_coverage)


def _write_face(root: Path, pid: int, times: np.ndarray, valid: np.ndarray | None = None,
                meta: dict | None = None) -> np.ndarray:
    n = len(times)
    valid = np.ones(n, bool) if valid is None else valid
    x = _frames(n, len(FACE_FEATURES)) + pid  # distinct per participant
    cols = {"timestamp": pa.array(times, pa.float64()), "frame": pa.array(np.arange(1, n + 1), pa.int64()),
            "success": pa.array(valid.astype(np.int8)), "confidence": pa.array(np.ones(n, np.float32)),
            "valid": pa.array(valid)}
    cols.update({name: pa.array(x[:, j]) for j, name in enumerate(FACE_FEATURES)})
    table = pa.table(cols)
    if meta is not None:
        table = table.replace_schema_metadata({b"depsev": json.dumps(meta).encode()})
    (root / "face").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "face" / f"{pid}.parquet", compression="zstd")
    return x


def _write_vggish(root: Path, pid: int, times: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """fc2 column 0 holds the example's session time, so a test can see which example went where."""
    n = len(times)
    if x is None:
        x = np.tile(np.arange(D_AUDIO, dtype=np.float32) / 10, (n, 1))
        x[:, 0] = times
    fc2 = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1).astype(np.float32)), D_AUDIO)
    table = pa.table({"time": pa.array(times, pa.float64()), "clean_time": pa.array(times, pa.float64()),
                      "fc2": fc2})
    table = table.replace_schema_metadata({b"depsev": json.dumps(VGGISH_META).encode()})
    (root / "vggish").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "vggish" / f"{pid}.parquet", compression="zstd")
    return x


def _identity_stats(path: Path, names: list[str]) -> Path:
    """min 0, max 1, mean 0, std 1: eq. 1-2 leave the values unchanged."""
    d = len(names)
    save_stats({"fitted_on": "train", "feature_names": names, "min": [0.0] * d, "max": [1.0] * d,
                "mean": [0.0] * d, "std": [1.0] * d, "n_frames": 1, "participant_ids": [300]}, path)
    return path


@pytest.fixture()
def stats(tmp_path) -> dict[str, Path]:
    return {"video": _identity_stats(tmp_path / "video.json", list(FACE_FEATURES)),
            "audio": _identity_stats(tmp_path / "audio.json", [f"fc2_{i}" for i in range(D_AUDIO)])}


def _manifest(rows: list[tuple[int, str, int]], status: dict[int, str] | None = None) -> pd.DataFrame:
    status = status or {}
    return pd.DataFrame({
        "participant_id": pd.array([r[0] for r in rows], "int64"),
        "split": [r[1] for r in rows],
        "interviewer": ["woz" if r[0] < 600 else "ai" for r in rows],
        "phq_score": pd.array([r[2] for r in rows], "Int64"),
        "band": pd.array([phq_band(r[2]) for r in rows], "Int64"),
        "status": [status.get(r[0], "ok") for r in rows],
    })


CFG = {"video_frames": 10, "audio_frames": 4, "video_downsample": 1, "audio_downsample": 1,
       "min_coverage": 0.5, "balance_train": False, "dataset_kind": "demo"}


# ---------------------------------------------------------------- chunk_sequence
@pytest.mark.parametrize(("n", "expected", "dropped"), [
    (4, 0, 1), (5, 1, 0), (9, 1, 0), (10, 1, 0), (11, 1, 1), (14, 1, 1), (15, 2, 0), (19, 2, 0),
    (20, 2, 0), (21, 2, 1), (25, 3, 0)])
def test_chunk_counts_around_multiples(n, expected, dropped):
    chunks = _chunk(n)
    assert len(chunks) == expected
    assert chunks.dropped_partial == dropped
    assert [c.index for c in chunks] == list(range(expected))
    assert all(c.seq.shape == (10, 3) and c.mask.shape == (10,) for c in chunks)


def test_partial_chunk_padded_and_masked():
    x = _frames(15)
    chunks = _chunk(15)
    first, last = chunks
    np.testing.assert_array_equal(first.seq, x[:10])
    assert first.mask.all() and first.n_steps == 10 and first.valid_share == 1.0
    np.testing.assert_array_equal(last.seq[:5], x[10:15])
    assert not last.seq[5:].any()
    assert last.mask.tolist() == [True] * 5 + [False] * 5
    assert last.n_steps == 5 and last.valid_share == 0.5


def test_invalid_frames_zeroed_and_masked():
    valid = np.ones(10, bool)
    valid[[2, 7]] = False
    (c,) = _chunk(10, valid=valid)
    assert c.mask.tolist() == valid.tolist()
    assert not c.seq[[2, 7]].any()
    np.testing.assert_array_equal(c.seq[valid], _frames(10)[valid])
    assert c.valid_share == pytest.approx(0.8) and c.n_steps == 10


def test_chunk_times_session_clock():
    times = np.arange(25) / 30.0
    chunks = chunk_sequence(_frames(25), np.ones(25, bool), times, size=10, min_coverage=0.5)
    assert [c.start_time for c in chunks] == [times[0], times[10], times[20]]
    assert chunks[0].end_time == times[10] and chunks[1].end_time == times[20]
    assert chunks[2].end_time == pytest.approx(times[24] + 1 / 30)


def test_downsampling_steps():
    x = _frames(15)
    first, last = _chunk(15, downsample=3)
    assert first.seq.shape == (math.ceil(10 / 3), 3) == (4, 3)
    np.testing.assert_array_equal(first.seq, x[[0, 3, 6, 9]])
    np.testing.assert_array_equal(last.seq[:2], x[[10, 13]])
    assert last.mask.tolist() == [True, True, False, False] and last.n_steps == 2
    assert _chunk(20, downsample=10)[1].seq.tolist() == [x[10].tolist()]


def test_min_coverage_drop_counted():
    assert len(_chunk(13, min_coverage=0.3)) == 2
    chunks = _chunk(13, min_coverage=0.4)
    assert len(chunks) == 1 and chunks.dropped_partial == 1 and chunks.reason == ""
    assert len(_chunk(11, min_coverage=0.0)) == 2  # 0: every partial chunk is kept


def test_short_session_reason():
    chunks = _chunk(4)
    assert list(chunks) == [] and chunks.dropped_partial == 1
    assert chunks.reason.startswith(REASON_SHORT)
    empty = chunk_sequence(np.zeros((0, 3), np.float32), np.zeros(0, bool), np.zeros(0), size=10)
    assert empty.reason == "no frames"


def test_all_invalid_chunks_dropped_and_counted():
    chunks = _chunk(25, valid=np.zeros(25, bool))
    assert list(chunks) == [] and chunks.dropped_no_valid == 3 and chunks.reason == REASON_NO_VALID
    valid = np.ones(25, bool)
    valid[10:20] = False  # only the middle chunk is empty
    part = _chunk(25, valid=valid)
    assert [c.index for c in part] == [0, 2] and part.dropped_no_valid == 1


def test_chunk_sequence_rejects_bad_arrays():
    with pytest.raises(ValueError, match="non-decreasing"):
        chunk_sequence(_frames(3), np.ones(3, bool), np.array([0.0, 2.0, 1.0]), size=2)
    with pytest.raises(ValueError, match="non-finite"):
        chunk_sequence(np.full((3, 2), np.nan, np.float32), np.ones(3, bool), np.arange(3.0), size=2)
    with pytest.raises(ValueError, match="one entry per frame"):
        chunk_sequence(_frames(3), np.ones(2, bool), np.arange(3.0), size=2)


# ---------------------------------------------------------------- fusion pairing
def test_fusion_places_audio_by_time_not_index():
    """Irregular video clock: chunk 0 spans 1 s (10 steps of 0.1 s), chunk 1 spans 2 s (10 steps of
    0.2 s); audio examples every 0.25 s; 12 audio slots per chunk."""
    vt = np.concatenate([np.arange(10) * 0.1, 1.0 + np.arange(10) * 0.2])
    video = chunk_sequence(_frames(20), np.ones(20, bool), vt, size=10, min_coverage=0.5)
    assert [(c.start_time, c.end_time) for c in video] == [(0.0, 1.0), (1.0, pytest.approx(3.0))]
    at = 0.01 + np.arange(16) * 0.25  # 0.01 .. 3.76 s
    ax = np.repeat(at[:, None], 2, axis=1).astype(np.float32)
    paired = pair_audio(video, ax, np.ones(16, bool), at, steps=12)
    a0, a1 = paired.chunks
    # slot = floor(p / 10 * 12) with p the fractional video step of the example's time
    assert np.flatnonzero(a0.mask).tolist() == [0, 3, 6, 9]  # p = 0.1, 2.6, 5.1, 7.6
    assert np.flatnonzero(a1.mask).tolist() == [0, 1, 3, 4, 6, 7, 9, 10]  # p = 0.05, 1.3, ..., 8.8
    np.testing.assert_allclose(a0.seq[a0.mask, 0], at[:4], rtol=1e-6)
    np.testing.assert_allclose(a1.seq[a1.mask, 0], at[4:12], rtol=1e-6)
    assert a0.n_steps == 4 and a1.n_steps == 8 and not a1.seq[~a1.mask].any()
    assert paired.unpaired == 4  # 3.0 .. 3.75 s lie after the last video chunk
    # shifting the video clock by 1 s moves the pairing with it: the audio follows time, not position
    shifted = chunk_sequence(_frames(20), np.ones(20, bool), vt + 1.0, size=10, min_coverage=0.5)
    b0 = pair_audio(shifted, ax, np.ones(16, bool), at, steps=12).chunks[0]
    np.testing.assert_allclose(b0.seq[b0.mask, 0], at[4:8], rtol=1e-6)


def test_fusion_audio_of_the_second_half_stays_in_the_second_half():
    """Participant speech only in the second half of a chunk: its audio slots are in the second half
    (schema version 1 packed them into slots 0..n-1, beside the video of the first half)."""
    vt = np.arange(900) / 30.0  # 30 s chunk at 30 fps, every 5th frame kept: 180 steps
    video = chunk_sequence(_frames(900), np.ones(900, bool), vt, size=900, downsample=5)
    at = 15.0 + np.arange(15) * 0.96
    paired = pair_audio(video, at[:, None].astype(np.float32), np.ones(15, bool), at, steps=32)
    slots = np.flatnonzero(paired.chunks[0].mask)
    assert slots.min() >= 16 and len(slots) == 15
    # each slot's relative position is the example's relative time (within one slot)
    np.testing.assert_allclose((slots + 0.5) / 32, at / 30.0, atol=1 / 32)


def test_fusion_examples_sharing_a_slot_are_averaged_and_counted():
    video = chunk_sequence(_frames(10), np.ones(10, bool), np.arange(10.0), size=10)  # [0, 10)
    at = np.arange(10.0)
    ax = at[:, None].astype(np.float32)
    merged = pair_audio(video, ax, np.ones(10, bool), at, steps=4)  # 10 examples, 4 slots
    c = merged.chunks[0]
    # slots floor(t / 10 * 4): 0 <- {0, 1, 2}, 1 <- {3, 4}, 2 <- {5, 6, 7}, 3 <- {8, 9}
    assert c.seq[:, 0].tolist() == [1.0, 3.5, 6.0, 8.5] and c.mask.all()
    assert merged.merged == 6
    # an invalid example does not count in its slot's mean
    valid = np.ones(10, bool)
    valid[0] = False
    c = pair_audio(video, ax, valid, at, steps=4).chunks[0]
    assert c.seq[0, 0] == 1.5


# ---------------------------------------------------------------- shards
def test_video_shards_round_trip_pyarrow_pandas_duckdb(tmp_path, stats):
    feat = tmp_path / "features"
    lengths = {300: 25, 301: 10, 302: 37}
    x = {pid: _write_face(feat, pid, np.arange(n) / 30.0) for pid, n in lengths.items()}
    manifest = _manifest([(300, "train", 3), (301, "train", 12), (302, "train", 22), (303, "dev", 5)])
    qc = build_shards(manifest, feat, stats, tmp_path / "shards", modality="video", split="train", cfg=CFG,
                      shard_rows=2)
    out = tmp_path / "shards" / "video" / "train"
    expected = {pid: _chunk_list(x[pid]) for pid in lengths}
    total = sum(len(c) for c in expected.values())
    assert qc["chunks"] == total == 3 + 1 + 4
    assert qc["files"] == [f"part-{i:05d}.parquet" for i in range(math.ceil(total / 2))]

    table, meta = read_shards(out)
    seq, mask, labels = rows_to_arrays(table)
    assert seq.dtype == np.float32 and seq.shape == (total, 10, len(FACE_FEATURES))
    want = [(pid, c) for pid in lengths for c in expected[pid]]
    np.testing.assert_array_equal(seq, np.stack([c.seq for _, c in want]))
    np.testing.assert_array_equal(mask, np.stack([c.mask for _, c in want]))
    assert labels["participant_id"].tolist() == [pid for pid, _ in want]
    assert labels["chunk_index"].tolist() == [c.index for _, c in want]
    assert labels["band"].tolist() == [phq_band({300: 3, 301: 12, 302: 22}[p]) for p, _ in want]
    assert labels["start_time"].tolist() == [c.start_time for _, c in want]
    assert set(labels["split"]) == {"train"} and set(labels["interviewer"]) == {"woz"}

    df = pd.read_parquet(out)
    assert len(df) == total
    np.testing.assert_array_equal(np.stack([np.stack(s) for s in df["seq"]]), seq)
    np.testing.assert_array_equal(np.stack(df["mask"].tolist()), mask)
    assert duckdb.sql(f"select count(*) from '{out}/*.parquet'").fetchall()[0][0] == total
    steps = duckdb.sql(f"select sum(n_steps) from '{out}/*.parquet'").fetchall()[0][0]
    assert steps == labels["n_steps"].sum()


def test_shards_carry_the_feature_preparation_of_the_feature_files(tmp_path, stats):
    """The shard stage writes the preparation its feature files record (plus its min_coverage) into
    the metadata; sessions prepared differently are refused, naming the setting."""
    feat = tmp_path / "features"
    face = {"stage": "face_frames", "confidence_threshold": 0.75, "openface_image": "docker://of@sha256:00"}
    for pid in (300, 301):
        _write_face(feat, pid, np.arange(12) / 30.0, meta=face)
        _write_vggish(feat, pid, np.arange(12) * 0.96)
    manifest = _manifest([(300, "dev", 3), (301, "dev", 12)])
    build_shards(manifest, feat, stats, tmp_path / "s", modality="fusion", split="dev",
                 cfg={**CFG, "min_coverage": 0.25})
    prep = read_shards(tmp_path / "s" / "fusion" / "dev")[1]["preparation"]
    assert prep == {"confidence_threshold": 0.75, "openface_image": "docker://of@sha256:00",
                    "vggish_weights_mode": "random", "vggish_weights_file": "random", "segmentation": "auto",
                    "denoise": False, "normalize_audio": True, "min_coverage": 0.25,
                    "segmentation_used": {"transcript": 2}, "sessions": 2}
    # the video shards carry the face settings only
    build_shards(manifest, feat, stats, tmp_path / "s", modality="video", split="dev", cfg=CFG)
    video = read_shards(tmp_path / "s" / "video" / "dev")[1]["preparation"]
    assert video["confidence_threshold"] == 0.75 and "denoise" not in video and video["sessions"] == 2
    _write_face(feat, 301, np.arange(12) / 30.0, meta={**face, "confidence_threshold": 0.5})
    with pytest.raises(InputError, match=r"differently: confidence_threshold is 0\.5 here but 0\.75 in"):
        build_shards(manifest, feat, stats, tmp_path / "s", modality="video", split="dev", cfg=CFG)


def _chunk_list(x: np.ndarray):
    n = len(x)
    return chunk_sequence(x, np.ones(n, bool), np.arange(n) / 30.0, size=10, min_coverage=0.5)


def test_shard_metadata(tmp_path, stats):
    feat = tmp_path / "features"
    _write_face(feat, 300, np.arange(12) / 30.0)
    build_shards(_manifest([(300, "dev", 3)]), feat, stats, tmp_path / "shards", modality="video",
                 split="dev", cfg={**CFG, "video_downsample": 2})
    meta = read_shards(tmp_path / "shards" / "video" / "dev")[1]
    raw = pq.read_schema(tmp_path / "shards" / "video" / "dev" / "part-00000.parquet").metadata[b"depsev"]
    assert json.loads(raw) == meta
    assert meta["schema_version"] == SCHEMA_VERSION == 3
    assert meta["modality"] == "video" and meta["split"] == "dev"
    assert meta["dataset_kind"] == "demo" and meta["synthetic"] is True
    assert meta["min_coverage"] == 0.5 and meta["balance_train"] is False and meta["balance"] is None
    video = meta["streams"]["video"]
    assert video["feature_names"] == list(FACE_FEATURES) and video["dim"] == 49
    assert (video["chunk_frames"], video["downsample"], video["steps"]) == (10, 2, 5)
    assert video["feature_set"] == "openface2_pose_gaze_au49"
    sha = hashlib.sha256(stats["video"].read_bytes()).hexdigest()
    assert video["normalization"] == {"file": "video.json", "sha256": sha}


def test_normalizer_applied_with_train_stats(tmp_path):
    feat = tmp_path / "features"
    x = _write_face(feat, 300, np.arange(10) / 30.0)
    d = len(FACE_FEATURES)
    path = tmp_path / "video.json"
    save_stats({"fitted_on": "train", "feature_names": list(FACE_FEATURES), "min": [0.0] * d,
                "max": [100.0] * d, "mean": [0.5] * d, "std": [2.0] * d, "n_frames": 1,
                "participant_ids": [300]}, path)
    build_shards(_manifest([(300, "test", 3)]), feat, {"video": path}, tmp_path / "s", modality="video",
                 split="test", cfg=CFG)
    seq = rows_to_arrays(read_shards(tmp_path / "s" / "video" / "test")[0])[0]
    np.testing.assert_allclose(seq[0], (x / 100.0 - 0.5) / 2.0, rtol=1e-6)


def test_balance_train_only(tmp_path, stats):
    feat = tmp_path / "features"
    # band 0: 3 + 3 chunks, band 2: 2 chunks, band 4: 1 chunk -> median band count 2
    for pid, n in {300: 30, 301: 30, 302: 20, 303: 10, 304: 10}.items():
        _write_face(feat, pid, np.arange(n) / 30.0)
    rows = [(300, "train", 1), (301, "train", 2), (302, "train", 11), (303, "train", 20), (304, "dev", 1)]
    cfg = {**CFG, "balance_train": True, "balance_seed": 3}
    qc = build_shards(_manifest(rows), feat, stats, tmp_path / "s", modality="video", split="train", cfg=cfg)
    table, meta = read_shards(tmp_path / "s" / "video" / "train")
    bands = table.column("band").to_pylist()
    assert {b: bands.count(b) for b in set(bands)} == {0: 2, 2: 2, 4: 1}
    assert meta["balance"]["before"] == {"0": 6, "2": 2, "4": 1} and meta["balance"]["target"] == 2
    assert meta["balance"]["after"] == {"0": 2, "2": 2, "4": 1} and meta["balance"]["seed"] == 3
    by_pid = {q["participant_id"]: q for q in qc["participants"]}
    assert by_pid[300]["dropped_balance"] + by_pid[301]["dropped_balance"] == 4
    assert qc["chunks"] == 5 == qc_sum(qc)
    again = build_shards(_manifest(rows), feat, stats, tmp_path / "s2", modality="video", split="train",
                         cfg=cfg)
    assert again["participants"] == qc["participants"]  # seeded
    dev = build_shards(_manifest(rows), feat, stats, tmp_path / "s", modality="video", split="dev", cfg=cfg)
    assert dev["balance"] is None and dev["chunks"] == 1
    assert read_shards(tmp_path / "s" / "video" / "dev")[1]["balance"] is None
    with pytest.raises(ValueError, match="training chunks only"):
        balance_chunks([(304, 0, 0)], split="dev", seed=0)
    with pytest.raises(ValueError, match="training chunks only"):
        balance_chunks([(304, 0, 0)], split="test", seed=0)


def qc_sum(qc: dict) -> int:
    return sum(q["n_chunks"] for q in qc["participants"])


def test_qc_rows_short_invalid_missing(tmp_path, stats):
    feat = tmp_path / "features"
    _write_face(feat, 300, np.arange(20) / 30.0)
    _write_face(feat, 301, np.arange(3) / 30.0)  # shorter than one chunk
    _write_face(feat, 302, np.arange(20) / 30.0, valid=np.zeros(20, bool))  # no valid frame
    # 303: no feature file; 304: flagged in the manifest (not an input of this stage)
    manifest = _manifest([(300, "train", 1), (301, "train", 1), (302, "train", 1), (303, "train", 1),
                          (304, "train", 1)], status={304: "flagged: audio too short"})
    qc = build_shards(manifest, feat, stats, tmp_path / "s", modality="video", split="train", cfg=CFG)
    by_pid = {q["participant_id"]: q for q in qc["participants"]}
    assert sorted(by_pid) == [300, 301, 302, 303]
    assert qc["participants_in"] == 4 == qc["with_chunks"] + qc["flagged"]
    assert (qc["with_chunks"], qc["flagged"], qc["chunks"]) == (1, 3, 2)
    assert by_pid[300]["n_chunks"] == 2 and by_pid[300]["reason"] == ""
    assert by_pid[301]["reason"].startswith(REASON_SHORT) and by_pid[301]["dropped_partial"] == 1
    assert by_pid[302]["reason"] == REASON_NO_VALID and by_pid[302]["dropped_no_valid"] == 2
    assert by_pid[303]["reason"].startswith("missing feature file")
    assert duckdb.sql(f"select count(*) from '{tmp_path}/s/video/train/*.parquet'").fetchall()[0][0] == 2


def test_empty_split_still_writes_schema_file(tmp_path, stats):
    qc = build_shards(_manifest([(300, "train", 1)]), tmp_path, stats, tmp_path / "s", modality="video",
                      split="test", cfg=CFG)
    assert qc["participants_in"] == 0 and qc["files"] == ["part-00000.parquet"]
    table, meta = read_shards(tmp_path / "s" / "video" / "test")
    assert table.num_rows == 0 and meta["split"] == "test"
    assert rows_to_arrays(table)[0].shape == (0, 0, 49)


def test_audio_shards_nan_rows_masked(tmp_path, stats):
    feat = tmp_path / "features"
    times = np.arange(7) * 0.96
    x = np.tile(np.arange(D_AUDIO, dtype=np.float32), (7, 1))
    x[2] = np.nan
    _write_vggish(feat, 600, times, x)
    qc = build_shards(_manifest([(600, "test", 15)]), feat, stats, tmp_path / "s", modality="audio",
                      split="test", cfg=CFG)
    assert qc["chunks"] == 2  # 4 + 3 examples (3/4 >= min_coverage)
    table, meta = read_shards(tmp_path / "s" / "audio" / "test")
    seq, mask, labels = rows_to_arrays(table, stream="audio")
    assert seq.shape == (2, 4, D_AUDIO) and meta["preparation"] == {
        "vggish_weights_mode": "random", "vggish_weights_file": "random", "segmentation": "auto",
        "denoise": False, "normalize_audio": True, "min_coverage": 0.5,
        "segmentation_used": {"transcript": 1}, "sessions": 1}
    assert "weights" not in meta
    assert mask.tolist() == [[True, True, False, True], [True, True, True, False]]
    assert not seq[0, 2].any() and labels["interviewer"].tolist() == ["ai", "ai"]
    assert meta["streams"]["audio"]["feature_set"] == "vggish_fc2"


def test_fusion_shards(tmp_path, stats):
    feat = tmp_path / "features"
    vt = np.concatenate([np.arange(10) * 0.1, 1.0 + np.arange(10) * 0.2])  # chunks [0, 1) and [1, 3)
    _write_face(feat, 300, vt)
    _write_vggish(feat, 300, np.arange(16) * 0.25)
    cfg = {**CFG, "fusion_audio_frames": 12}
    qc = build_shards(_manifest([(300, "train", 7)]), feat, stats, tmp_path / "s", modality="fusion",
                      split="train", cfg=cfg)
    table, meta = read_shards(tmp_path / "s" / "fusion" / "train")
    vseq, vmask, labels = rows_to_arrays(table, stream="video")
    aseq, amask, _ = rows_to_arrays(table, stream="audio")
    assert vseq.shape == (2, 10, 49) and aseq.shape == (2, 12, D_AUDIO)
    assert aseq[0][amask[0], 0].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert aseq[1][amask[1], 0].tolist() == [1.0 + 0.25 * i for i in range(8)]
    assert labels["audio_n_steps"].tolist() == [4, 8]
    assert labels["end_time"].tolist() == [1.0, pytest.approx(3.0)]
    assert qc["participants"][0]["audio_frames_unpaired"] == 4
    audio = meta["streams"]["audio"]
    assert audio["steps"] == 12 and audio["fusion_audio_frames"] == 12 and audio["pairing"].startswith("time")
    assert meta["streams"]["video"]["columns"] == ["video_seq", "video_mask"]
    with pytest.raises(ValueError, match="stream="):
        rows_to_arrays(table)


def test_fusion_keeps_chunk_with_audio_only(tmp_path, stats):
    feat = tmp_path / "features"
    _write_face(feat, 300, np.arange(20) * 0.1, valid=np.zeros(20, bool))
    _write_vggish(feat, 300, np.array([0.5]))  # speech only during the first video chunk
    qc = build_shards(_manifest([(300, "train", 7)]), feat, stats, tmp_path / "s", modality="fusion",
                      split="train", cfg=CFG)
    part = qc["participants"][0]
    assert (part["n_chunks"], part["dropped_no_valid"]) == (1, 1)
    table = read_shards(tmp_path / "s" / "fusion" / "train")[0]
    assert table.column("valid_share").to_pylist() == [0.0]
    assert table.column("audio_valid_share").to_pylist() == [0.25]


def test_bad_feature_file_raises_input_error(tmp_path, stats):
    feat = tmp_path / "features"
    (feat / "face").mkdir(parents=True)
    pq.write_table(pa.table({"timestamp": [0.0, 1.0]}), feat / "face" / "300.parquet")
    with pytest.raises(InputError, match="missing columns"):
        build_shards(_manifest([(300, "train", 1)]), feat, stats, tmp_path / "s", modality="video",
                     split="train", cfg=CFG)
    _write_face(feat, 300, np.array([0.0, 2.0, 1.0]))
    with pytest.raises(InputError, match="non-decreasing"):
        build_shards(_manifest([(300, "train", 1)]), feat, stats, tmp_path / "s", modality="video",
                     split="train", cfg=CFG)


def test_prenormalized_file_used_as_is_only_with_same_stats(tmp_path, stats):
    feat = tmp_path / "features"
    x = _write_face(feat, 300, np.arange(10) / 30.0)
    path = feat / "face" / "300.parquet"
    table = pq.read_table(path)
    sha = hashlib.sha256(stats["video"].read_bytes()).hexdigest()
    pq.write_table(table.replace_schema_metadata({b"depsev": json.dumps(
        {"normalized": True, "normalization_sha256": sha}).encode()}), path)
    build_shards(_manifest([(300, "train", 1)]), feat, stats, tmp_path / "s", modality="video",
                 split="train", cfg=CFG)
    np.testing.assert_array_equal(rows_to_arrays(read_shards(tmp_path / "s/video/train")[0])[0][0], x)
    pq.write_table(table.replace_schema_metadata({b"depsev": json.dumps(
        {"normalized": True, "normalization_sha256": "0" * 64}).encode()}), path)
    with pytest.raises(InputError, match="other statistics"):
        build_shards(_manifest([(300, "train", 1)]), feat, stats, tmp_path / "s", modality="video",
                     split="train", cfg=CFG)


def test_chunk_config_from_workflow_config():
    config = {"dataset": {"kind": "demo"}, "demo": {"chunks": {"video_frames": 900, "audio_frames": 30}},
              "chunks": {"video_frames": 5000, "audio_frames": 300, "video_downsample": 2,
                         "audio_downsample": 1, "min_coverage": 0.5, "balance_train": False}}
    cfg = ChunkConfig.from_config(config)
    assert (cfg.video_frames, cfg.audio_frames, cfg.video_downsample) == (900, 30, 2)
    assert cfg.dataset_kind == "demo"
    real = ChunkConfig.from_config({**config, "dataset": {"kind": "edaic"}})
    assert (real.video_frames, real.audio_frames, real.fusion_audio_steps) == (5000, 300, 300)
    with pytest.raises(ValueError, match="unknown chunk settings"):
        ChunkConfig.coerce({"video_frame": 3})
    with pytest.raises(ValueError, match="min_coverage"):
        ChunkConfig(min_coverage=1.5)


def test_absent_feature_nan_zeroed_and_counted(tmp_path, stats):
    feat = tmp_path / "features"
    valid = np.ones(10, bool)
    valid[0] = False
    _write_face(feat, 300, np.arange(10) / 30.0, valid=valid)
    path = feat / "face" / "300.parquet"
    table = pq.read_table(path)
    j = table.column_names.index("AU28_c")
    pq.write_table(table.set_column(j, "AU28_c", pa.array(np.full(10, np.nan, np.float32))), path)
    qc = build_shards(_manifest([(300, "train", 1)]), feat, stats, tmp_path / "s", modality="video",
                      split="train", cfg=CFG)
    assert qc["participants"][0]["nan_values_zeroed"] == 9  # the 9 valid frames; frame 0 is masked
    seq, mask, _ = rows_to_arrays(read_shards(tmp_path / "s" / "video" / "train")[0])
    assert mask[0].tolist() == valid.tolist()
    assert not seq[0, :, FACE_FEATURES.index("AU28_c")].any() and seq[0, 1:, 0].all()
