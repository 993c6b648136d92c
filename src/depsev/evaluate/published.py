"""Published numbers (Zhang et al. 2025 Tables 5-6, AVEC 2019) beside depsev's own (the paper's Table 6).

Every published number carries its ``source`` (table and row it was read from) and an ``origin`` that
starts with ``"published"``; depsev's rows have the origin ``"depsev, on <dataset>"``.  Published and
own numbers share columns only row by row, never without that label.

Columns of the published figures (:data:`PUBLISHED_ROWS`):

``table_mse``, ``table_rmse``, ``table_mae``
    the paper's "MSE/RMSE/MAE (/)" columns EXACTLY AS PRINTED.  Their scale is not stated and is
    not consistent (see :mod:`depsev.evaluate.metrics`, "Normalised scale"): the paper's own rows
    look normalised (0.1271), the cited works' multimodal rows (RMSE 4.99, MAE 3.96) look like PHQ-8
    points.  depsev's rows put its errors on the /24 scale (``mse_norm``, ``rmse_norm``,
    ``mae_norm``) there, the only reading under which the paper's multimodal MAE is plausible.
``accuracy``
    as a fraction (printed 83.86 % -> 0.8386).  For depsev: five-band severity accuracy at the
    participant level; the cited works' "accuracy" may be binary or per segment (their papers).
``rmse_points``, ``mae_points``, ``ccc``
    on the PHQ-8 scale, participant level (AVEC 2019 scoring): the AVEC baseline and depsev.

The paper's Table 6 was read from the extracted text (``paper.txt``), where its cells come column by
column; the row assignment below follows the row labels' order.  Two known inconsistencies are kept
as printed and noted: Table 6's audio "Proposed method" row repeats Table 5's ResNet audio numbers
(not LSTM), and the prose ("21.86 % higher accuracy than Shen et al. [37]", "1.86 % over Gautam
[18]") implies 62 % for [37] and 82 % for [18], while the printed column gives [37] 71 %, leaves
[18] empty, and has 62 % and 82 % on AVTF-TBN [29] (video) and HDR-DCNN [21].
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from depsev.errors import InputError

PAPER = "Zhang et al. 2025, Electronics 14:1464"
ORIGIN_PAPER = "published, on E-DAIC"
ORIGIN_CITED = "published, cited in Zhang et al. 2025 Table 6 (corpus as in the cited work)"
#: numeric columns of the comparison, in order
VALUE_COLUMNS = ["table_mse", "table_rmse", "table_mae", "accuracy", "rmse_points", "mae_points", "ccc"]
COLUMNS = ["origin", "dataset", "modality", "method", "split", "level", *VALUE_COLUMNS, "source", "note"]
_TABLE6_NOTE = ("Table 6 cells read from the extracted text column by column; the row order follows the "
                "printed row labels")


def _row(modality: str, method: str, source: str, *, origin: str = ORIGIN_PAPER, note: str = "",
         **values: float) -> dict[str, Any]:
    unknown = set(values) - set(VALUE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown published value columns {sorted(unknown)}")
    row: dict[str, Any] = {"origin": origin, "dataset": "E-DAIC" if origin == ORIGIN_PAPER else "see source",
                           "modality": modality, "method": method, "split": "test",
                           "level": "as published", "source": source, "note": note}
    row.update({c: float(values.get(c, math.nan)) for c in VALUE_COLUMNS})
    return row


#: the published figures; NaN where the source prints nothing
PUBLISHED_ROWS: list[dict[str, Any]] = [
    # --- the paper's Table 5 (its own models, E-DAIC test split)
    _row("audio", "random forest (paper)", f"{PAPER}, Table 5, Audio / Random Forest",
         accuracy=0.2396, note="errors not reported for the random forest"),
    _row("audio", "ResNet (paper)", f"{PAPER}, Table 5, Audio / ResNet",
         table_mse=1.9293, table_rmse=1.3890, table_mae=0.0372, accuracy=0.6087),
    _row("audio", "LSTM (paper)", f"{PAPER}, Table 5, Audio / LSTM",
         table_mse=5.3066, table_rmse=2.3036, table_mae=0.0350, accuracy=0.7913,
         note="RMSE/MAE = 66 is impossible for 56 test participants (<= 7.5): not participant level"),
    _row("video", "random forest (paper)", f"{PAPER}, Table 5, Video / Random Forest",
         accuracy=0.2053, note="errors not reported for the random forest"),
    _row("video", "ResNet (paper)", f"{PAPER}, Table 5, Video / ResNet",
         table_mse=2.6644, table_rmse=1.6323, table_mae=0.0337, accuracy=0.6609),
    _row("video", "LSTM (paper)", f"{PAPER}, Table 5, Video / LSTM",
         table_mse=4.5769, table_rmse=2.1394, table_mae=0.0346, accuracy=0.8087),
    _row("fusion", "multimodal LSTM (paper)", f"{PAPER}, Table 5, Multi-Model / LSTM",
         table_mse=0.2133, table_rmse=0.3566, table_mae=0.1271, accuracy=0.8386,
         note="RMSE != sqrt(MSE) (0.4618) as printed"),
    # --- the paper's Table 6 "Proposed method" rows
    _row("audio", "proposed method (paper, Table 6)", f"{PAPER}, Table 6, Audio / Proposed method",
         table_mse=1.9293, table_rmse=1.3890, table_mae=0.0372, accuracy=0.6087,
         note="repeats Table 5's ResNet audio row, not its LSTM audio row; " + _TABLE6_NOTE),
    _row("video", "proposed method (paper, Table 6)", f"{PAPER}, Table 6, Video / Proposed method",
         table_mse=4.5769, table_rmse=2.1394, table_mae=0.0346, accuracy=0.8087, note=_TABLE6_NOTE),
    _row("fusion", "proposed method (paper, Table 6)", f"{PAPER}, Table 6, Multi-Model / Proposed method",
         table_mse=0.2133, table_rmse=0.3566, table_mae=0.1271, accuracy=0.8386, note=_TABLE6_NOTE),
    # --- works cited in the paper's Table 6
    _row("audio", "Multimodal LSTM [37]", f"{PAPER}, Table 6, Audio / Multimodal LSTM [37]",
         origin=ORIGIN_CITED, accuracy=0.71,
         note="the paper's prose ('21.86 % higher accuracy than Shen et al. [37]') implies 62 %; "
              + _TABLE6_NOTE),
    _row("audio", "AVTF-TBN [38]", f"{PAPER}, Table 6, Audio / AVTF-TBN [38]",
         origin=ORIGIN_CITED, accuracy=0.61, note=_TABLE6_NOTE),
    _row("video", "Speaking HDR-DCNN [21]", f"{PAPER}, Table 6, Video / Speaking HDR-DCNN [21]",
         origin=ORIGIN_CITED, accuracy=0.82, note=_TABLE6_NOTE),
    _row("video", "AVTF-TBN [29]", f"{PAPER}, Table 6, Video / AVTF-TBN [29]",
         origin=ORIGIN_CITED, accuracy=0.62, note=_TABLE6_NOTE),
    _row("fusion", "Topic modeling [18]", f"{PAPER}, Table 6, Multi-Model / Topic modeling [18]",
         origin=ORIGIN_CITED, table_rmse=4.99, table_mae=3.96,
         note="no accuracy printed, though the prose claims '1.86 % over Gautam [18]' (i.e. 82 %); "
              "RMSE/MAE look like PHQ-8 points; " + _TABLE6_NOTE),
    _row("fusion", "DepITCM [39]", f"{PAPER}, Table 6, Multi-Model / DepITCM [39]",
         origin=ORIGIN_CITED, table_rmse=4.89, table_mae=4.62, accuracy=0.813,
         note="RMSE/MAE look like PHQ-8 points; " + _TABLE6_NOTE),
    _row("fusion", "AVTF-TBN [29]", f"{PAPER}, Table 6, Multi-Model / AVTF-TBN [29]",
         origin=ORIGIN_CITED, accuracy=0.57, note=_TABLE6_NOTE),
    # --- AVEC 2019 (E-DAIC test split, participant level, CCC with population variances)
    _row("fusion", "AVEC 2019 DDS baseline",
         "Ringeval et al. 2019, AVEC 2019 challenge baseline (DDS, per-feature-set GRU, averaged); as "
         "recorded in depsev's reference notes corpus-formats.md 'Published reference numbers'",
         rmse_points=6.37, ccc=0.120, note="participant level; RMSE given as approximately 6.37"),
    _row("fusion", "best published audio-visual (no text)",
         "corpus-formats.md 'Published reference numbers' (best audio-visual E-DAIC test results found)",
         rmse_points=5.5, note="CCC 0.44-0.48 (a range, so not in the ccc column); RMSE approximately 5.5"),
]


def published_rows() -> pd.DataFrame:
    """The published figures alone (:data:`PUBLISHED_ROWS`) as a table with :data:`COLUMNS`."""
    return pd.DataFrame(PUBLISHED_ROWS, columns=COLUMNS)


def published_table(ours: pd.DataFrame, dataset_label: str, *, split: str = "test",
                    include_not_run: bool = False) -> pd.DataFrame:
    """Published figures and depsev's, row by row labelled (the paper's Table 6).

    ``ours`` is a :func:`depsev.evaluate.tables.comparison_grid` table (columns ``model, family,
    modality, variant`` and ``<split>_<metric>_mean``); ``dataset_label`` is depsev's label
    (:func:`depsev.evaluate.tables.dataset_label`), used as the ``origin`` and ``dataset`` of our
    rows.  Our rows take participant-level means over seeds on ``split``; rows that were not run
    (``<split>_n_seeds == 0``) are left out unless ``include_not_run``.  Rows are grouped by modality
    (audio, video, fusion), published first.
    """
    if not isinstance(ours, pd.DataFrame):
        raise InputError(None, f"ours must be a DataFrame, got {type(ours).__name__}")
    needed = ["model", "family", "modality", "variant", f"{split}_n_seeds",
              *(f"{split}_{m}_mean" for m in ("mse_norm", "rmse_norm", "mae_norm", "accuracy", "rmse", "mae",
                                             "ccc"))]
    missing = [c for c in needed if c not in ours.columns]
    if missing:
        raise InputError(None, f"our table (comparison_grid) lacks column(s) {missing}")
    if not str(dataset_label).startswith("depsev"):
        raise InputError(None, f"dataset_label must be depsev's own label ('depsev, on ...'), got "
                               f"{dataset_label!r}")
    own = [_our_row(r, dataset_label, split) for _, r in ours.iterrows()
           if include_not_run or int(r[f"{split}_n_seeds"]) > 0]
    table = pd.concat([published_rows(), pd.DataFrame(own, columns=COLUMNS)], ignore_index=True)
    order = {"audio": 0, "video": 1, "fusion": 2}
    table["_m"] = table["modality"].map(order)
    table["_o"] = (~table["origin"].str.startswith("published")).astype(int)
    return table.sort_values(["_m", "_o"], kind="stable").drop(columns=["_m", "_o"]).reset_index(drop=True)


def _our_row(r: pd.Series, dataset_label: str, split: str) -> dict[str, Any]:
    n = int(r[f"{split}_n_seeds"])
    variant = f" ({r['variant']})" if r["variant"] else ""
    return {"origin": dataset_label, "dataset": dataset_label.removeprefix("depsev, on "),
            "modality": r["modality"], "method": f"{r['family']}{variant} (depsev: {r['model']})",
            "split": split, "level": "participant",
            "table_mse": r[f"{split}_mse_norm_mean"], "table_rmse": r[f"{split}_rmse_norm_mean"],
            "table_mae": r[f"{split}_mae_norm_mean"], "accuracy": r[f"{split}_accuracy_mean"],
            "rmse_points": r[f"{split}_rmse_mean"], "mae_points": r[f"{split}_mae_mean"],
            "ccc": r[f"{split}_ccc_mean"],
            "source": f"depsev run, mean over {n} seed{'s' if n != 1 else ''}",
            "note": "table_* = errors on the /24 normalised scale; accuracy = 5-band, participant level"}
