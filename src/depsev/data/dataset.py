"""One split of the chunk shards as a torch dataset, the class-balanced sampler, data fingerprints.

:meth:`ChunkDataset.from_shards` reads ``<shard_root>/<modality>/<split>/part-*.parquet`` (see
:mod:`depsev.shards.schema`) into memory once and serves one chunk per item as a dict of tensors:

==================  ===================  =====================================================
key                 dtype / shape        meaning
==================  ===================  =====================================================
``xa``, ``ma``      f32 [La, Da], bool   audio stream and mask (audio and fusion shards)
``xv``, ``mv``      f32 [Lv, Dv], bool   video stream and mask (video and fusion shards)
``z``               int64 []             interviewer type: 0 = woz (human-controlled), 1 = ai
``y``               f32 []               PHQ-8 score 0..24
``band``            int64 []             severity band 0..4
``participant_id``  int64 []             participant
``index``           int64 []             row of the chunk in :attr:`ChunkDataset.labels`
==================  ===================  =====================================================

THE TEST SPLIT IS NEVER READ DURING TRAINING: a dataset opened with ``purpose="train"`` refuses
split ``test`` before touching any file (:class:`TestSplitRefused`), and every dataset checks that
the shards' metadata and rows really belong to the split asked for (so a test shard copied into a
train folder is refused too).  Only ``purpose="evaluate"`` (the final evaluation) reads ``test``.

Memory: a split is held in memory as float32 (the corpus' train split at the paper's chunk sizes is
about 2.5 GB of audio chunks); items are views, nothing is copied per batch.

Labels are required: a chunk without ``phq_score`` raises :class:`~depsev.errors.InputError`
(rows are never dropped silently).  ``interviewer`` keeps only one interviewer type's chunks (the
per-interviewer experts); ``shuffle_labels_seed`` gives the shuffled-label control (see
:func:`participant_label_permutation`; labels are permuted over the whole split, then the
interviewer selection applies).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from depsev.constants import INTERVIEWERS, N_BANDS, PHQ_MAX, PHQ_MIN, SPLITS, STREAM_KEYS, phq_band
from depsev.errors import InputError
from depsev.hashing import file_sha256
from depsev.shards.schema import (
    METADATA_KEY,
    SHARD_MODALITIES,
    STREAM_COLUMNS,
    read_shards,
    rows_to_arrays,
    shard_files,
)

#: what a dataset is opened for; ``train`` never reads the test split
PURPOSES = ("train", "evaluate")
#: tensor keys of one item / one collated batch
BATCH_KEYS = ("xa", "ma", "xv", "mv", "z", "y", "band", "participant_id", "index")
#: label columns copied from the shards into :attr:`ChunkDataset.labels`
LABEL_COLUMNS = ["participant_id", "split", "interviewer", "phq_score", "band", "chunk_index",
                 "start_time", "end_time", "valid_share", "n_steps"]


class TestSplitRefused(RuntimeError):
    """Raised when training code asks for the test split (it is read only for final evaluation)."""

    __test__ = False  # not a pytest test class


def interviewer_code(interviewer: str) -> int:
    """0 for ``woz``, 1 for ``ai`` (the ``z`` flag of the models)."""
    if interviewer not in INTERVIEWERS:
        raise ValueError(f"interviewer must be one of {INTERVIEWERS}, got {interviewer!r}")
    return INTERVIEWERS.index(interviewer)


def split_dir(shard_root: str | Path, modality: str, split: str) -> Path:
    """``<shard_root>/<modality>/<split>``."""
    return Path(shard_root) / modality / split


def _check_request(modality: str, split: str, purpose: str, interviewer: str | None) -> None:
    """Refuse bad arguments -- and the test split for training -- before any file is touched."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if purpose == "train" and split == "test":
        raise TestSplitRefused("the test split is never read during training (purpose='train'); "
                               "only the final evaluation opens it with purpose='evaluate'")
    if modality not in SHARD_MODALITIES:
        raise ValueError(f"modality must be one of {SHARD_MODALITIES}, got {modality!r}")
    if interviewer is not None and interviewer not in INTERVIEWERS:
        raise ValueError(f"interviewer must be None or one of {INTERVIEWERS}, got {interviewer!r}")


