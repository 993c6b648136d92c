"""openSMILE eGeMAPS low-level descriptors (10 ms frames) of the cleaned participant speech.

opensmile-python's ``eGeMAPSv02`` LLD set has 25 columns; the ``<ID>_OpenSMILE2.3.0_egemaps.csv``
files shipped with E-DAIC hold the 23 LLDs of ``eGeMAPSv01a`` (v02 adds F2/F3 bandwidth). The set
used is recorded in every output; pass ``feature_set="eGeMAPSv01a"`` to get E-DAIC's 23 columns.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import soundfile as sf

from depsev.errors import InputError
from depsev.features.io import read_segments, session_times, write_feature_parquet

if TYPE_CHECKING:
    import opensmile

#: names accepted for ``feature_set`` (opensmile's enum member names, plus the explicit v01a name)
_SET_ALIASES = {"eGeMAPSv01a": "eGeMAPS"}
#: the LLD set of E-DAIC's shipped openSMILE 2.3.0 eGeMAPS CSVs
EDAIC_SHIPPED_SET, EDAIC_SHIPPED_N = "eGeMAPSv01a", 23
FRAME_STEP_S = 0.01


def make_smile(feature_set: str = "eGeMAPSv02",
               feature_level: str = "LowLevelDescriptors") -> opensmile.Smile:
    """An ``opensmile.Smile`` for the named set and level (ValueError naming the valid choices)."""
    import opensmile

    set_name = _SET_ALIASES.get(feature_set, feature_set)
    if set_name not in opensmile.FeatureSet.__members__:
        raise ValueError(f"unknown openSMILE feature set {feature_set!r}; choose from "
                         f"{sorted(opensmile.FeatureSet.__members__) + sorted(_SET_ALIASES)}")
    if feature_level not in opensmile.FeatureLevel.__members__:
        raise ValueError(f"unknown openSMILE feature level {feature_level!r}; choose from "
                         f"{sorted(opensmile.FeatureLevel.__members__)}")
    with warnings.catch_warnings():  # v01a is "deprecated" in opensmile-python but is what E-DAIC used
        warnings.simplefilter("ignore", UserWarning)
        return opensmile.Smile(feature_set=opensmile.FeatureSet[set_name],
                               feature_level=opensmile.FeatureLevel[feature_level])


def egemaps_frames(wav_path: str | Path, smile: opensmile.Smile) -> pd.DataFrame:
    """LLD frames of a wav: ``clean_time`` (frame start, s, f64) then the feature columns (f32).

    An empty wav gives an empty frame with the same columns.
    """
    wav_path = Path(wav_path)
    if not wav_path.is_file():
        raise InputError(wav_path, "audio file not found")
    try:
        info = sf.info(str(wav_path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(wav_path, f"cannot read audio ({exc})") from exc
    names = list(smile.feature_names)
    if info.frames == 0:
        lld = pd.DataFrame({n: np.zeros(0, np.float32) for n in names})
        starts = np.zeros(0, np.float64)
    else:
        try:
            lld = smile.process_file(str(wav_path))
        except Exception as exc:  # opensmile/audiofile raise RuntimeError and others
            raise InputError(wav_path, f"openSMILE failed ({type(exc).__name__}: {exc})") from exc
        starts = lld.index.get_level_values("start").total_seconds().to_numpy(dtype=np.float64)
    out = pd.DataFrame({"clean_time": starts})
    for n in names:
        out[n] = lld[n].to_numpy(dtype=np.float32)
    return out


def egemaps_session(clean_wav: str | Path, segments_parquet: str | Path, out_parquet: str | Path, *,
                    feature_set: str = "eGeMAPSv02", feature_level: str = "LowLevelDescriptors") -> dict:
    """Write ``egemaps/<ID>.parquet``: ``time`` (session clock of each frame start), ``clean_time``,
    then the LLD columns (float32), zstd, metadata under ``depsev``.

    An empty cleaned wav writes an empty table with the same schema and returns ``empty=True``.
    Returns ``{"participant_id", "n_frames", "n_features", "empty", "feature_set", "out"}``.
    """
    import opensmile

    clean_wav, out_parquet = Path(clean_wav), Path(out_parquet)
    segments = read_segments(segments_parquet)
    smile = make_smile(feature_set, feature_level)
    frames = egemaps_frames(clean_wav, smile)
    clean_time = frames["clean_time"].to_numpy()
    names = list(smile.feature_names)
    if len(frames):
        # the last frames' start lies inside the wav by construction; map it to the session clock
        time = session_times(clean_time, segments, segments_parquet)
    else:
        time = np.zeros(0, np.float64)
    arrays = [pa.array(time, pa.float64()), pa.array(clean_time, pa.float64())]
    arrays += [pa.array(frames[n].to_numpy(np.float32), pa.float32()) for n in names]
    schema = pa.schema([("time", pa.float64()), ("clean_time", pa.float64())]
                       + [(n, pa.float32()) for n in names])
    table = pa.Table.from_arrays(arrays, schema=schema)
    empty = table.num_rows == 0
    set_name = _SET_ALIASES.get(feature_set, feature_set)
    meta = {
        "stage": "egemaps",
        "feature_set": feature_set, "feature_set_config": opensmile.FeatureSet[set_name].value,
        "feature_level": feature_level, "opensmile_version": opensmile.__version__,
        "n_features": len(names), "feature_names": names, "frame_step_s": FRAME_STEP_S,
        "time": "start of each LLD frame",
        "n_frames": table.num_rows, "empty": empty, "clean_wav": clean_wav.name,
        "edaic_shipped_set": f"{EDAIC_SHIPPED_SET} ({EDAIC_SHIPPED_N} LLDs)",
        "same_set_as_edaic_shipped": set_name == _SET_ALIASES[EDAIC_SHIPPED_SET]
        and feature_level == "LowLevelDescriptors",
    }
    write_feature_parquet(table, out_parquet, meta)
    try:
        pid: int | None = int(out_parquet.stem)
    except ValueError:
        pid = None
    return {"participant_id": pid, "n_frames": table.num_rows, "n_features": len(names), "empty": empty,
            "feature_set": feature_set, "out": str(out_parquet)}
