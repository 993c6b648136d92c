"""Finding a corpus' session files, audio facts, interviewer types, and strict table reading.

Session discovery walks the dataset root once and recognises files by *name* (case-insensitive),
not by depth, so ``data/<ID>_P/``, ``data/<ID>_P/<ID>_P/`` (a doubly extracted archive) and a
DAIC-WOZ ``<ID>_P/`` at the root are all found.  Two files of the same kind for one participant
are an error that names both: depsev never guesses which one is meant.

The two table helpers :func:`read_table` and :func:`strict_numeric` are shared by every corpus
reader: they turn pandas' parser errors and non-numeric cells into :class:`InputError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.constants import INTERVIEWERS, interviewer_from_id
from depsev.errors import InputError

#: dataset kinds; ``demo`` is a synthetic cohort in the E-DAIC layout
KINDS = ("demo", "edaic", "daic-woz")
VIDEO_EXTENSIONS = ("mp4", "avi", "mov", "wmv", "mkv")

_ID = r"(?P<pid>[0-9]+)"
_VIDEO = _ID + r"(?![0-9]).*\.(?:" + "|".join(VIDEO_EXTENSIONS) + r")"
#: file-name patterns (matched case-insensitively against the whole name) per SessionFiles field
_PATTERNS: dict[str, dict[str, str]] = {
    "edaic": {
        "audio": _ID + r"_AUDIO\.wav",
        "transcript": _ID + r"_Transcript\.csv",
        "openface": _ID + r"_OpenFace2\.1\.0_Pose_gaze_AUs\.csv",
        "vgg16": _ID + r"_vgg16\.csv",
        "egemaps": _ID + r"_OpenSMILE2\.3\.0_egemaps\.csv",
        "video": _VIDEO,
    },
    "daic-woz": {
        "audio": _ID + r"_AUDIO\.wav",
        "transcript": _ID + r"_TRANSCRIPT\.csv",
        "openface": _ID + r"_CLNF_AUs\.txt",
        "openface_pose": _ID + r"_CLNF_pose\.txt",
        "openface_gaze": _ID + r"_CLNF_gaze\.txt",
        "video": _VIDEO,
    },
}
_SESSION_DIR = re.compile(r"(?P<pid>[0-9]+)_P", re.IGNORECASE)


@dataclass(frozen=True)
class SessionFiles:
    """The files of one session (``None`` where the corpus has none for it)."""

    participant_id: int
    directory: Path
    audio: Path | None = None
    transcript: Path | None = None
    openface: Path | None = None
    openface_pose: Path | None = None
    openface_gaze: Path | None = None
    video: Path | None = None
    vgg16: Path | None = None
    egemaps: Path | None = None


def normalize_kind(kind: str, root: str | Path | None = None) -> str:
    """Return the file layout of a dataset kind: ``edaic`` (also for ``demo``) or ``daic-woz``."""
    if kind not in KINDS:
        raise InputError(root, f"unknown dataset kind {kind!r} (expected one of {', '.join(KINDS)})")
    return "edaic" if kind == "demo" else kind


def _compiled(layout: str) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(pat, re.IGNORECASE) for name, pat in _PATTERNS[layout].items()}


def _walk(root: Path) -> Iterable[tuple[Path, list[str], list[str]]]:
    """``os.walk`` in sorted order, skipping hidden folders (``.git``, ``.snakemake``, ...)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield Path(dirpath), dirnames, sorted(filenames)


def _session_directory(pid: int, files: list[Path], session_dirs: list[Path], root: Path) -> Path:
    """The closest ``<ID>_P`` folder holding all of a session's files (else their common folder)."""
    if not files:
        return max(session_dirs, key=lambda p: len(p.parts))
    common = Path(os.path.commonpath([str(f.parent) for f in files]))
    for candidate in (common, *common.parents):
        if candidate.name.lower() == f"{pid}_p":
            return candidate
        if candidate == root:
            break
    return common