def _check_labels(labels: pd.DataFrame, split: str, where: Path) -> pd.DataFrame:
    """Labels of a split's chunks, checked: right split, known interviewer, PHQ and band present."""
    wrong = labels["split"] != split
    if wrong.any():
        raise InputError(where, f"{int(wrong.sum())} chunk(s) belong to split(s) "
                                f"{sorted(set(labels.loc[wrong, 'split']))}, not {split!r}")
    unknown = sorted(set(labels["interviewer"]) - set(INTERVIEWERS))
    if unknown:
        raise InputError(where, f"unknown interviewer type(s) {unknown} (expected {list(INTERVIEWERS)})")
    missing = labels["phq_score"].isna() | labels["band"].isna()
    if missing.any():
        pids = sorted(set(labels.loc[missing, "participant_id"].astype(int)))
        raise InputError(where, f"{int(missing.sum())} chunk(s) have no PHQ-8 label (participants "
                                f"{pids[:5]}): a labelled split is needed for training and evaluation")
    scores = labels["phq_score"].astype(np.int64)
    if ((scores < PHQ_MIN) | (scores > PHQ_MAX)).any():
        raise InputError(where, f"PHQ-8 scores outside {PHQ_MIN}..{PHQ_MAX}")
    bands = np.array([phq_band(s) for s in scores], dtype=np.int64)
    if not np.array_equal(bands, labels["band"].astype(np.int64).to_numpy()):
        raise InputError(where, "column 'band' does not match the severity band of 'phq_score'")
    out = labels[[c for c in LABEL_COLUMNS if c in labels.columns]].copy()
    out["phq_score"] = scores.to_numpy()
    out["band"] = bands
    out["participant_id"] = out["participant_id"].astype(np.int64)
    return out.reset_index(drop=True)


def participant_label_permutation(participant_ids: Iterable[int], seed: int) -> dict[int, int]:
    """Seeded participant-level label permutation: ``{participant: participant whose label it gets}``.

    The participants (sorted) are shuffled with ``numpy.random.default_rng(seed)`` and each one
    takes the label of the next one in that shuffled order (cyclically), so with two or more
    participants nobody keeps their own label, and every label is used exactly once (the label
    distribution of the split is unchanged).
    """
    pids = sorted({int(p) for p in participant_ids})
    if len(pids) < 2:
        raise ValueError(f"shuffling labels needs at least 2 participants, got {len(pids)}")
    order = np.random.default_rng(seed).permutation(len(pids))
    shuffled = [pids[i] for i in order]
    return {shuffled[i]: shuffled[(i + 1) % len(shuffled)] for i in range(len(shuffled))}


