"""Readers of the audio features E-DAIC ships (used when ``audio.source: edaic_shipped``).

* ``<ID>_vgg16.csv``: DeepSpectrum VGG16 ``fc2`` activations, comma-separated
  ``name,timeStamp,neuron_0 ... neuron_4095`` (4 s window, 1 s hop).  The header is matched
  tolerantly (names stripped, case-insensitive; time column ``timeStamp``/``timestamp``/``time``/
  ``frameTime``; ``name`` and a DeepSpectrum ``class`` column are ignored) but exactly the 4096
  neuron columns ``neuron_0 .. neuron_4095`` are required, in any order.
* ``<ID>_OpenSMILE2.3.0_egemaps.csv``: ``;``-separated ``name;frameTime;`` + the 23 eGeMAPSv01a
  low-level descriptors (10 ms step).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.corpus.sessions import check_increasing, read_table, strict_numeric
from depsev.errors import InputError

VGG16_DIM = 4096
EGEMAPS_N_LLD = 23
EGEMAPS_FEATURE_SET = "eGeMAPSv01a (E-DAIC shipped, openSMILE 2.3.0)"
_TIME_NAMES = ("timestamp", "time", "frametime")
_IGNORED = ("name", "class")
_NEURON = re.compile(r"neuron_([0-9]+)", re.IGNORECASE)


def _header(path: Path, sep: str, what: str) -> list[str]:
    if not path.is_file():
        raise InputError(path, f"{what} not found")
    with open(path, encoding="utf-8", errors="replace") as fh:
        line = fh.readline().rstrip("\r\n")
    if not line.strip():
        raise InputError(path, f"{what} is empty (no header line)")
    return [c.strip().strip("'\"") for c in line.split(sep)]


def _time_column(names: list[str], path: Path, what: str) -> str:
    hits = [c for c in names if c.lower() in _TIME_NAMES]
    if len(hits) != 1:
        raise InputError(path, f"{what}: expected exactly one time column (one of timeStamp, time, "
                         f"frameTime); found {hits or 'none'} among {names[:5]}...")
    return hits[0]


def read_vgg16_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a shipped VGG16 CSV: ``(times float64 (n,), features float32 (n, 4096))``.

    Features are ordered by neuron index.  Raises :class:`InputError` for a missing/empty file, a
    header without a time column or without exactly ``neuron_0 .. neuron_4095``, unrecognised
    columns, non-numeric or empty cells, and times that do not increase.
    """
    path = Path(path)
    what = "VGG16 feature CSV"
    names = _header(path, ",", what)
    time_col = _time_column(names, path, what)
    neurons: dict[int, str] = {}
    unknown = []
    for c in names:
        m = _NEURON.fullmatch(c)
        if m:
            neurons[int(m[1])] = c
        elif c != time_col and c.lower() not in _IGNORED:
            unknown.append(c)
    if unknown:
        raise InputError(path, f"{what}: unrecognised column(s) {unknown[:10]}")
    if sorted(neurons) != list(range(VGG16_DIM)):
        absent = sorted(set(range(VGG16_DIM)) - set(neurons))
        raise InputError(path, f"{what}: expected neuron_0 .. neuron_{VGG16_DIM - 1} ({VGG16_DIM} "
                         f"columns), found {len(neurons)}"
                         + (f"; missing e.g. {[f'neuron_{i}' for i in absent[:5]]}" if absent else ""))
    order = [neurons[i] for i in range(VGG16_DIM)]
    df = read_table(path, what=what, skipinitialspace=True)
    not_numeric = [c for c in order if not pd.api.types.is_numeric_dtype(df[c])]
    if not_numeric:
        # raises for a text cell, naming the column and row
        df[not_numeric] = strict_numeric(df, not_numeric, path, what=what)
    times = strict_numeric(df, [time_col], path, what=what)[time_col].to_numpy(dtype=np.float64)
    feats = df[order].to_numpy(dtype=np.float32)
    if not np.isfinite(feats).all():
        row, col = (int(v[0]) for v in np.nonzero(~np.isfinite(feats)))
        raise InputError(path, f"{what}: empty/NaN or infinite value in column '{order[col]}' "
                         f"(data row {row + 1})")
    check_increasing(times, path, what=what, column=time_col)
    return times, np.ascontiguousarray(feats)


def read_egemaps_csv(path: str | Path) -> pd.DataFrame:
    """Read a shipped eGeMAPS LLD CSV into ``time`` (float64 s) + the 23 LLD columns (float32).

    ``df.attrs["feature_set"]`` is :data:`EGEMAPS_FEATURE_SET`.  Raises :class:`InputError` for a
    missing/empty file, no rows, a missing ``frameTime``, a number of LLD columns other than 23,
    non-numeric or empty cells, and times that do not increase.
    """
    path = Path(path)
    what = "eGeMAPS CSV"
    df = read_table(path, what=what, sep=";")
    # a trailing ';' gives an unnamed, empty last column
    df = df.loc[:, [c for c in df.columns if not (c.startswith("Unnamed:") and df[c].isna().all())]]
    df.columns = [c.strip("'\"") for c in df.columns]
    time_col = _time_column(list(df.columns), path, what)
    llds = [c for c in df.columns if c != time_col and c.lower() not in _IGNORED]
    if len(llds) != EGEMAPS_N_LLD:
        raise InputError(path, f"{what}: expected {EGEMAPS_N_LLD} eGeMAPSv01a LLD columns after "
                         f"name;frameTime, found {len(llds)}: {llds}")
    num = strict_numeric(df, [time_col, *llds], path, what=what)
    times = num[time_col].to_numpy(dtype=np.float64)
    check_increasing(times, path, what=what, column=time_col)
    out = pd.concat([pd.DataFrame({"time": times}),
                     pd.DataFrame({c: num[c].to_numpy(dtype=np.float32) for c in llds})], axis=1)
    out.attrs = {"feature_set": EGEMAPS_FEATURE_SET, "source": str(path), "n_features": len(llds)}
    return out
