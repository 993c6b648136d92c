"""The manifest: one row per participant, with files, audio/face facts and a QC status.

Count in = count out + flagged: every participant of the label files appears (``ok`` or
``flagged: <reason>``), and so does every session found on disk without a label (flagged).
The feature stages run only for ``ok`` sessions; later stages report their own failures in their
QC tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.constants import phq_band
from depsev.errors import InputError

MANIFEST_COLUMNS = [
    "participant_id", "split", "interviewer", "phq_score", "band", "phq_binary", "gender",
    "audio_path", "transcript_path", "openface_path", "video_path", "vgg16_path", "egemaps_path",
    "audio_duration_s", "audio_sample_rate", "audio_channels", "face_frames", "face_success_share",
    "status",
]


@dataclass(frozen=True)
class QCThresholds:
    """Thresholds that turn a readable session into a flagged one."""

    min_audio_seconds: float = 10.0
    min_face_success_share: float = 0.1
    #: which inputs a session needs: "depsev" (wav) or "edaic_shipped" (vgg16.csv)
    audio_source: str = "depsev"


def _path_str(p: Path | None) -> str:
    return "" if p is None else str(p)


def _audio_facts(files, qc: QCThresholds, reasons: list[str]) -> dict:
    from depsev.corpus.sessions import audio_info

    facts = {"audio_duration_s": np.nan, "audio_sample_rate": pd.NA, "audio_channels": pd.NA}
    if qc.audio_source == "edaic_shipped":
        if files.vgg16 is None:
            reasons.append("no shipped vgg16.csv (audio.source: edaic_shipped)")
    if files.audio is None:
        if qc.audio_source == "depsev":
            reasons.append("no audio file")
        return facts
    try:
        info = audio_info(files.audio)
    except InputError as exc:
        reasons.append(f"audio: {exc.problem}")
        return facts
    facts.update(audio_duration_s=float(info["duration_s"]), audio_sample_rate=int(info["sample_rate"]),
                 audio_channels=int(info["channels"]))
    if info["duration_s"] < qc.min_audio_seconds:
        reasons.append(f"audio {info['duration_s']:.1f} s < {qc.min_audio_seconds:g} s")
    return facts


def _check_transcript(files, qc: QCThresholds, reasons: list[str]) -> None:
    """The transcript, read as ``audio_clean`` reads it (it chooses the participant's speech): a file
    that reader refuses is a QC flag here, not a failed job (and a stopped run) later."""
    if files.transcript is None or qc.audio_source != "depsev":
        return
    from depsev.corpus.transcripts import read_transcript

    try:
        read_transcript(files.transcript)
    except InputError as exc:
        reasons.append(f"transcript: {exc.problem.removeprefix('transcript: ')}")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _face_facts(files, qc: QCThresholds, reasons: list[str], audio_duration_s: float | None = None) -> dict:
    from depsev.corpus.openface import read_daicwoz_clnf, read_openface
    from depsev.qc import face_clock_problems, timestamp_stats

    facts = {"face_frames": pd.NA, "face_success_share": np.nan}
    if files.openface is None:
        if files.video is None:
            reasons.append("no face data (neither OpenFace CSV nor video)")
        elif not _PLAIN_NAME.fullmatch(files.video.name):
            # it would go to the OpenFace container: names it writes stay plain (the rule quotes anyway)
            reasons.append(f"video file name {files.video.name!r} has characters other than ASCII letters, "
                           "digits, '.', '_' and '-': rename it")
        # a video without a CSV goes through the openface_extract rule; frames unknown yet
        return facts
    try:
        if files.openface.name.endswith("_CLNF_AUs.txt"):
            df = read_daicwoz_clnf(files.openface, files.openface_pose, files.openface_gaze)
        else:
            df = read_openface(files.openface)
    except InputError as exc:
        reasons.append(f"openface: {exc.problem}")
        return facts
    n = len(df)
    share = float((df["success"] == 1).mean()) if n else 0.0
    facts.update(face_frames=n, face_success_share=share)
    if n == 0:
        reasons.append("no face frames")
    elif share < qc.min_face_success_share:
        reasons.append(f"face success share {share:.2f} < {qc.min_face_success_share:g}")
    reasons.extend(face_clock_problems(timestamp_stats(df["timestamp"].to_numpy()), audio_duration_s))
    return facts


def build_manifest(root: str | Path, kind: str, *, sessions_table: str | Path | None = None,
                   qc: QCThresholds | None = None) -> pd.DataFrame:
    """Read labels and sessions under ``root`` and return the manifest (see ``MANIFEST_COLUMNS``).

    Label-file problems that make the whole run meaningless (missing file, duplicate or cross-split
    IDs, PHQ out of range) raise :class:`InputError`; problems of one session flag that session.
    """
    from depsev.corpus.labels import read_labels
    from depsev.corpus.sessions import find_sessions, interviewer_for, read_sessions_table

    qc = qc or QCThresholds()
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, f"dataset root does not exist (dataset.kind: {kind})")
    labels = read_labels(root, kind)
    sessions = find_sessions(root, kind)
    overrides = read_sessions_table(sessions_table) if sessions_table else None

    rows = []
    labelled = set(int(p) for p in labels["participant_id"])
    for rec in labels.itertuples(index=False):
        pid = int(rec.participant_id)
        reasons: list[str] = []
        row = {"participant_id": pid, "split": rec.split, "gender": rec.gender,
               "phq_score": int(rec.phq_score), "band": phq_band(rec.phq_score),
               "phq_binary": int(rec.phq_binary)}
        try:
            row["interviewer"] = interviewer_for(pid, overrides)
        except ValueError as exc:
            row["interviewer"] = ""
            reasons.append(str(exc))
        files = sessions.get(pid)
        if files is None:
            reasons.append("labelled but no session files found")
            row.update(audio_duration_s=np.nan, face_frames=pd.NA, face_success_share=np.nan)
        else:
            row.update(_audio_facts(files, qc, reasons))
            _check_transcript(files, qc, reasons)
            row.update(_face_facts(files, qc, reasons, row["audio_duration_s"]))
            row.update(_file_columns(files))
        row["status"] = "ok" if not reasons else "flagged: " + "; ".join(reasons)
        rows.append(row)

    for pid in sorted(set(sessions) - labelled):
        files = sessions[pid]
        reasons = ["session on disk has no label in any split file"]
        row = {"participant_id": pid, "split": "", "gender": "", "phq_score": pd.NA, "band": pd.NA,
               "phq_binary": pd.NA}
        try:
            row["interviewer"] = interviewer_for(pid, overrides)
        except ValueError:
            row["interviewer"] = ""
        row.update(_audio_facts(files, qc, []))
        row.update(_face_facts(files, qc, []))
        row.update(_file_columns(files))
        row["status"] = "flagged: " + "; ".join(reasons)
        rows.append(row)

    return _typed(pd.DataFrame(rows))


def _file_columns(files) -> dict:
    return {"audio_path": _path_str(files.audio), "transcript_path": _path_str(files.transcript),
            "openface_path": _path_str(files.openface), "video_path": _path_str(files.video),
            "vgg16_path": _path_str(files.vgg16), "egemaps_path": _path_str(files.egemaps)}


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in MANIFEST_COLUMNS:
        if col not in df.columns:
            df[col] = "" if col.endswith("_path") else pd.NA
    df = df[MANIFEST_COLUMNS].copy()
    df["participant_id"] = df["participant_id"].astype("int64")
    for col in ("phq_score", "band", "phq_binary", "audio_sample_rate", "audio_channels", "face_frames"):
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    for col in ("audio_duration_s", "face_success_share"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in ("split", "interviewer", "gender", "status") + tuple(c for c in MANIFEST_COLUMNS
                                                                   if c.endswith("_path")):
        df[col] = df[col].fillna("").astype(str)
    return df.sort_values(["split", "participant_id"], key=_split_order).reset_index(drop=True)


def _split_order(s: pd.Series) -> pd.Series:
    if s.name == "split":
        return s.map({"train": 0, "dev": 1, "test": 2}).fillna(3)
    return s


def write_manifest(df: pd.DataFrame, parquet_path: str | Path, qc_tsv: str | Path,
                   *, dataset_kind: str) -> dict:
    """Write the manifest Parquet and the QC table; return counts (in, ok, flagged)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_path, qc_tsv = Path(parquet_path), Path(qc_tsv)
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    qc_tsv.parent.mkdir(parents=True, exist_ok=True)
    counts = manifest_counts(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {"dataset_kind": dataset_kind, "synthetic": dataset_kind == "demo", **counts}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"depsev": json.dumps(meta).encode()})
    pq.write_table(table, parquet_path, compression="zstd")
    df.to_csv(qc_tsv, sep="\t", index=False)
    return counts


def manifest_counts(df: pd.DataFrame) -> dict:
    ok = int((df["status"] == "ok").sum())
    labelled = int((df["split"] != "").sum())
    return {"participants_in": int(len(df)), "labelled": labelled, "ok": ok,
            "flagged": int(len(df) - ok)}


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read ``results/manifest.parquet`` (InputError when missing or not a manifest)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "manifest not found (run the manifest_build rule first)")
    df = pd.read_parquet(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"not a depsev manifest: missing columns {missing}")
    return df


def ok_sessions(df: pd.DataFrame, split: str | None = None) -> list[int]:
    """IDs of sessions with status ``ok`` (optionally of one split), in manifest order."""
    sel = df["status"] == "ok"
    if split is not None:
        sel &= df["split"] == split
    return [int(p) for p in df.loc[sel, "participant_id"]]
