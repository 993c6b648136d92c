"""Corpus readers (E-DAIC, DAIC-WOZ, the synthetic demo in the E-DAIC layout).

Every reader is strict: bad input raises :class:`depsev.errors.InputError` naming the file and
the problem.  See ``docs/CONTRACT.md`` ("corpus/ (readers)") for the returned shapes.
"""

from __future__ import annotations

from depsev.corpus.labels import find_split_files, read_detailed_phq8, read_labels, read_split_file
from depsev.corpus.openface import read_daicwoz_clnf, read_openface
from depsev.corpus.sessions import (
    SessionFiles,
    audio_info,
    find_sessions,
    interviewer_for,
    read_sessions_table,
)
from depsev.corpus.shipped import read_egemaps_csv, read_vgg16_csv
from depsev.corpus.transcripts import read_transcript

__all__ = [
    "SessionFiles",
    "audio_info",
    "find_sessions",
    "find_split_files",
    "interviewer_for",
    "read_daicwoz_clnf",
    "read_detailed_phq8",
    "read_egemaps_csv",
    "read_labels",
    "read_openface",
    "read_sessions_table",
    "read_split_file",
    "read_transcript",
    "read_vgg16_csv",
]
