"""Per-frame face features: one OpenFace CSV -> one Parquet file per session.

The output (``results/features/face/<ID>.parquet``, see docs/CONTRACT.md) keeps EVERY frame of the
input in file order.  Frames without a usable face (``success == 0``, or ``confidence`` below the
threshold) are kept, marked ``valid == False`` and counted; later stages use the mask.  Times come
from the file's own ``timestamp`` column (OpenFace writes the video clock), never from
``frame / 30``: E-DAIC recordings run at 26-33 fps, not exactly 30.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from depsev import __version__
from depsev.constants import FACE_FEATURES
from depsev.errors import InputError
from depsev.features.io import read_feature_meta, write_feature_parquet
from depsev.qc import timestamp_stats

#: a session whose median frame rate falls outside this range gets the QC flag FLAG_FPS
FPS_RANGE = (20.0, 40.0)
FLAG_NO_VALID = "no valid face frames"
FLAG_FPS = "fps outside 20-40"
FLAG_MISSING = "features missing from the input"

def _read_input(openface_csv: Path, pose: Path | None, gaze: Path | None) -> pd.DataFrame:
    """Read an OpenFace CSV (E-DAIC / OpenFace 2.x) or a DAIC-WOZ CLNF triple via depsev.corpus."""
    from depsev.corpus.openface import read_daicwoz_clnf, read_openface

    if openface_csv.name.endswith("_CLNF_AUs.txt"):
        return read_daicwoz_clnf(openface_csv, pose, gaze)
    if pose is not None or gaze is not None:
        raise InputError(openface_csv, "separate pose/gaze files are only read with a DAIC-WOZ "
                                       "<ID>_CLNF_AUs.txt file; this is a single OpenFace CSV")
    return read_openface(openface_csv)


def _numeric(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Column as float64; InputError when it is missing or holds non-numbers."""
    if column not in df.columns:
        raise InputError(path, f"no '{column}' column")
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise InputError(path, f"column '{column}' holds {int(bad.sum())} non-numeric values "
                               f"(first at row {int(np.flatnonzero(bad.to_numpy())[0])})")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _success(df: pd.DataFrame, path: Path) -> np.ndarray:
    """``success`` as int8; only 0 and 1 are accepted."""
    success = _numeric(df, "success", path)
    bad = ~np.isin(success, (0.0, 1.0))
    if bad.any():
        raise InputError(path, f"column 'success' must be 0 or 1; {int(bad.sum())} rows are not "
                               f"(first value {success[bad][0]!r})")
    return success.astype(np.int8)


def _timestamps(df: pd.DataFrame, path: Path) -> np.ndarray:
    """The file's own timestamps (seconds); every frame must have one."""
    ts = _numeric(df, "timestamp", path)
    missing = ~np.isfinite(ts)
    if missing.any():
        raise InputError(path, f"{int(missing.sum())} frames have no finite timestamp")
    return ts


def _frames(df: pd.DataFrame, path: Path) -> np.ndarray:
    frame = _numeric(df, "frame", path)
    if (~np.isfinite(frame)).any() or (frame != np.round(frame)).any():
        raise InputError(path, "column 'frame' must hold whole numbers in every row")
    return frame.astype(np.int64)


def median_fps(timestamps: np.ndarray) -> float:
    """Median frame rate from the gaps between consecutive positive timestamp steps (NaN if none)."""
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    steps = steps[steps > 0]
    if steps.size == 0:
        return math.nan
    return float(1.0 / np.median(steps))


def face_table(df: pd.DataFrame, path: Path, confidence_threshold: float) -> tuple[pa.Table, list[str]]:
    """Arrow table in the contract's column order, and the FACE_FEATURES absent from ``df``."""
    n = len(df)
    success = _success(df, path)
    confidence = _numeric(df, "confidence", path).astype(np.float32)
    valid = (success == 1) & (confidence >= np.float32(confidence_threshold))
    columns: dict[str, pa.Array] = {
        "timestamp": pa.array(_timestamps(df, path), type=pa.float64()),
        "frame": pa.array(_frames(df, path), type=pa.int64()),
        "success": pa.array(success, type=pa.int8()),
        "confidence": pa.array(confidence, type=pa.float32()),
        "valid": pa.array(valid, type=pa.bool_()),
    }
    missing = [name for name in FACE_FEATURES if name not in df.columns]
    for name in FACE_FEATURES:
        values = np.full(n, np.nan) if name in missing else _numeric(df, name, path)
        columns[name] = pa.array(values.astype(np.float32), type=pa.float32())
    return pa.table(columns), missing


