"""The corpus' own audio features (``audio.source: edaic_shipped``) in depsev's Parquet layout.

E-DAIC ships DeepSpectrum VGG16 fc2 activations (``<ID>_vgg16.csv``: 4096-d, 4 s window, 1 s hop) and
openSMILE 2.3.0 eGeMAPS LLDs (``<ID>_OpenSMILE2.3.0_egemaps.csv``: 23 columns, 10 ms).  They were computed
on the whole recording (interviewer included) by the corpus authors: ``clean_time`` equals ``time``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from depsev.features.io import fixed_list, write_feature_parquet


def vgg16_csv_to_parquet(csv: str | Path, out: str | Path) -> dict:
    from depsev.corpus.shipped import read_vgg16_csv

    times, feats = read_vgg16_csv(csv)
    n, d = feats.shape
    fc2 = fixed_list(feats, d)
    table = pa.table({"time": pa.array(times, pa.float64()), "clean_time": pa.array(times, pa.float64()),
                      "fc2": fc2})
    meta = {"source": "edaic_shipped", "file": Path(csv).name,
            "features": "DeepSpectrum VGG16 fc2 (4096-d, 4 s window, 1 s hop), computed by the corpus "
                        "authors on the whole recording", "weights": "DeepSpectrum VGG16 (ImageNet)",
            "n_examples": int(n)}
    write_feature_parquet(table, out, meta)
    return {"n_examples": int(n), "dim": int(d)}


def egemaps_csv_to_parquet(csv: str | Path, out: str | Path) -> dict:
    from depsev.corpus.shipped import read_egemaps_csv

    df = read_egemaps_csv(csv)
    lld = [c for c in df.columns if c != "time"]
    cols = {"time": pa.array(df["time"].to_numpy(np.float64)),
            "clean_time": pa.array(df["time"].to_numpy(np.float64))}
    for c in lld:
        cols[c] = pa.array(df[c].to_numpy(np.float32))
    meta = {"source": "edaic_shipped", "file": Path(csv).name,
            "feature_set": df.attrs.get("feature_set", "eGeMAPSv01a (E-DAIC shipped, openSMILE 2.3.0)"),
            "feature_level": "LowLevelDescriptors", "n_features": len(lld)}
    write_feature_parquet(pa.table(cols), out, meta)
    return {"n_frames": len(df), "n_features": len(lld)}
