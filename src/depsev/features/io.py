"""Shared I/O of the per-session feature files (no torch: cheap to import).

``write_feature_parquet`` writes every per-session feature file (zstd, provenance as JSON under the
key-value metadata key ``depsev``); ``read_segments`` / ``session_times`` map times in the cleaned
participant-only audio back to the session clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.errors import InputError


def fixed_list(values: np.ndarray, width: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, width)


def read_segments(path: str | Path) -> pd.DataFrame:
    """The ``audio/<ID>_segments.parquet`` table as a DataFrame (InputError when absent/malformed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "segments table not found")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise InputError(path, f"cannot read as Parquet ({exc})") from exc
    missing = [c for c in ("start", "end", "clean_start", "clean_end") if c not in df.columns]
    if missing:
        raise InputError(path, f"segments table lacks columns {missing}")
    return df


def session_times(clean_time: np.ndarray, segments: pd.DataFrame, segments_path: str | Path) -> np.ndarray:
    """``clean_time`` on the session clock via ``depsev.features.audio.clean_to_session_time``.

    InputError naming the segments file when the times do not fit it (e.g. a segments table that
    does not belong to this wav).
    """
    from depsev.features.audio import clean_to_session_time

    if clean_time.size == 0:
        return np.zeros(0, np.float64)
    try:
        return np.asarray(clean_to_session_time(clean_time, segments), dtype=np.float64)
    except ValueError as exc:
        raise InputError(segments_path,
                         f"cannot map cleaned-audio times to the session clock: {exc}") from exc


#: key-value metadata key under which every feature file carries its provenance JSON
FEATURE_META_KEY = b"depsev"


def read_feature_meta(path: str | Path) -> dict:
    """The provenance JSON :func:`write_feature_parquet` stored in ``path`` (``{}`` when absent)."""
    raw = (pq.read_schema(path).metadata or {}).get(FEATURE_META_KEY)
    return json.loads(raw) if raw else {}


def write_feature_parquet(table: pa.Table, out_parquet: str | Path, meta: dict) -> None:
    """Write ``table`` (zstd) with ``meta`` as JSON under the key-value metadata key ``depsev``.

    Written to a temporary name first and renamed, so a crash leaves no half-written output.
    """
    out = Path(out_parquet)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           FEATURE_META_KEY: json.dumps(meta).encode()})
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out)


def audio_clean_settings(segments_meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings of the ``audio_clean`` stage from its segments table's metadata (``None``: not an
    audio_clean segments table), as the VGGish stage records them under ``audio_clean``."""
    if segments_meta.get("stage") != "audio_clean":
        return None
    qc = segments_meta.get("qc") or {}
    return {"segmentation": qc.get("segmentation_requested"), "segmentation_used": qc.get("segmentation"),
            "denoise": None if qc.get("denoise") is None else bool(qc["denoise"]),
            "normalize_audio": segments_meta.get("normalize_peak_dbfs") is not None}
