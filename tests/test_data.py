"""Torch datasets over the chunk shards (depsev.data.dataset)."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from depsev.constants import N_BANDS, phq_band
from depsev.data import ChunkDataset, TestSplitRefused, balanced_sampler, data_fingerprint
from depsev.data.dataset import participant_label_permutation
from depsev.errors import InputError
from depsev.shards.schema import SCHEMA_VERSION, STREAM_COLUMNS, encode_metadata, shard_schema

DIMS = {"video": 49, "audio": 8}
STEPS = {"video": 12, "audio": 6}
#: participant -> PHQ-8 score per split (woz 3xx, ai 6xx); every band present in train
COHORT = {
    "train": {300: 0, 301: 2, 302: 4, 303: 6, 304: 8, 305: 11, 306: 13, 307: 16, 308: 18, 309: 21,
              600: 1, 601: 7, 602: 12, 603: 17, 604: 23},
    "dev": {310: 3, 311: 9, 312: 14, 610: 5, 611: 19, 612: 22},
    "test": {320: 2, 321: 10, 620: 15, 621: 20},
}


def _chunk_arrays(rng: np.random.Generator, score: int, stream: str) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus a planted effect of the score in the first 4 features; a few padded steps."""
    steps, d = STEPS[stream], DIMS[stream]
    x = rng.normal(0, 0.5, (steps, d)).astype(np.float32)
    x[:, :4] += np.float32((score - 12) / 6)
    mask = np.ones(steps, bool)
    mask[steps - int(rng.integers(0, 3)):] = False
    x[~mask] = 0
    return x, mask


#: the feature preparation of the written shards (as the shard stage records it)
PREPARATION = {"vggish_weights_mode": "random", "vggish_weights_file": "random", "confidence_threshold": 0.75,
               "min_coverage": 0.5, "segmentation_used": {}, "sessions": 0}


def write_shards(root: Path, modality: str, split: str, cohort: dict[int, int] | None = None,
                 chunks_per_participant: int = 3, seed: int = 0, shard_rows: int = 16,
                 unlabelled: tuple[int, ...] = (), wrong_split: str | None = None,
                 preparation: dict | None = None) -> Path:
    """Write ``root/<modality>/<split>/part-*.parquet`` directly with the shard schema
    (``preparation``: the shard metadata's feature preparation, default :data:`PREPARATION`)."""
    cohort = COHORT[split] if cohort is None else cohort
    rng = np.random.default_rng([seed, zlib.crc32(f'{modality}/{split}'.encode())])
    streams = list(STREAM_COLUMNS[modality])
    dims = {s: DIMS[s] for s in streams}
    meta = {"schema_version": SCHEMA_VERSION, "modality": modality, "split": split,
            "streams": {s: {"feature_set": f"test-{s}", "dim": DIMS[s], "steps": STEPS[s], "chunk_frames": 10,
                            "downsample": 1, "normalization": {"file": f"{s}.json", "sha256": "ab" * 32}}
                        for s in streams},
            "preparation": {**PREPARATION, "sessions": len(cohort)} if preparation is None else preparation,
            "dataset_kind": "demo", "synthetic": True, "balance": None}
    schema = shard_schema(modality, dims).with_metadata(encode_metadata(meta))
    rows = []
    for pid, score in cohort.items():
        for c in range(chunks_per_participant):
            row = {"participant_id": pid, "split": wrong_split or split,
                   "interviewer": "woz" if pid < 600 else "ai",
                   "phq_score": None if pid in unlabelled else score,
                   "band": None if pid in unlabelled else phq_band(score),
                   "chunk_index": c, "start_time": 10.0 * c, "end_time": 10.0 * (c + 1)}
            arrays = {s: _chunk_arrays(rng, score, s) for s in streams}
            lead = arrays["video" if "video" in arrays else "audio"]
            row.update(valid_share=float(lead[1].mean()), n_steps=int(lead[1].sum()))
            if modality == "fusion":
                row.update(audio_valid_share=float(arrays["audio"][1].mean()),
                           audio_n_steps=int(arrays["audio"][1].sum()))
            for s, (seq_col, mask_col) in STREAM_COLUMNS[modality].items():
                row[seq_col], row[mask_col] = arrays[s][0].tolist(), arrays[s][1].tolist()
            rows.append(row)
    out = root / modality / split
    out.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(rows), shard_rows):
        table = pa.Table.from_pylist(rows[i:i + shard_rows], schema=schema)
        pq.write_table(table, out / f"part-{i // shard_rows:05d}.parquet", compression="zstd")
    return out


def write_all(root: Path, modalities=("video", "audio", "fusion")) -> Path:
    for modality in modalities:
        for split in ("train", "dev", "test"):
            write_shards(root, modality, split)
    return root


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    return write_all(tmp_path_factory.mktemp("shards"))


