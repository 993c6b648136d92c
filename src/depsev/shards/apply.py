"""Apply train-fitted normalization statistics to one session's feature file (rule normalize_apply).

The output has the input's layout (same time columns and mask) with the feature values replaced by
their normalized values; its metadata records the sha256 of the statistics file, so a shard can prove
which statistics it was built from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.errors import InputError
from depsev.hashing import file_sha256

#: list-valued feature column of each modality (None: one column per feature)
LIST_COLUMN = {"video": None, "audio": "fc2", "egemaps": None}


def _meta(table: pa.Table) -> dict:
    raw = (table.schema.metadata or {}).get(b"depsev")
    return json.loads(raw) if raw else {}


def normalize_session_file(features: str | Path, stats_path: str | Path, out: str | Path,
                           *, modality: str) -> dict:
    from depsev.shards.normalize import apply_normalizer, load_stats

    if modality not in LIST_COLUMN:
        raise ValueError(f"unknown modality {modality!r}")
    features, out = Path(features), Path(out)
    stats = load_stats(stats_path)
    names = list(stats["feature_names"])
    table = pq.read_table(features)
    list_col = LIST_COLUMN[modality]
    if list_col is not None:
        if list_col not in table.column_names:
            raise InputError(features, f"no '{list_col}' column (columns: {table.column_names})")
        col = table.column(list_col).combine_chunks()
        d = len(names)
        flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        x = flat.reshape(len(table), d) if len(table) else np.zeros((0, d), np.float32)
        z = apply_normalizer(x, stats).astype(np.float32)
        arr = pa.FixedSizeListArray.from_arrays(pa.array(z.reshape(-1), pa.float32()), d)
        keep = [c for c in table.column_names if c not in (list_col, "embedding")]
        cols = {c: table.column(c) for c in keep}
        cols[list_col] = arr
        new = pa.table(cols)
    else:
        missing = [n for n in names if n not in table.column_names]
        if missing:
            raise InputError(features, f"feature columns missing for normalization: {missing[:10]}")
        x = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(
            np.float32) if len(table) else np.zeros((0, len(names)), np.float32)
        z = apply_normalizer(x, stats).astype(np.float32)
        if "valid" in table.column_names:  # masked frames carry no face: zero them, the mask travels on
            valid = table.column("valid").to_numpy(zero_copy_only=False).astype(bool)
            z[~valid] = 0.0
        z = np.nan_to_num(z, nan=0.0)
        cols = {c: table.column(c) for c in table.column_names if c not in names}
        for j, n in enumerate(names):
            cols[n] = pa.array(z[:, j], pa.float32())
        new = pa.table(cols)
    meta = {**_meta(table), "normalized": True, "normalization_file": Path(stats_path).name,
            "normalization_sha256": file_sha256(stats_path), "modality": modality}
    new = new.replace_schema_metadata({b"depsev": json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(new, out, compression="zstd")
    return {"rows": len(new), "features": len(names)}
