"""Train-only feature normalization: the paper's eq. 1 (min-max) followed by eq. 2 (z-score).

For every feature ``j``::

    scaled = (x - min_j) / (max_j - min_j)          # eq. 1, min/max over TRAIN frames
    z      = (scaled - mean_j) / std_j              # eq. 2, mean/std of the scaled TRAIN values

All four statistics come from training participants only and are applied unchanged to train, dev
and test (dev/test values may fall outside 0..1 after eq. 1; they are not clipped).  ``std`` is the
population standard deviation (ddof 0).  Statistics are accumulated in one streaming pass
(per-block moments merged with Chan et al.'s formula); since eq. 1 is affine, the mean and std of
the scaled values follow exactly from the raw mean and std: ``mean_j = (mean_x - min_j) / range_j``,
``std_j = std_x / range_j``.

Special cases, all recorded in the statistics:

- masked frames (face frames with ``valid == False``) are excluded from fitting;
- NaN values (a feature absent from a session) are skipped per feature, ``n_values`` counts the rest;
- ``constant_features`` (range 0 on train): eq. 1 gives 0 for every finite value, std is set to 1;
- ``empty_features`` (no finite train value at all): min = max = mean = 0, std = 1, output NaN/0 as
  for constant features.

:func:`apply_normalizer` keeps NaN as NaN (a masked or absent value stays visibly missing); the
frame mask travels separately and the chunking stage decides what masked rows contain.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.constants import FACE_FEATURE_SETS, FACE_FEATURES, face_feature_set_name
from depsev.errors import InputError

FORMULA = ("z = ((x - min) / (max - min) - mean) / std; min, max over train frames; mean, std "
           "(population, ddof 0) of the min-max-scaled train values; range 0 -> scaled 0, std 0 -> 1")
MODALITIES = ("video", "audio", "egemaps")
#: time columns of the audio feature files (everything else in an eGeMAPS file is an LLD)
TIME_COLUMNS = ("time", "clean_time")
STAT_KEYS = ("fitted_on", "feature_names", "min", "max", "mean", "std", "n_frames", "participant_ids")
#: values (rows x features) handled at once in float64 (16 MiB)
_BLOCK_VALUES = 1 << 21

Block = np.ndarray | tuple[np.ndarray, np.ndarray]


@dataclass
class _Moments:
    """Running per-feature count, mean, sum of squared deviations, min and max (NaN skipped)."""

    n_features: int
    rows: int = 0
    n: np.ndarray = field(init=False)
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    lo: np.ndarray = field(init=False)
    hi: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        d = self.n_features
        self.n = np.zeros(d, dtype=np.int64)
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)
        self.lo = np.full(d, np.inf)
        self.hi = np.full(d, -np.inf)

    def update(self, x: np.ndarray) -> None:
        """Merge the rows of ``x`` (float64, rows x features, NaN = absent)."""
        present = ~np.isnan(x)
        n_b = present.sum(axis=0)
        mean_b = np.where(present, x, 0.0).sum(axis=0) / np.maximum(n_b, 1)
        m2_b = (np.where(present, x - mean_b, 0.0) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        frac = np.divide(n_b, n, out=np.zeros(self.n_features), where=n > 0)
        self.mean = self.mean + delta * frac
        self.m2 = self.m2 + m2_b + delta ** 2 * self.n * frac
        self.n = n
        self.lo = np.minimum(self.lo, np.where(present, x, np.inf).min(axis=0))
        self.hi = np.maximum(self.hi, np.where(present, x, -np.inf).max(axis=0))
        self.rows += x.shape[0]


def _block_array(block: Block, n_features: int, source: str | Path | None) -> np.ndarray:
    """The rows of one block that enter the statistics (mask applied); checks shape and values."""
    if isinstance(block, tuple):
        if len(block) != 2:
            raise ValueError("a frame block is an array or an (array, mask) pair")
        x, mask = np.asarray(block[0]), np.asarray(block[1])
        if mask.dtype != np.bool_ or mask.shape != (x.shape[0],):
            raise ValueError(f"mask must be boolean with one entry per row ({x.shape[0]}), "
                             f"got {mask.dtype} {mask.shape}")
        x = x[mask]
    else:
        x = np.asarray(block)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise InputError(source, f"expected frames x {n_features} features, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(source, f"features must be numeric, got dtype {x.dtype}")
    return x


def _accumulate(moments: _Moments, block: Block, source: str | Path | None) -> None:
    x = _block_array(block, moments.n_features, source)
    step = max(1, _BLOCK_VALUES // max(1, moments.n_features))
    for start in range(0, x.shape[0], step):
        part = x[start:start + step].astype(np.float64)
        if np.isinf(part).any():
            col = int(np.flatnonzero(np.isinf(part).any(axis=0))[0])
            raise InputError(source, f"infinite value in feature column {col}")
        moments.update(part)


def _finish(moments: _Moments, feature_names: list[str], participant_ids: Iterable[int]) -> dict:
    """Statistics dict (JSON-serialisable) from accumulated moments."""
    ids = sorted(int(p) for p in participant_ids)
    if not ids:
        raise ValueError("participant_ids is empty: name the training participants the statistics come from")
    if len(set(ids)) != len(ids):
        raise ValueError(f"participant_ids holds duplicates: {ids}")
    if moments.rows == 0:
        raise InputError(None, "no training frames to fit the normalization on (all masked or empty)")
    empty = moments.n == 0
    lo = np.where(empty, 0.0, moments.lo)
    hi = np.where(empty, 0.0, moments.hi)
    rng = hi - lo
    spread = rng > 0
    safe_rng = np.where(spread, rng, 1.0)
    std_raw = np.sqrt(np.maximum(moments.m2, 0.0) / np.maximum(moments.n, 1))
    mean = np.where(spread, (moments.mean - lo) / safe_rng, 0.0)
    std = np.where(spread, std_raw / safe_rng, 0.0)
    std = np.where(std > 0, std, 1.0)
    return {
        "fitted_on": "train",
        "formula": FORMULA,
        "feature_names": list(feature_names),
        "min": lo.tolist(), "max": hi.tolist(), "mean": mean.tolist(), "std": std.tolist(),
        "n_frames": int(moments.rows),
        "n_values": moments.n.tolist(),
        "participant_ids": ids,
        "constant_features": [f for f, c in zip(feature_names, ~empty & ~spread, strict=True) if c],
        "empty_features": [f for f, e in zip(feature_names, empty, strict=True) if e],
    }


def fit_normalizer(frames: Iterable[Block] | Callable[[], Iterable[Block]], feature_names: list[str], *,
                   participant_ids: Iterable[int]) -> dict:
    """Fit eq. 1-2 statistics on training frames, streamed block by block.

    ``frames`` yields blocks (or is a callable returning such an iterable): each block is a
    ``frames x features`` array of VALID training frames, or an ``(array, mask)`` pair whose boolean
    mask selects the valid rows.  NaN values are skipped per feature; infinite values raise
    :class:`~depsev.errors.InputError`.  Only one block is held in memory at a time.
    ``participant_ids`` are the training participants the frames come from (recorded).
    Returns the statistics dict described in the module docstring.
    """
    names = [str(f) for f in feature_names]
    if len(set(names)) != len(names):
        raise ValueError("feature_names holds duplicates")
    moments = _Moments(len(names))
    blocks = frames() if callable(frames) else frames
    for i, block in enumerate(blocks):
        _accumulate(moments, block, f"frame block {i}")
    return _finish(moments, names, participant_ids)


def _stat_vectors(stats: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = np.asarray(stats["min"], float), np.asarray(stats["max"], float)
    rng = hi - lo
    spread = (rng > 0).astype(float)
    mean, std = np.asarray(stats["mean"], float), np.asarray(stats["std"], float)
    return lo, np.where(rng > 0, rng, 1.0), spread, mean, std


def apply_normalizer(x: np.ndarray, stats: Mapping) -> np.ndarray:
    """Normalize ``x`` (``... x features``, columns in ``stats["feature_names"]`` order) -> float32.

    Train statistics are applied as they are (no refit).  NaN stays NaN; features constant or empty
    on train become 0 wherever ``x`` is finite.
    """
    x = np.asarray(x)
    d = len(stats["feature_names"])
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"x has shape {x.shape}; the statistics have {d} features")
    lo, safe_rng, spread, mean, std = _stat_vectors(stats)
    flat = x.reshape(-1, d)
    out = np.empty(flat.shape, dtype=np.float32)
    step = max(1, _BLOCK_VALUES // max(1, d))
    for start in range(0, flat.shape[0], step):
        part = flat[start:start + step].astype(np.float64)
        # multiplying by the 0/1 "spread" vector zeroes constant features but keeps NaN as NaN
        scaled = (part - lo) / safe_rng * spread
        out[start:start + step] = (scaled - mean) / std
    return out.reshape(x.shape)


def _check_stats(stats: Mapping, source: str | Path | None) -> None:
    missing = [k for k in STAT_KEYS if k not in stats]
    if missing:
        raise InputError(source, f"normalization statistics lack {missing}")
    if stats["fitted_on"] != "train":
        raise InputError(source, f"statistics fitted on {stats['fitted_on']!r}, not 'train'")
    d = len(stats["feature_names"])
    for key in ("min", "max", "mean", "std"):
        if len(stats[key]) != d:
            raise InputError(source, f"'{key}' has {len(stats[key])} values for {d} features")
    std = np.asarray(stats["std"], float)
    if not (np.isfinite(std).all() and (std > 0).all()):
        raise InputError(source, "'std' must be finite and positive for every feature")


def save_stats(stats: Mapping, path: str | Path) -> str:
    """Write ``stats`` as deterministic JSON (sorted keys) and return the sha256 of the bytes written."""
    _check_stats(stats, path)
    data = (json.dumps(stats, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def load_stats(path: str | Path, *, sha256: str | None = None) -> dict:
    """Read statistics written by :func:`save_stats`; checks them (and the sha256 when given)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read normalization statistics ({exc.strerror})") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256.lower():
        raise InputError(path, f"sha256 differs from the recorded {sha256}: statistics changed since")
    try:
        stats = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(stats, dict):
        raise InputError(path, "normalization statistics must be a JSON object")
    _check_stats(stats, path)
    return stats