# ---------------------------------------------------------------- shapes
def test_video_dataset_items_and_batches(shard_root):
    ds = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train")
    n = 3 * len(COHORT["train"])
    assert len(ds) == n and ds.dims == {"video": 49} and ds.steps == {"video": 12}
    item = ds[4]
    assert set(item) == {"xv", "mv", "z", "y", "band", "participant_id", "index"}
    assert item["xv"].shape == (12, 49) and item["xv"].dtype == torch.float32
    assert item["mv"].dtype == torch.bool and item["mv"].shape == (12,)
    batch = next(iter(DataLoader(ds, batch_size=7)))
    assert batch["xv"].shape == (7, 12, 49) and batch["z"].dtype == torch.int64
    pid = int(ds.labels["participant_id"][4])
    assert int(item["participant_id"]) == pid
    assert float(item["y"]) == COHORT["train"][pid] and int(item["band"]) == phq_band(COHORT["train"][pid])
    assert int(item["z"]) == (1 if pid >= 600 else 0)
    # z codes: 0 woz, 1 ai, for every chunk
    assert ds.z.tolist() == [int(p >= 600) for p in ds.labels["participant_id"]]


def test_fusion_dataset_holds_both_streams(shard_root):
    ds = ChunkDataset.from_shards(shard_root, "fusion", "dev", purpose="train")
    item = ds[0]
    assert item["xa"].shape == (6, 8) and item["xv"].shape == (12, 49)
    assert item["ma"].shape == (6,) and item["mv"].shape == (12,)
    assert ds.dims == {"video": 49, "audio": 8}
    audio = ChunkDataset.from_shards(shard_root, "audio", "dev", purpose="train")
    assert set(audio[0]) == {"xa", "ma", "z", "y", "band", "participant_id", "index"}
    prov = ds.provenance()
    assert prov["synthetic"] is True and prov["streams"]["audio"]["normalization"]["sha256"] == "ab" * 32


def test_masked_steps_kept_as_read(shard_root):
    ds = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train")
    table = pq.read_table(sorted((shard_root / "video" / "train").glob("part-*.parquet"))[0])
    first = np.array(table.column("seq")[0].as_py(), np.float32)
    np.testing.assert_array_equal(ds[0]["xv"].numpy(), first)
    assert ds[0]["mv"].tolist() == table.column("mask")[0].as_py()


# ---------------------------------------------------------------- the test split
def test_train_purpose_refuses_test_before_reading(tmp_path):
    # the folder does not even exist: the refusal comes first, not a "not found" error
    with pytest.raises(TestSplitRefused, match="never read during training"):
        ChunkDataset.from_shards(tmp_path / "nowhere", "video", "test", purpose="train")


def test_evaluate_purpose_reads_test(shard_root):
    ds = ChunkDataset.from_shards(shard_root, "video", "test", purpose="evaluate")
    assert set(ds.labels["participant_id"]) == set(COHORT["test"])


def test_test_chunks_in_a_train_folder_refused(tmp_path):
    write_shards(tmp_path, "video", "train", cohort=COHORT["test"], wrong_split="test")
    with pytest.raises(InputError, match="not 'train'"):
        ChunkDataset.from_shards(tmp_path, "video", "train", purpose="train")


def test_bad_arguments_refused(shard_root):
    with pytest.raises(ValueError, match="purpose"):
        ChunkDataset.from_shards(shard_root, "video", "train", purpose="fit")
    with pytest.raises(ValueError, match="interviewer"):
        ChunkDataset.from_shards(shard_root, "video", "train", purpose="train", interviewer="human")
    with pytest.raises(InputError, match="no video shards of split 'train'"):
        ChunkDataset.from_shards(shard_root / "missing", "video", "train", purpose="train")


def test_unlabelled_chunks_refused(tmp_path):
    write_shards(tmp_path, "video", "train", unlabelled=(301,))
    with pytest.raises(InputError, match=r"no PHQ-8 label \(participants \[301\]\)"):
        ChunkDataset.from_shards(tmp_path, "video", "train", purpose="train")


# ---------------------------------------------------------------- interviewer filter
def test_interviewer_filter(shard_root):
    ai = ChunkDataset.from_shards(shard_root, "fusion", "train", purpose="train", interviewer="ai")
    assert set(ai.labels["participant_id"]) == {p for p in COHORT["train"] if p >= 600}
    assert len(ai) == 3 * 5 and bool((ai.z == 1).all())
    woz = ChunkDataset.from_shards(shard_root, "fusion", "train", purpose="train", interviewer="woz")
    assert len(woz) == 3 * 10 and bool((woz.z == 0).all())
    full = ChunkDataset.from_shards(shard_root, "fusion", "train", purpose="train")
    # the rows kept are the right ones: same features as in the unfiltered set
    sel = (full.labels["interviewer"] == "ai").to_numpy()
    torch.testing.assert_close(ai.streams["audio"][0], full.streams["audio"][0][torch.from_numpy(sel.copy())])


def test_interviewer_filter_without_rows(tmp_path):
    write_shards(tmp_path, "video", "train", cohort={300: 4, 301: 12})
    with pytest.raises(InputError, match="no chunk of interviewer type 'ai'"):
        ChunkDataset.from_shards(tmp_path, "video", "train", purpose="train", interviewer="ai")


