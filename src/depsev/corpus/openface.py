"""Strict readers of OpenFace per-frame face files in the three shapes depsev meets.

``read_openface`` recognises the shape by its (stripped) column names, never by position:

* ``edaic``: E-DAIC ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``; 53 columns, no ``face_id``.
  All of :data:`depsev.constants.EDAIC_OPENFACE_COLUMNS` are required.
* ``openface2``: OpenFace 2.x ``FeatureExtraction -aus -pose -gaze`` output (has ``face_id`` and
  eye landmarks, fields separated by ``,`` or ``", "``).  All 49 face features are required.
  When several faces were tracked, only the ``face_id == 0`` rows are kept (OpenFace gives the
  first tracked face id 0; in an interview recording that is the participant facing the camera);
  the number of other-face rows left out is recorded in ``df.attrs["other_face_rows"]``.
* ``daicwoz_clnf``: DAIC-WOZ ``<ID>_CLNF_AUs.txt`` (``frame, timestamp, confidence, success``,
  14 AU intensities, 6 AU presences; no pose or gaze columns).  :func:`read_daicwoz_clnf` adds
  pose and gaze from the ``_CLNF_pose.txt``/``_CLNF_gaze.txt`` files.

Every reader returns ``frame`` (int64), ``timestamp`` (float64, seconds), ``confidence``
(float32), ``success`` (int8, 0/1), then the :data:`~depsev.constants.FACE_FEATURES` present, in
that order, as float32; ``df.attrs["missing_features"]`` lists the absent ones.  Frames with
``success == 0`` are kept (masking is the feature stage's job).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.constants import (
    EDAIC_OPENFACE_COLUMNS,
    FACE_FEATURES,
    FACE_META,
    GAZE,
    POSE,
)
from depsev.corpus.sessions import check_increasing, read_table, strict_numeric
from depsev.errors import InputError

OPENFACE_FORMATS = ("edaic", "openface2", "daicwoz_clnf")
#: DAIC-WOZ CLNF AU file: 14 intensities and 6 presences (names as in OpenFace 2)
CLNF_AU_INTENSITY = [f"AU{i}_r" for i in ("01", "02", "04", "05", "06", "09", "10", "12", "14", "15",
                                          "17", "20", "25", "26")]
CLNF_AU_PRESENCE = [f"AU{i}_c" for i in ("04", "12", "15", "23", "28", "45")]
#: DAIC-WOZ ``_CLNF_pose.txt`` columns -> depsev names.  Assumed (from public code reading the
#: files): ``Tx, Ty, Tz`` head translation in mm and ``Rx, Ry, Rz`` rotation in radians, the same
#: quantities OpenFace 2 writes as ``pose_T*``/``pose_R*``.
CLNF_POSE_MAP = {"Tx": "pose_Tx", "Ty": "pose_Ty", "Tz": "pose_Tz",
                 "Rx": "pose_Rx", "Ry": "pose_Ry", "Rz": "pose_Rz"}
#: DAIC-WOZ ``_CLNF_gaze.txt`` columns -> depsev names.  Assumed: ``x_0 .. z_1`` are the two eyes'
#: gaze unit vectors in world (camera) coordinates, as OpenFace 2's ``gaze_{0,1}_{x,y,z}``; the
#: head-coordinate vectors ``x_h0 .. z_h1`` have no OpenFace 2 counterpart and are not used, and
#: the file has no gaze angles, so ``gaze_angle_x``/``gaze_angle_y`` stay missing.
CLNF_GAZE_MAP = {"x_0": "gaze_0_x", "y_0": "gaze_0_y", "z_0": "gaze_0_z",
                 "x_1": "gaze_1_x", "y_1": "gaze_1_y", "z_1": "gaze_1_z"}
_AU_NAME = re.compile(r"AU[0-9]+_[rc]")


def detect_format(columns: list[str]) -> str:
    """``openface2`` when there is a ``face_id``; ``daicwoz_clnf`` for the CLNF AU set without
    pose/gaze; else ``edaic`` (whose required columns are then checked)."""
    cols = set(columns)
    if "face_id" in cols:
        return "openface2"
    aus = {c for c in cols if _AU_NAME.fullmatch(c)}
    if not cols & set(POSE + GAZE) and aus == set(CLNF_AU_INTENSITY + CLNF_AU_PRESENCE):
        return "daicwoz_clnf"
    return "edaic"


def _required(fmt: str) -> list[str]:
    if fmt == "edaic":
        return list(EDAIC_OPENFACE_COLUMNS)
    if fmt == "openface2":
        return FACE_META[:1] + ["face_id"] + FACE_META[1:] + FACE_FEATURES
    return FACE_META + CLNF_AU_INTENSITY + CLNF_AU_PRESENCE


def _check_columns(df: pd.DataFrame, required: list[str], path: Path, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        extra = [c for c in df.columns if c not in required]
        raise InputError(path, f"{what}: missing required column(s) {missing}"
                         + (f"; columns not recognised: {extra[:20]}" if extra else ""))


def _select_face(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, int]:
    """Keep the ``face_id == 0`` rows of OpenFace 2.x output; return them and the rows left out."""
    face = strict_numeric(df, ["face_id"], path, what="OpenFace CSV")["face_id"].to_numpy()
    keep = face == 0
    if not keep.any():
        raise InputError(path, f"OpenFace CSV has no rows for face_id 0 (face ids: "
                         f"{sorted(set(face.astype(int).tolist()))[:10]})")
    return df.loc[keep].reset_index(drop=True), int((~keep).sum())


def _typed(num: pd.DataFrame, features: list[str], path: Path, what: str) -> pd.DataFrame:
    """Validate meta columns and build the typed output frame."""
    frame = num["frame"].to_numpy()
    if not np.array_equal(frame, np.round(frame)):
        i = int(np.flatnonzero(frame != np.round(frame))[0])
        raise InputError(path, f"{what}: frame {frame[i]!r} is not an integer (data row {i + 1})")
    success = num["success"].to_numpy()
    bad = ~np.isin(success, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"{what}: success {success[i]!r} is not 0 or 1 (data row {i + 1})")
    confidence = num["confidence"].to_numpy(dtype=np.float64)
    bad = ~((confidence >= 0.0) & (confidence <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"{what}: confidence {float(confidence[i])!r} is outside [0, 1] "
                               f"(data row {i + 1})")
    timestamp = num["timestamp"].to_numpy(dtype=np.float64)
    check_increasing(timestamp, path, what=what, column="timestamp")
    out = pd.DataFrame({"frame": frame.astype(np.int64), "timestamp": timestamp,
                        "confidence": num["confidence"].to_numpy(dtype=np.float32),
                        "success": success.astype(np.int8)})
    feats = pd.DataFrame({c: num[c].to_numpy(dtype=np.float32) for c in features})
    out = pd.concat([out, feats], axis=1)
    out.attrs["missing_features"] = [c for c in FACE_FEATURES if c not in features]
    return out


def read_openface(path: str | Path) -> pd.DataFrame:
    """Read an OpenFace per-frame file of any of :data:`OPENFACE_FORMATS` (see module docstring).

    ``df.attrs["openface_format"]`` says which one it was.  Raises :class:`InputError` for a
    missing or empty file, no data rows, missing required columns (listed), non-numeric or empty
    cells (naming the column), ``success`` other than 0/1, ``confidence`` outside [0, 1] and
    timestamps that do not increase.
    """
    path = Path(path)
    what = "OpenFace CSV"
    df = read_table(path, what=what, skipinitialspace=True)
    fmt = detect_format(list(df.columns))
    required = _required(fmt)
    _check_columns(df, required, path, f"{what} ({fmt} format)")
    other_faces = 0
    if fmt == "openface2":
        df, other_faces = _select_face(df, path)
    features = [c for c in FACE_FEATURES if c in required]
    num = strict_numeric(df, FACE_META + features, path, what=what)
    out = _typed(num, features, path, what)
    out.attrs["openface_format"] = fmt
    out.attrs["other_face_rows"] = other_faces
    out.attrs["source"] = str(path)
    return out


def _read_clnf_part(path: Path, mapping: dict[str, str], what: str) -> pd.DataFrame:
    """Read a CLNF pose/gaze file: ``frame``, ``timestamp`` and the mapped columns (float64).

    Each mapped column may be named as in DAIC-WOZ (``Tx``) or already as in OpenFace 2
    (``pose_Tx``); having both is an error.
    """
    df = read_table(path, what=what, skipinitialspace=True)
    source: dict[str, str] = {}
    for short, target in mapping.items():
        hits = [c for c in (short, target) if c in df.columns]
        if len(hits) > 1:
            raise InputError(path, f"{what}: both {short!r} and {target!r} present; expected one")
        if hits:
            source[hits[0]] = target
    _check_columns(df, ["frame", "timestamp"] + [s for s in mapping if mapping[s] not in source.values()],
                   path, what)
    num = strict_numeric(df, ["frame", "timestamp", *source], path, what=what)
    return num.rename(columns=source)


def _merge_part(base: pd.DataFrame, part: pd.DataFrame, path: Path, what: str) -> pd.DataFrame:
    """Join a pose/gaze part onto the AU frames; frames and timestamps must match one to one."""
    if len(part) != len(base) or not np.array_equal(part["frame"].to_numpy(), base["frame"].to_numpy()):
        raise InputError(path, f"{what}: frames do not match the AU file's ({len(part)} rows vs "
                         f"{len(base)}; first frames {part['frame'].head(3).tolist()} vs "
                         f"{base['frame'].head(3).tolist()})")
    gap = np.abs(part["timestamp"].to_numpy() - base["timestamp"].to_numpy())
    if (gap > 1e-3).any():
        i = int(np.flatnonzero(gap > 1e-3)[0])
        raise InputError(path, f"{what}: timestamp differs from the AU file's at frame "
                         f"{int(base['frame'].iloc[i])} ({part['timestamp'].iloc[i]} vs "
                         f"{base['timestamp'].iloc[i]})")
    cols = [c for c in part.columns if c not in ("frame", "timestamp")]
    merged = base.copy()
    for c in cols:
        merged[c] = part[c].to_numpy(dtype=np.float32)
    return merged


def read_daicwoz_clnf(aus: str | Path, pose: str | Path | None = None,
                      gaze: str | Path | None = None) -> pd.DataFrame:
    """Read a DAIC-WOZ ``_CLNF_AUs.txt`` and merge its ``_CLNF_pose.txt``/``_CLNF_gaze.txt``.

    The parts are joined on ``frame`` (which must list the same frames in the same order) with
    timestamps that agree within 1 ms; their own ``confidence``/``success`` columns are not used
    (the AU file's are).  Column mapping: :data:`CLNF_POSE_MAP`, :data:`CLNF_GAZE_MAP` (both
    assumptions documented there).  Output as :func:`read_openface`, features in
    :data:`~depsev.constants.FACE_FEATURES` order; ``attrs["missing_features"]`` lists the absent
    ones (at least ``gaze_angle_*`` and the AUs CLNF does not estimate).
    """
    aus = Path(aus)
    base = read_openface(aus)
    if base.attrs["openface_format"] != "daicwoz_clnf":
        raise InputError(aus, f"not a DAIC-WOZ CLNF AU file (looks like {base.attrs['openface_format']})")
    merged = base
    for part_path, mapping, what in ((pose, CLNF_POSE_MAP, "CLNF pose file"),
                                     (gaze, CLNF_GAZE_MAP, "CLNF gaze file")):
        if part_path is not None:
            part = _read_clnf_part(Path(part_path), mapping, what)
            merged = _merge_part(merged, part, Path(part_path), what)
    present = [c for c in FACE_FEATURES if c in merged.columns]
    out = merged[FACE_META + present].copy()
    out.attrs = {"openface_format": "daicwoz_clnf", "other_face_rows": 0, "source": str(aus),
                 "missing_features": [c for c in FACE_FEATURES if c not in present],
                 "pose_source": None if pose is None else str(pose),
                 "gaze_source": None if gaze is None else str(gaze)}
    return out