def _shuffle_labels(labels: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``labels`` with ``phq_score`` and ``band`` permuted at participant level (seeded) over the WHOLE
    split, before any interviewer selection: every stage of the control (the two experts, each trained
    on one interviewer type's sessions, and the mixture) sees the same permutation, and the control
    cannot learn the interviewer types' mean scores (a label-free shortcut through the flag ``z``).
    ``label_from`` records whose label each participant got."""
    per_pid = labels.groupby("participant_id")[["phq_score", "band"]].first()
    donor = participant_label_permutation(per_pid.index, seed)
    out = labels.copy()
    src = out["participant_id"].map(donor)
    out["phq_score"] = src.map(per_pid["phq_score"]).astype(np.int64).to_numpy()
    out["band"] = src.map(per_pid["band"]).astype(np.int64).to_numpy()
    out["label_from"] = src.astype(np.int64).to_numpy()
    return out


class ChunkDataset(Dataset):
    """Chunks of one split of one shard modality, as tensors (see the module docstring)."""

    def __init__(self, streams: Mapping[str, tuple[torch.Tensor, torch.Tensor]], labels: pd.DataFrame,
                 meta: Mapping[str, Any], *, modality: str, split: str, files: list[Path],
                 interviewer: str | None = None, shuffle_labels_seed: int | None = None):
        n = len(labels)
        for name, (x, m) in streams.items():
            if name not in STREAM_KEYS:
                raise ValueError(f"unknown stream {name!r}")
            if x.shape[0] != n or m.shape != x.shape[:2]:
                raise ValueError(f"stream {name}: shapes {list(x.shape)} / {list(m.shape)} do not match "
                                 f"{n} label rows")
        self.streams = dict(streams)
        self.labels = labels.reset_index(drop=True)
        self.meta = dict(meta)
        self.modality, self.split, self.files = modality, split, list(files)
        self.interviewer, self.shuffle_labels_seed = interviewer, shuffle_labels_seed
        self.z = torch.as_tensor(self.labels["interviewer"].map(interviewer_code).to_numpy(np.int64).copy())
        self.y = torch.as_tensor(self.labels["phq_score"].to_numpy(np.float32).copy())
        self.band = torch.as_tensor(self.labels["band"].to_numpy(np.int64).copy())
        self.participant_id = torch.as_tensor(self.labels["participant_id"].to_numpy(np.int64).copy())

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_shards(cls, shard_root: str | Path, modality: str, split: str, *, purpose: str,
                    interviewer: str | None = None, shuffle_labels_seed: int | None = None) -> ChunkDataset:
        """Load ``<shard_root>/<modality>/<split>/part-*.parquet``.

        ``purpose``: ``train`` (refuses split ``test`` with :class:`TestSplitRefused` before reading
        anything) or ``evaluate``.  ``interviewer`` (``woz`` | ``ai``) keeps only that interviewer
        type's chunks; ``shuffle_labels_seed`` permutes the labels between the (kept)
        participants (:func:`participant_label_permutation`).  Raises
        :class:`~depsev.errors.InputError` for missing or foreign shards, unlabelled chunks, or
        an empty selection.
        """
        _check_request(modality, split, purpose, interviewer)
        where = split_dir(shard_root, modality, split)
        if not where.is_dir():
            raise InputError(where, f"no {modality} shards of split {split!r} here (build the shards first)")
        files = shard_files(where)
        table, meta = read_shards(files)
        if meta.get("modality") != modality or meta.get("split") != split:
            raise InputError(where, f"shards say modality {meta.get('modality')!r}, split "
                                    f"{meta.get('split')!r}; expected {modality!r}, {split!r}")
        if table.num_rows == 0:
            raise InputError(where, "the shards hold no chunk")
        streams: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        labels = None
        for stream in STREAM_COLUMNS[modality]:
            x, m, labels = rows_to_arrays(table, stream=stream if modality == "fusion" else None)
            streams[stream] = (x, m)
        assert labels is not None
        labels = _check_labels(labels, split, where)
        if shuffle_labels_seed is not None:  # over the whole split, THEN the interviewer selection
            labels = _shuffle_labels(labels, int(shuffle_labels_seed))
        keep = np.ones(len(labels), bool)
        if interviewer is not None:
            keep = (labels["interviewer"] == interviewer).to_numpy()
            if not keep.any():
                raise InputError(where, f"no chunk of interviewer type {interviewer!r} in this split")
        labels = labels[keep].reset_index(drop=True)
        tensors = {s: (torch.from_numpy(np.ascontiguousarray(x[keep])), torch.from_numpy(m[keep]))
                   for s, (x, m) in streams.items()}
        return cls(tensors, labels, meta, modality=modality, split=split, files=files,
                   interviewer=interviewer, shuffle_labels_seed=shuffle_labels_seed)

    # ------------------------------------------------------------------ torch Dataset
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item: dict[str, torch.Tensor] = {}
        for stream, (x, m) in self.streams.items():
            kx, km = STREAM_KEYS[stream]
            item[kx], item[km] = x[i], m[i]
        item.update(z=self.z[i], y=self.y[i], band=self.band[i], participant_id=self.participant_id[i],
                    index=torch.tensor(i, dtype=torch.int64))
        return item

    # ------------------------------------------------------------------ facts
    @property
    def dims(self) -> dict[str, int]:
        """Feature dimension per stream (``{"video": 49, "audio": 4096}``)."""
        return {s: int(x.shape[2]) for s, (x, _) in self.streams.items()}

    @property
    def steps(self) -> dict[str, int]:
        """Steps per chunk per stream."""
        return {s: int(x.shape[1]) for s, (x, _) in self.streams.items()}

    def band_counts(self) -> np.ndarray:
        """Chunks per severity band 0..4."""
        return np.bincount(self.band.numpy(), minlength=N_BANDS)

    def participant_scores(self) -> pd.Series:
        """One PHQ-8 score per participant (index ``participant_id``), as used for training."""
        return self.labels.groupby("participant_id")["phq_score"].first()

    def provenance(self) -> dict[str, Any]:
        """Feature provenance from the shard metadata.

        For a checkpoint's ``config.json`` (where training records the ``preparation`` of its train AND
        dev shards: :func:`depsev.shards.preparation.merge_splits`) and for evaluation, which compares
        it with the model's (:func:`depsev.checkpoint.check_features_match`).
        """
        keys = ("feature_set", "dim", "steps", "chunk_frames", "downsample", "normalization")
        streams = {name: {k: info.get(k) for k in keys}
                   for name, info in self.meta.get("streams", {}).items()}
        return {"modality": self.modality, "streams": streams,
                "dataset_kind": self.meta.get("dataset_kind"), "synthetic": bool(self.meta.get("synthetic")),
                "schema_version": self.meta.get("schema_version"), "balance": self.meta.get("balance"),
                "chunk_config": self.meta.get("chunk_config"), "preparation": self.meta.get("preparation")}


def balanced_sampler(dataset: ChunkDataset, seed: int,
                     num_samples: int | None = None) -> WeightedRandomSampler:
    """Class-balanced sampling of training chunks: each chunk drawn with weight ``1 / n(its band)``.

    Every band present is drawn equally often in expectation; ``num_samples`` (default: the
    dataset size) draws per epoch, with replacement, from a generator seeded with ``seed``.
    """
    counts = dataset.band_counts()
    bands = dataset.band.numpy()
    weights = 1.0 / counts[bands].astype(np.float64)
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double),
                                 num_samples=len(dataset) if num_samples is None else int(num_samples),
                                 replacement=True, generator=generator)


def data_fingerprint(shard_dirs: Iterable[str | Path]) -> dict[str, Any]:
    """sha256 of the shard files in ``shard_dirs`` and of their ``depsev`` metadata.

    Returns ``{"sha256": <over everything>, "dirs": [{"dir", "files": [{"name", "sha256"}],
    "metadata_sha256"}]}``; the overall hash covers each directory's name (last two parts,
    ``<modality>/<split>``), file names, file hashes and metadata hash, in order.
    """
    import pyarrow.parquet as pq

    overall = hashlib.sha256()
    out = []
    for d in shard_dirs:
        d = Path(d)
        files = shard_files(d)
        label = "/".join(d.parts[-2:])
        entries = [{"name": f.name, "sha256": file_sha256(f)} for f in files]
        raw = (pq.read_schema(files[0]).metadata or {}).get(METADATA_KEY, b"")
        meta_sha = hashlib.sha256(json.dumps(json.loads(raw or b"null"), sort_keys=True).encode()).hexdigest()
        overall.update(json.dumps({"dir": label, "files": entries, "metadata": meta_sha},
                                  sort_keys=True).encode())
        out.append({"dir": label, "files": entries, "metadata_sha256": meta_sha})
    if not out:
        raise ValueError("data_fingerprint needs at least one shard directory")
    return {"sha256": overall.hexdigest(), "dirs": out}