# ---------------------------------------------------------------- shuffled labels
def test_shuffled_labels_are_a_participant_level_permutation(shard_root):
    true = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train")
    shuf = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train", shuffle_labels_seed=5)
    per = shuf.labels.groupby("participant_id")[["phq_score", "band"]].nunique()
    assert (per == 1).all().all()  # every chunk of a participant carries the same (new) label
    got = shuf.labels.groupby("participant_id")["phq_score"].first()
    orig = true.labels.groupby("participant_id")["phq_score"].first()
    assert sorted(got) == sorted(orig)  # a permutation of the split's labels
    assert (got != orig).all()  # nobody keeps their own label (scores here are all distinct)
    # the interviewer selection comes after the permutation: an expert's participants carry the
    # labels they carry in the whole split's permutation (every stage of the control sees one permutation)
    ai = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train", interviewer="ai",
                                  shuffle_labels_seed=5)
    got_ai = ai.labels.groupby("participant_id")["phq_score"].first()
    assert (got_ai == got[got_ai.index]).all()
    donors = shuf.labels.groupby("participant_id")["label_from"].first()
    assert (got == orig[donors.to_numpy()].to_numpy()).all()
    assert [phq_band(s) for s in shuf.labels["phq_score"]] == shuf.labels["band"].tolist()
    assert torch.equal(shuf.y, torch.tensor(shuf.labels["phq_score"].to_numpy(np.float32)))
    # features untouched
    assert torch.equal(shuf.streams["video"][0], true.streams["video"][0])
    # seeded: same seed -> same permutation, another seed -> another one
    again = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train", shuffle_labels_seed=5)
    other = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train", shuffle_labels_seed=6)
    assert again.labels["phq_score"].tolist() == shuf.labels["phq_score"].tolist()
    assert other.labels["phq_score"].tolist() != shuf.labels["phq_score"].tolist()


def test_the_control_chooses_its_epoch_on_permuted_dev_labels_too(shard_root):
    """load_training_data (what every training rule calls): without shuffling both splits carry the true
    labels; the shuffled-label control's dev labels are permuted as well (its checkpoint choice must not
    see the true dev labels), its train labels as ChunkDataset permutes them."""
    from depsev.train.run import load_training_data

    true_train, true_dev = load_training_data(shard_root, "lstm", "video", None, None)
    train, dev = load_training_data(shard_root, "lstm", "video", None, 3)
    assert true_dev.labels["phq_score"].tolist() == ChunkDataset.from_shards(
        shard_root, "video", "dev", purpose="evaluate").labels["phq_score"].tolist()
    got = dev.labels.groupby("participant_id")["phq_score"].first()
    orig = true_dev.labels.groupby("participant_id")["phq_score"].first()
    assert sorted(got) == sorted(orig) and (got != orig).any()
    assert train.labels["phq_score"].tolist() == ChunkDataset.from_shards(
        shard_root, "video", "train", purpose="train", shuffle_labels_seed=3).labels["phq_score"].tolist()


def test_permutation_helper():
    perm = participant_label_permutation([5, 3, 9, 7], seed=0)
    assert sorted(perm) == [3, 5, 7, 9] and sorted(perm.values()) == [3, 5, 7, 9]
    assert all(k != v for k, v in perm.items())
    with pytest.raises(ValueError, match="at least 2"):
        participant_label_permutation([3], seed=0)


# ---------------------------------------------------------------- balanced sampler
def test_balanced_sampler_draws_bands_uniformly(shard_root):
    ds = ChunkDataset.from_shards(shard_root, "video", "train", purpose="train")
    counts = ds.band_counts()
    assert counts.max() >= 2 * counts.min()  # the data are imbalanced
    draws = list(balanced_sampler(ds, seed=3, num_samples=10000))
    share = np.bincount(ds.band.numpy()[draws], minlength=N_BANDS) / len(draws)
    np.testing.assert_allclose(share, 1 / N_BANDS, atol=0.025)
    assert list(balanced_sampler(ds, seed=3)) == list(balanced_sampler(ds, seed=3))
    assert list(balanced_sampler(ds, seed=3)) != list(balanced_sampler(ds, seed=4))
    assert len(list(balanced_sampler(ds, seed=3))) == len(ds)


# ---------------------------------------------------------------- fingerprint
def test_data_fingerprint(tmp_path, shard_root):
    root = tmp_path / "copy"
    shutil.copytree(shard_root / "video", root / "video")
    dirs = [root / "video" / "train", root / "video" / "dev"]
    fp = data_fingerprint(dirs)
    assert len(fp["sha256"]) == 64 and [d["dir"] for d in fp["dirs"]] == ["video/train", "video/dev"]
    assert fp == data_fingerprint(dirs)
    write_shards(root, "video", "dev", seed=99)  # same participants, other values
    assert data_fingerprint(dirs)["sha256"] != fp["sha256"]