def find_sessions(root: str | Path, kind: str) -> dict[int, SessionFiles]:
    """Find every session under ``root`` (``kind``: demo | edaic | daic-woz), keyed by participant ID.

    A session is any participant with at least one recognised file or an ``<ID>_P`` folder (an
    empty one is returned with all files ``None`` so that later stages flag it rather than lose
    it).  Raises :class:`InputError` when the root is missing or one file kind matches twice.
    """
    root = Path(root)
    layout = normalize_kind(kind, root)
    if not root.is_dir():
        raise InputError(root, "dataset root does not exist or is not a folder")
    patterns = _compiled(layout)
    found: dict[int, dict[str, Path]] = {}
    session_dirs: dict[int, list[Path]] = {}
    for dirpath, dirnames, filenames in _walk(root):
        for d in dirnames:
            m = _SESSION_DIR.fullmatch(d)
            if m:
                session_dirs.setdefault(int(m["pid"]), []).append(dirpath / d)
        for name in filenames:
            for field, pattern in patterns.items():
                m = pattern.fullmatch(name)
                if not m:
                    continue
                pid = int(m["pid"])
                slot = found.setdefault(pid, {})
                if field in slot:
                    raise InputError(slot[field], f"participant {pid} has two {field} files: "
                                     f"{slot[field]} and {dirpath / name} (keep one)")
                slot[field] = dirpath / name
                break
    sessions = {}
    for pid in sorted(set(found) | set(session_dirs)):
        files = found.get(pid, {})
        directory = _session_directory(pid, list(files.values()), session_dirs.get(pid, []), root)
        sessions[pid] = SessionFiles(participant_id=pid, directory=directory, **files)
    return sessions


def audio_info(path: str | Path) -> dict:
    """``duration_s, sample_rate, channels, frames`` of an audio file (via ``soundfile.info``).

    Raises :class:`InputError` for a missing, empty (0 bytes or 0 frames) or unreadable file.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "audio file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "audio file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InputError(path, f"unreadable or corrupt audio file ({exc})") from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise InputError(path, f"audio file holds no samples ({info.frames} frames)")
    if str(info.subtype).upper() in ("FLOAT", "DOUBLE"):  # only float samples can be NaN/inf
        block_frames = 1 << 20
        blocks = sf.blocks(str(path), blocksize=block_frames, dtype="float32", always_2d=True)
        for i, block in enumerate(blocks):
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                at = (i * block_frames + int(np.flatnonzero(bad)[0])) / info.samplerate
                raise InputError(path, f"audio holds NaN or infinite samples (first at {at:.2f} s)")
    declared = wav_declared_frames(path)
    if declared is not None and declared > info.frames + info.samplerate // 100:  # > 10 ms missing
        raise InputError(path, f"truncated: its WAV header declares {declared / info.samplerate:.1f} s, "
                               f"the file holds {info.frames / info.samplerate:.1f} s")
    return {"duration_s": float(info.frames) / float(info.samplerate), "sample_rate": int(info.samplerate),
            "channels": int(info.channels), "frames": int(info.frames)}


def wav_declared_frames(path: str | Path) -> int | None:
    """Frames a PCM WAV file's header declares (its ``data`` chunk size), read with the standard
    library's ``wave``; ``None`` for other formats and for the sizes streaming writers leave unset
    (0 or 0xFFFFFFFF).  libsndfile silently shortens a truncated file to what is there; comparing
    the two finds the truncation."""
    import wave

    if Path(path).suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as w:
            frames, frame_bytes = w.getnframes(), w.getsampwidth() * w.getnchannels()
    except (wave.Error, EOFError, OSError, ValueError):
        return None
    if frames <= 0 or frames * frame_bytes >= 0xFFFFFFF0:
        return None
    return int(frames)


def interviewer_for(participant_id: int, overrides: dict[int, str] | None = None) -> str:
    """Interviewer type (``woz``/``ai``) of a participant.

    ``overrides`` (from :func:`read_sessions_table`) wins; otherwise the E-DAIC ID-range convention
    (:func:`depsev.constants.interviewer_from_id`), which raises ``ValueError`` outside its ranges.
    """
    pid = int(participant_id)
    if overrides and pid in overrides:
        value = overrides[pid]
        if value not in INTERVIEWERS:
            raise ValueError(f"participant {pid}: interviewer {value!r} is not one of {INTERVIEWERS}")
        return value
    return interviewer_from_id(pid)


def _sniff_sep(path: Path) -> str:
    """Tab for ``.tsv`` files or a tab in the header line, else comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, encoding="utf-8", errors="replace") as fh:
        return "\t" if "\t" in fh.readline() else ","


