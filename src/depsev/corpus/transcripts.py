"""Strict reader of E-DAIC and DAIC-WOZ transcripts.

* E-DAIC ``<ID>_Transcript.csv``: comma-separated ``Start_Time,End_Time,Text,Confidence`` (ASR of
  the participant's speech only, so every row's speaker is ``participant``).
* DAIC-WOZ ``<ID>_TRANSCRIPT.csv``: tab-separated ``start_time stop_time speaker value``, speaker
  ``Ellie`` (the interviewer) or ``Participant``.

The shape is recognised from the header (tab in the header line -> DAIC-WOZ), column names are
matched stripped and case-insensitively.  Rows are returned in file order, none dropped; an empty
text cell becomes ``""``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.corpus.sessions import read_table, strict_numeric
from depsev.errors import InputError

PARTICIPANT, INTERVIEWER = "participant", "interviewer"
#: DAIC-WOZ speaker labels (stripped, lower-case) -> depsev speaker
DAICWOZ_SPEAKERS = {"participant": PARTICIPANT, "ellie": INTERVIEWER}
_EDAIC = {"start": "start_time", "end": "end_time", "text": "text"}
_DAICWOZ = {"start": "start_time", "end": "stop_time", "speaker": "speaker", "text": "value"}
TRANSCRIPT_COLUMNS = ["start", "end", "speaker", "text"]


def _header_line(path: Path) -> str:
    if not path.is_file():
        raise InputError(path, "transcript not found")
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline()


def _columns(df: pd.DataFrame, wanted: dict[str, str], path: Path, fmt: str) -> dict[str, str]:
    by_lower = {c.lower(): c for c in df.columns}
    missing = [name for name in wanted.values() if name not in by_lower]
    if missing:
        raise InputError(path, f"transcript ({fmt}): missing column(s) {missing}; the file has columns "
                         f"{list(df.columns)}")
    return {key: by_lower[name] for key, name in wanted.items()}


def _speakers(values: pd.Series, path: Path) -> list[str]:
    out = []
    for i, raw in enumerate(values):
        speaker = DAICWOZ_SPEAKERS.get(str(raw).strip().lower())
        if speaker is None:
            raise InputError(path, f"transcript: unknown speaker {raw!r} (data row {i + 1}); expected "
                             "Ellie or Participant")
        out.append(speaker)
    return out


def read_transcript(path: str | Path) -> pd.DataFrame:
    """Read a transcript into ``start, end`` (float64 s), ``speaker``, ``text`` (see module doc).

    ``df.attrs["transcript_format"]`` is ``edaic`` or ``daicwoz``.  Bytes that are not UTF-8 (a
    latin-1 character in the text, which no stage uses) become U+FFFD instead of failing the file.
    Raises :class:`InputError`
    for a missing/empty file, no rows, missing columns, non-numeric or empty times, end < start,
    or (DAIC-WOZ) a speaker other than Ellie/Participant.
    """
    path = Path(path)
    header = _header_line(path)
    fmt = "daicwoz" if "\t" in header else "edaic"
    if fmt == "daicwoz":
        # DAIC-WOZ text is not quoted and may contain quote characters
        df = read_table(path, what="transcript", sep="\t", dtype=str, keep_default_na=False,
                        quoting=csv.QUOTE_NONE, encoding_errors="replace")
    else:
        df = read_table(path, what="transcript", sep=",", dtype=str, keep_default_na=False,
                        encoding_errors="replace")
    cols = _columns(df, _DAICWOZ if fmt == "daicwoz" else _EDAIC, path, fmt)
    times = strict_numeric(df, [cols["start"], cols["end"]], path, what="transcript")
    start = times[cols["start"]].to_numpy(dtype=np.float64)
    end = times[cols["end"]].to_numpy(dtype=np.float64)
    if (end < start).any():
        i = int(np.flatnonzero(end < start)[0])
        raise InputError(path, f"transcript: end {end[i]} is before start {start[i]} (data row {i + 1})")
    if (start < 0).any():
        i = int(np.flatnonzero(start < 0)[0])
        raise InputError(path, f"transcript: negative start time {start[i]} (data row {i + 1})")
    speaker = _speakers(df[cols["speaker"]], path) if fmt == "daicwoz" else [PARTICIPANT] * len(df)
    text = df[cols["text"]].fillna("").astype(str).str.strip()
    out = pd.DataFrame({"start": start, "end": end, "speaker": speaker, "text": text.to_numpy()})
    out["speaker"] = out["speaker"].astype(str)
    out["text"] = out["text"].astype(str)
    out.attrs = {"transcript_format": fmt, "source": str(path)}
    return out