# ---------------------------------------------------------------- per-session feature files
def _read_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot read Parquet file ({exc})") from exc


def _read_columns(path: Path, columns: list[str]) -> pa.Table:
    schema = _read_schema(path)
    absent = [c for c in columns if c not in schema.names]
    if absent:
        raise InputError(path, f"missing columns {absent[:5]}{' ...' if len(absent) > 5 else ''}")
    return pq.read_table(path, columns=columns)


def _float_matrix(table: pa.Table, columns: list[str], path: Path) -> np.ndarray:
    """Numeric columns as one float32 matrix (nulls -> NaN)."""
    out = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    for j, name in enumerate(columns):
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            raise InputError(path, f"column '{name}' is {col.type}, expected numbers")
        out[:, j] = col.to_numpy().astype(np.float32)
    return out


def read_video_block(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 49 FACE_FEATURES of a ``face/<ID>.parquet`` and its ``valid`` mask."""
    table = _read_columns(path, ["valid", *FACE_FEATURES])
    valid = table.column("valid")
    if not pa.types.is_boolean(valid.type) or valid.null_count:
        raise InputError(path, "column 'valid' must be boolean without nulls")
    return _float_matrix(table, FACE_FEATURES, path), valid.to_numpy()


def _fc2_size(path: Path) -> int:
    schema = _read_schema(path)
    if "fc2" not in schema.names:
        raise InputError(path, "no 'fc2' column")
    field_type = schema.field("fc2").type
    if not pa.types.is_fixed_size_list(field_type):
        raise InputError(path, f"column 'fc2' is {field_type}, expected fixed_size_list<float>")
    return int(field_type.list_size)


def read_audio_block(path: Path, size: int) -> np.ndarray:
    """The ``fc2`` vectors of a ``vggish/<ID>.parquet`` as a rows x ``size`` float32 matrix."""
    found = _fc2_size(path)
    if found != size:
        raise InputError(path, f"fc2 has {found} values per row, the first training file {size}")
    col = _read_columns(path, ["fc2"]).column("fc2").combine_chunks()
    if col.null_count:
        raise InputError(path, f"{col.null_count} rows have no fc2 vector")
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, size)


def egemaps_columns(path: Path) -> list[str]:
    """The LLD columns of an ``egemaps/<ID>.parquet`` (every column but the time columns)."""
    names = [n for n in _read_schema(path).names if n not in TIME_COLUMNS]
    if not names:
        raise InputError(path, "no LLD columns")
    return names


def read_egemaps_block(path: Path, columns: list[str]) -> np.ndarray:
    """The LLD columns of an eGeMAPS file, in the order of the first training file."""
    found = egemaps_columns(path)
    if found != columns:
        raise InputError(path, "LLD columns differ from the first training file's "
                               f"({len(found)} vs {len(columns)} columns)")
    return _float_matrix(_read_columns(path, columns), columns, path)


def _feature_names(modality: str, first: Path) -> list[str]:
    if modality == "video":
        return list(FACE_FEATURES)
    if modality == "audio":
        return [f"fc2_{i}" for i in range(_fc2_size(first))]
    return egemaps_columns(first)


def _read_block(modality: str, path: Path, names: list[str]) -> Block:
    if modality == "video":
        return read_video_block(path)
    if modality == "audio":
        return read_audio_block(path, len(names))
    return read_egemaps_block(path, names)


def _splits(manifest_df: pd.DataFrame) -> dict[int, str]:
    for col in ("participant_id", "split"):
        if col not in manifest_df.columns:
            raise InputError(None, f"manifest has no '{col}' column")
    ids = manifest_df["participant_id"].astype("int64")
    if ids.duplicated().any():
        raise InputError(None, f"manifest lists participants twice: {sorted(set(ids[ids.duplicated()]))}")
    return dict(zip(ids.tolist(), manifest_df["split"].astype(str).tolist(), strict=True))


def _check_train_only(paths: Mapping[int, Path], splits: Mapping[int, str]) -> None:
    for pid, path in paths.items():
        if pid not in splits:
            raise InputError(path, f"participant {pid} is not in the manifest")
        if splits[pid] != "train":
            raise InputError(path, f"participant {pid} is in split '{splits[pid] or 'unlabelled'}', not "
                                   "train: normalization statistics are fitted on training participants only")
        if Path(path).stem != str(pid):
            raise InputError(path, f"file name does not match participant {pid} (expected {pid}.parquet)")


def fit_from_files(paths_by_participant: Mapping[int, str | Path], manifest_df: pd.DataFrame,
                   modality: str, *, face_features: str = "all") -> dict:
    """Fit statistics from the per-session feature files of TRAINING participants.

    ``modality``: ``video`` (``face/<ID>.parquet``, valid frames only, the features of
    ``face_features``: :data:`depsev.constants.FACE_FEATURE_SETS`, ``all`` = 49), ``audio``
    (``vggish/<ID>.parquet``, the ``fc2`` vectors) or ``egemaps`` (``egemaps/<ID>.parquet``, every
    LLD column).  Raises :class:`~depsev.errors.InputError` before reading anything if a
    participant is missing from ``manifest_df`` or its split is not ``train``.  Files are read one
    participant at a time, in ID order, so the result does not depend on the mapping's order.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    paths = {int(pid): Path(p) for pid, p in paths_by_participant.items()}
    if not paths:
        raise InputError(None, f"no training participants given for modality {modality}")
    _check_train_only(paths, _splits(manifest_df))
    order = sorted(paths)
    names = _feature_names(modality, paths[order[0]])
    keep = None
    if modality == "video":
        if face_features not in FACE_FEATURE_SETS:
            raise ValueError(f"face_features must be one of {sorted(FACE_FEATURE_SETS)}, "
                             f"got {face_features!r}")
        names = list(FACE_FEATURE_SETS[face_features])
        keep = [FACE_FEATURES.index(n) for n in names]
    moments = _Moments(len(names))
    for pid in order:
        block = _read_block(modality, paths[pid], names)
        if keep is not None and len(keep) != len(FACE_FEATURES):
            block = (block[0][:, keep], block[1])
        _accumulate(moments, block, paths[pid])
    stats = _finish(moments, names, order)
    stats["modality"] = modality
    if modality == "video":
        stats["feature_set"] = face_feature_set_name(names)
    return stats


def participant_paths(paths: Iterable[str | Path]) -> dict[int, Path]:
    """``{ID: path}`` from per-session feature files named ``<ID>.parquet``."""
    out: dict[int, Path] = {}
    for p in map(Path, paths):
        if not p.stem.isdigit():
            raise InputError(p, "feature file name is not <participant ID>.parquet")
        if int(p.stem) in out:
            raise InputError(p, f"participant {int(p.stem)} given twice")
        out[int(p.stem)] = p
    return out


def train_feature_paths(manifest_df: pd.DataFrame, feature_dir: str | Path) -> dict[int, Path]:
    """``{ID: feature_dir/<ID>.parquet}`` for the manifest's train participants with status ``ok``.

    A missing file raises :class:`~depsev.errors.InputError` (a training session is never dropped
    silently).
    """
    if "status" not in manifest_df.columns:
        raise InputError(None, "manifest has no 'status' column")
    _splits(manifest_df)
    sel = (manifest_df["split"] == "train") & (manifest_df["status"] == "ok")
    paths = {int(pid): Path(feature_dir) / f"{int(pid)}.parquet"
             for pid in manifest_df.loc[sel, "participant_id"]}
    absent = [str(p) for p in paths.values() if not p.is_file()]
    if absent:
        raise InputError(feature_dir, f"{len(absent)} training feature files missing: {absent[:5]}")
    return paths
