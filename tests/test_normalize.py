"""Train-only normalization (paper eq. 1-2): statistics, streaming, masks, and leakage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depsev.constants import FACE_FEATURES
from depsev.errors import InputError
from depsev.shards import normalize
from depsev.shards.normalize import (
    apply_normalizer,
    fit_from_files,
    fit_normalizer,
    load_stats,
    participant_paths,
    save_stats,
    train_feature_paths,
)

FC2 = 4096
LLD = ["Loudness_sma3", "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz"]


# ---------------------------------------------------------------- helpers: per-session feature files
def write_face(path: Path, x: np.ndarray, valid: np.ndarray) -> None:
    n = len(x)
    cols = {"timestamp": pa.array(np.arange(n) / 30.0), "frame": pa.array(np.arange(1, n + 1)),
            "success": pa.array(valid.astype(np.int8)),
            "confidence": pa.array(np.full(n, 0.9, np.float32)), "valid": pa.array(valid)}
    cols.update({name: pa.array(x[:, j].astype(np.float32)) for j, name in enumerate(FACE_FEATURES)})
    pq.write_table(pa.table(cols), path, compression="zstd")


def write_vggish(path: Path, x: np.ndarray) -> None:
    fc2 = pa.FixedSizeListArray.from_arrays(pa.array(x.astype(np.float32).ravel()), FC2)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(len(x) * 128, np.float32)), 128)
    t = np.arange(len(x)) * 0.96
    pq.write_table(pa.table({"time": t, "clean_time": t, "fc2": fc2, "embedding": emb}), path)


def write_egemaps(path: Path, x: np.ndarray) -> None:
    t = np.arange(len(x)) * 0.01
    cols = {"time": t, "clean_time": t}
    cols.update({name: x[:, j].astype(np.float32) for j, name in enumerate(LLD)})
    pq.write_table(pa.table(cols), path)


SPLIT_OF = {301: "train", 302: "train", 303: "train", 401: "dev", 402: "dev", 601: "test", 602: "test"}


def manifest(split_of: dict[int, str] = SPLIT_OF) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": np.array(list(split_of), dtype=np.int64),
                         "split": list(split_of.values()), "status": "ok"})


def session_data(modality: str, pid: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(pid)
    n = {"video": 40, "audio": 6, "egemaps": 50}[modality]
    d = {"video": len(FACE_FEATURES), "audio": FC2, "egemaps": len(LLD)}[modality]
    x = rng.normal(pid % 7, 1 + pid % 3, size=(n, d)) * scale
    valid = rng.random(n) > 0.2
    return x, valid


def write_session(modality: str, folder: Path, pid: int, scale: float = 1.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.parquet"
    x, valid = session_data(modality, pid, scale)
    if modality == "video":
        write_face(path, x, valid)
    elif modality == "audio":
        write_vggish(path, x)
    else:
        write_egemaps(path, x)
    return path


def reference_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """One-shot eq. 1-2 statistics on all rows at once (the definition)."""
    lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    scaled = (x - lo) / (hi - lo)
    return {"min": lo, "max": hi, "mean": np.nanmean(scaled, axis=0), "std": np.nanstd(scaled, axis=0)}


# ---------------------------------------------------------------- fit_normalizer
def test_hand_computed_example_and_constant_feature():
    x = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    stats = fit_normalizer([x], ["a", "b"], participant_ids=[302, 301])
    assert stats["fitted_on"] == "train"
    assert stats["participant_ids"] == [301, 302]
    assert stats["min"] == [0.0, 10.0] and stats["max"] == [4.0, 10.0]
    # a: scaled 0, .5, 1 -> mean .5, population std sqrt(1/6)
    assert stats["mean"][0] == pytest.approx(0.5)
    assert stats["std"][0] == pytest.approx(math.sqrt(1 / 6))
    # b: constant on train -> scaled 0, mean 0, std 1, listed
    assert stats["mean"][1] == 0.0 and stats["std"][1] == 1.0
    assert stats["constant_features"] == ["b"] and stats["empty_features"] == []
    assert stats["n_frames"] == 3 and stats["n_values"] == [3, 3]

    out = apply_normalizer(np.array([[2.0, 10.0], [8.0, 11.0], [np.nan, np.nan]]), stats)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(out[1], [1.5 * math.sqrt(6), 0.0], rtol=1e-6)  # outside train range: no clip
    assert np.isnan(out[2]).all()  # NaN stays NaN, also for the constant feature
    json.dumps(stats, allow_nan=False)  # JSON-serialisable


def test_masked_frames_are_excluded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    mask = rng.random(100) > 0.3
    x_masked = x.copy()
    x_masked[~mask] = 1e6  # what a masked frame holds must not matter
    with_mask = fit_normalizer([(x_masked, mask)], ["a", "b", "c"], participant_ids=[1])
    only_valid = fit_normalizer([x[mask]], ["a", "b", "c"], participant_ids=[1])
    assert with_mask == only_valid
    assert with_mask["n_frames"] == int(mask.sum())


def test_streaming_equals_one_shot(monkeypatch):
    rng = np.random.default_rng(1)
    blocks = [rng.normal(loc=100 + i, scale=1 + i, size=(n, 5)) for i, n in enumerate([7, 1, 50, 13, 29])]
    blocks[2][3, 1] = np.nan  # an absent value is skipped for that feature only
    whole = np.concatenate(blocks)
    ref = reference_stats(whole)
    # force sub-block chunking too (3 rows at a time inside each block)
    monkeypatch.setattr(normalize, "_BLOCK_VALUES", 15)
    streamed = fit_normalizer(lambda: iter(blocks), list("abcde"), participant_ids=[1, 2])
    one_shot = fit_normalizer([whole], list("abcde"), participant_ids=[1, 2])
    for key in ("min", "max", "mean", "std"):
        np.testing.assert_allclose(streamed[key], ref[key], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(streamed[key], one_shot[key], rtol=1e-10, atol=1e-12)
    assert streamed["n_values"] == [100, 99, 100, 100, 100]
    # applied to the training data, every feature has mean 0 and std 1
    z = apply_normalizer(whole, streamed)
    np.testing.assert_allclose(np.nanmean(z, axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(np.nanstd(z, axis=0), 1, atol=1e-5)


def test_empty_feature_and_bad_input():
    x = np.array([[1.0, np.nan], [3.0, np.nan]])
    stats = fit_normalizer([x], ["a", "b"], participant_ids=[1])
    assert stats["empty_features"] == ["b"] and stats["constant_features"] == []
    assert stats["min"][1] == 0.0 and stats["std"][1] == 1.0
    json.dumps(stats, allow_nan=False)
    with pytest.raises(InputError, match="infinite"):
        fit_normalizer([np.array([[1.0, np.inf]])], ["a", "b"], participant_ids=[1])
    with pytest.raises(InputError, match="3 features"):
        fit_normalizer([np.zeros((2, 2))], ["a", "b", "c"], participant_ids=[1])
    with pytest.raises(InputError, match="no training frames"):
        fit_normalizer([(np.zeros((2, 2)), np.array([False, False]))], ["a", "b"], participant_ids=[1])
    with pytest.raises(ValueError, match="participant_ids"):
        fit_normalizer([np.zeros((2, 2))], ["a", "b"], participant_ids=[])
    with pytest.raises(ValueError, match="features"):
        apply_normalizer(np.zeros((2, 3)), stats)


def test_save_load_roundtrip_and_checks(tmp_path):
    stats = fit_normalizer([np.arange(12.0).reshape(6, 2)], ["a", "b"], participant_ids=[7])
    path = tmp_path / "normalize" / "video.json"
    digest = save_stats(stats, path)
    assert load_stats(path, sha256=digest) == stats
    assert save_stats(stats, tmp_path / "again.json") == digest  # deterministic bytes
    with pytest.raises(InputError, match="sha256"):
        load_stats(path, sha256="0" * 64)
    tampered = dict(stats, fitted_on="all")
    (tmp_path / "bad.json").write_text(json.dumps(tampered))
    with pytest.raises(InputError, match="not 'train'"):
        load_stats(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_stats(tmp_path / "broken.json")


# ---------------------------------------------------------------- fit_from_files
def test_fit_from_files_refuses_dev_and_test(tmp_path):
    folder = tmp_path / "face"
    paths = {pid: write_session("video", folder, pid) for pid in SPLIT_OF}
    for pid in (401, 601):
        with pytest.raises(InputError, match=f"participant {pid} is in split '(dev|test)', not train"):
            fit_from_files({301: paths[301], pid: paths[pid]}, manifest(), "video")
    with pytest.raises(InputError, match="not in the manifest"):
        fit_from_files({999: folder / "999.parquet"}, manifest(), "video")
    with pytest.raises(InputError, match="does not match participant"):
        fit_from_files({301: paths[302]}, manifest(), "video")


def test_fit_from_files_video_uses_valid_frames_only(tmp_path):
    folder = tmp_path / "face"
    paths = {pid: write_session("video", folder, pid) for pid in (301, 302)}
    stats = fit_from_files(paths, manifest(), "video")
    blocks = [session_data("video", pid) for pid in (301, 302)]
    x = np.concatenate([b[0][b[1]] for b in blocks]).astype(np.float32).astype(np.float64)
    ref = reference_stats(x)
    assert stats["feature_names"] == FACE_FEATURES and stats["modality"] == "video"
    assert stats["n_frames"] == len(x) < sum(len(b[0]) for b in blocks)
    for key in ("min", "max", "mean", "std"):
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-9)


def test_fit_from_files_checks_file_contents(tmp_path):
    folder = tmp_path / "egemaps"
    write_session("egemaps", folder, 301)
    t = np.arange(5) * 0.01
    pq.write_table(pa.table({"time": t, "clean_time": t, "Loudness_sma3": np.ones(5, np.float32)}),
                   folder / "302.parquet")
    with pytest.raises(InputError, match="302.parquet: LLD columns differ"):
        fit_from_files(participant_paths(folder.glob("*.parquet")), manifest(), "egemaps")
    (tmp_path / "face").mkdir()
    (tmp_path / "face" / "301.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read Parquet"):
        fit_from_files({301: tmp_path / "face" / "301.parquet"}, manifest(), "video")


@pytest.mark.parametrize("modality", ["video", "audio", "egemaps"])
def test_leakage_dev_and_test_files_cannot_change_the_statistics(tmp_path, modality):
    folder = tmp_path / modality
    for pid in SPLIT_OF:
        write_session(modality, folder, pid)
    m = manifest()

    def fit_and_save(name: str) -> bytes:
        stats = fit_from_files(train_feature_paths(m, folder), m, modality)
        save_stats(stats, tmp_path / name)
        return (tmp_path / name).read_bytes()

    before = fit_and_save("before.json")
    assert json.loads(before)["participant_ids"] == [301, 302, 303]
    for pid, split in SPLIT_OF.items():
        if split != "train":  # dev and test features change wildly
            write_session(modality, folder, pid, scale=100.0)
    assert fit_and_save("after.json") == before
    # ... while a change of a TRAINING file does change them (the comparison can fail)
    write_session(modality, folder, 302, scale=100.0)
    assert fit_and_save("train_changed.json") != before


def test_train_feature_paths_never_drops_a_missing_train_file(tmp_path):
    folder = tmp_path / "face"
    write_session("video", folder, 301)
    with pytest.raises(InputError, match="2 training feature files missing"):
        train_feature_paths(manifest(), folder)
    flagged = manifest()
    flagged.loc[flagged["participant_id"].isin([302, 303]), "status"] = "flagged: no audio file"
    assert train_feature_paths(flagged, folder) == {301: folder / "301.parquet"}