def _counts(table: pa.Table) -> dict[str, int]:
    success = table.column("success").to_numpy()
    valid = table.column("valid").to_numpy(zero_copy_only=False)
    n_success0 = int((success == 0).sum())
    n_valid = int(valid.sum())
    return {"n_frames": table.num_rows, "n_valid": n_valid, "n_masked_success0": n_success0,
            "n_masked_lowconf": table.num_rows - n_valid - n_success0}


def _flags(counts: dict[str, int], fps: float, missing: list[str]) -> list[str]:
    flags = []
    if counts["n_valid"] == 0:
        flags.append(FLAG_NO_VALID)
    if not (FPS_RANGE[0] <= fps <= FPS_RANGE[1]):  # NaN (fewer than 2 timestamps) is flagged too
        flags.append(FLAG_FPS)
    if missing:
        flags.append(FLAG_MISSING)
    return flags


#: OpenFace frames below this confidence are invalid (default of config.yaml face.confidence_threshold)
CONFIDENCE_THRESHOLD = 0.75


def face_frames(openface_csv: str | Path, out_parquet: str | Path, *,
                confidence_threshold: float = CONFIDENCE_THRESHOLD,
                pose: str | Path | None = None, gaze: str | Path | None = None,
                openface_image: str | None = None, openface_binary: str | None = None) -> dict:
    """Convert one session's OpenFace output to ``face/<ID>.parquet`` and return its QC record.

    ``openface_csv`` is an E-DAIC ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``, an OpenFace 2.x
    FeatureExtraction CSV, or a DAIC-WOZ ``<ID>_CLNF_AUs.txt`` (then ``pose``/``gaze`` name its
    ``_CLNF_pose.txt``/``_CLNF_gaze.txt`` files).  Every input frame is written; ``valid`` is
    ``success == 1 and confidence >= confidence_threshold``.  The returned dict holds ``source``,
    ``openface_format``, ``confidence_threshold``, ``n_frames``, ``n_valid``, ``n_masked_success0``,
    ``n_masked_lowconf`` (success 1 but confidence below the threshold), ``fps_median`` (None when
    it cannot be measured), ``missing_features``, ``other_face_rows``, ``flags`` (list of strings, e.g.
    ``"no valid face frames"``, ``"fps outside 20-40"``) and ``status`` (``ok`` or
    ``flagged: <flag>[; <flag>]``).  A session without any valid frame is written, not refused.
    Unreadable input raises :class:`~depsev.errors.InputError`.  ``openface_image`` /
    ``openface_binary``: the OpenFace container image and binary the workflow runs on videos
    (config.yaml ``openface``), recorded in the metadata when given and carried forward to the shards
    and the checkpoint (:mod:`depsev.shards.preparation`), so ``depsev predict`` runs OpenFace the same way.
    """
    src = Path(openface_csv)
    if not 0.0 <= float(confidence_threshold) <= 1.0:
        raise ValueError(f"confidence_threshold must be within 0..1, got {confidence_threshold!r}")
    df = _read_input(src, None if pose is None else Path(pose), None if gaze is None else Path(gaze))
    if len(df) == 0:
        raise InputError(src, "no frames")
    table, missing = face_table(df, src, float(confidence_threshold))
    fps = median_fps(table.column("timestamp").to_numpy())
    counts = _counts(table)
    flags = _flags(counts, fps, missing)
    record = {
        "source": src.name,
        "openface_format": str(df.attrs.get("openface_format", "unknown")),
        "confidence_threshold": float(confidence_threshold),
        **counts,
        "fps_median": None if math.isnan(fps) else fps,
        "missing_features": missing,
        # OpenFace 2.x rows of faces other than face_id 0, left out by the reader
        "other_face_rows": int(df.attrs.get("other_face_rows", 0)),
        # the clock, checked against the audio by depsev.qc.face_clock_problems
        **timestamp_stats(table.column("timestamp").to_numpy()),
    }
    metadata = {**record, "stage": "face_frames", "depsev_version": __version__,
                "pose_source": None if pose is None else Path(pose).name,
                "gaze_source": None if gaze is None else Path(gaze).name}
    metadata.update({k: str(v) for k, v in (("openface_image", openface_image),
                                            ("openface_binary", openface_binary)) if v})
    write_feature_parquet(table, out_parquet, metadata)
    return {**record, "flags": flags, "status": "ok" if not flags else "flagged: " + "; ".join(flags)}


def read_face_metadata(path: str | Path) -> dict:
    """The ``depsev`` provenance JSON of a face Parquet file written by :func:`face_frames`."""
    meta = read_feature_meta(path)
    if not meta:
        raise InputError(path, "no 'depsev' key in the Parquet metadata (not written by face_frames)")
    return meta