def read_sessions_table(path: str | Path) -> dict[int, str]:
    """Read a TSV/CSV with columns ``participant_id, interviewer`` (woz|ai) into ``{id: type}``."""
    path = Path(path)
    sep = _sniff_sep(path) if path.is_file() else ","
    df = read_table(path, what="sessions table", sep=sep, dtype=str, keep_default_na=False)
    cols = {c.lower(): c for c in df.columns}
    missing = [c for c in ("participant_id", "interviewer") if c not in cols]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; the file has columns {list(df.columns)}")
    out: dict[int, str] = {}
    for i, (raw_id, raw_type) in enumerate(zip(df[cols["participant_id"]], df[cols["interviewer"]],
                                               strict=True)):
        pid = parse_int(raw_id)
        if pid is None:
            raise InputError(path, f"data row {i + 1}: participant_id {raw_id!r} is not an integer")
        kind = str(raw_type).strip().lower()
        if kind not in INTERVIEWERS:
            raise InputError(path, f"data row {i + 1} (participant {pid}): interviewer {raw_type!r} "
                             f"is not one of {', '.join(INTERVIEWERS)}")
        if pid in out:
            raise InputError(path, f"participant {pid} is listed twice")
        out[pid] = kind
    return out


# --- strict table reading shared by the corpus readers -------------------------------------------

_ASCII_INT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")


def parse_int(value: object) -> int | None:
    """``int`` of a cell such as ``'7'``, ``' 7 '`` or ``'7.0'``; ``None`` when not an integer.

    ASCII digits only, written plainly: ``'1e1'``, ``'1_0'``, full-width or Arabic-Indic digits (which
    Python's ``int``/``float`` accept) are not integers here.
    """
    text = str(value).strip()
    if not _ASCII_INT.fullmatch(text):
        return None
    return int(text.split(".")[0])


def read_table(path: str | Path, *, what: str, sep: str = ",", **read_csv_kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` that raises :class:`InputError` for missing, empty or unparsable files.

    Column names are stripped; duplicate names (after stripping) and a header without data rows
    are errors.  ``what`` names the kind of file in messages ("OpenFace CSV", "split file", ...).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, f"{what} not found")
    if not path.is_file():
        raise InputError(path, f"{what} is not a file")
    if path.stat().st_size == 0:
        raise InputError(path, f"{what} is empty (0 bytes)")
    try:
        df = pd.read_csv(path, sep=sep, **read_csv_kwargs)
    except pd.errors.EmptyDataError as exc:
        raise InputError(path, f"{what} is empty (no header line)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InputError(path, f"{what} could not be parsed: {exc}") from exc
    names = [str(c).strip() for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(path, f"{what} has duplicate column name(s) {dup}")
    df.columns = names
    if len(df) == 0:
        raise InputError(path, f"{what} has a header but no data rows")
    return df


def strict_numeric(df: pd.DataFrame, columns: Iterable[str], path: str | Path, *,
                   what: str = "file", allow_missing: bool = False) -> pd.DataFrame:
    """The given columns as float64, or :class:`InputError` naming the column and data row.

    Text cells that are not numbers, and (unless ``allow_missing``) empty/NaN or infinite cells,
    are errors.  Row numbers count data rows from 1 (the header is not a data row).
    """
    out = {}
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            conv = pd.to_numeric(s, errors="coerce")
            text = s.astype("string").str.strip()
            bad = conv.isna() & text.notna() & (text != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(path, f"{what}: non-numeric value {s.iloc[i]!r} in column '{col}' "
                                 f"(data row {i + 1})")
            values = conv.to_numpy(dtype=np.float64, na_value=np.nan)
        if not allow_missing:
            nonfinite = ~np.isfinite(values)
            if nonfinite.any():
                i = int(np.flatnonzero(nonfinite)[0])
                kind = "empty/NaN" if np.isnan(values[i]) else "infinite"
                raise InputError(path, f"{what}: {kind} value in column '{col}' (data row {i + 1}; "
                                 f"{int(nonfinite.sum())} such row(s))")
        out[col] = values
    return pd.DataFrame(out, index=df.index)


def check_increasing(times: np.ndarray, path: str | Path, *, what: str, column: str) -> None:
    """InputError unless ``times`` is strictly increasing (names the first offending data row)."""
    if len(times) > 1:
        step = np.diff(times)
        if (step <= 0).any():
            i = int(np.flatnonzero(step <= 0)[0]) + 1
            raise InputError(path, f"{what}: column '{column}' is not strictly increasing at data row "
                             f"{i + 1} ({float(times[i - 1]):g} then {float(times[i]):g})")
