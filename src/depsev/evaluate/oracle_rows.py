"""The synthetic generator's oracle, as the headline table reports it (:mod:`depsev.evaluate.tables`).

The synthetic cohort's generator writes ``ground_truth/oracle.json`` (per split, the planted-effect
oracle's MAE / RMSE / CCC: the best a model can expect on this cohort) and
``ground_truth/participants.csv`` (per participant, its score and the oracle's estimate
``oracle_phq``).  :func:`read_oracle` and :func:`read_oracle_participants` read them (InputError when
absent or malformed); :func:`split_oracle` and :func:`subset_oracle` give the numbers of an oracle
row of the headline table, for a whole split and for its AI-agent participants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from depsev.errors import InputError, read_json
from depsev.evaluate.aggregate import Source
from depsev.evaluate.metrics import ccc, mae, rmse

#: columns the synthetic generator's ``ground_truth/participants.csv`` must have for the oracle rows
ORACLE_PARTICIPANT_COLUMNS = ["participant_id", "split", "interviewer", "phq_score", "oracle_phq"]
#: the note of every oracle row
ORACLE_NOTE = ("the synthetic generator's planted-effect oracle (nothing fitted): the best a model can "
               "expect on this cohort")


def read_oracle(path: str | Path) -> dict[str, Any]:
    """The synthetic generator's ``ground_truth/oracle.json`` (InputError when absent or malformed)."""
    p = Path(path)
    report = read_json(p, missing="oracle file not found")
    if not isinstance(report, dict) or not isinstance(report.get("splits"), dict):
        raise InputError(p, "oracle file has no 'splits' mapping")
    return report


def read_oracle_participants(path: str | Path) -> pd.DataFrame:
    """The generator's per-participant ``ground_truth/participants.csv`` (InputError when absent or
    lacking :data:`ORACLE_PARTICIPANT_COLUMNS`, or with non-finite scores)."""
    from depsev.corpus.sessions import read_table

    return check_oracle_participants(read_table(path, what="oracle participants file"), Path(path))


def check_oracle_participants(table: pd.DataFrame, source: Source) -> pd.DataFrame:
    """The :data:`ORACLE_PARTICIPANT_COLUMNS` of ``table``, scores numeric (InputError otherwise)."""
    missing = [c for c in ORACLE_PARTICIPANT_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(source, f"oracle participants table lacks column(s) {missing}")
    out = table[ORACLE_PARTICIPANT_COLUMNS].copy()
    for col in ("phq_score", "oracle_phq"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
        if out[col].isna().any():
            raise InputError(source, f"column {col!r}: {int(out[col].isna().sum())} missing or non-numeric "
                                     "value(s)")
    return out


def split_oracle(report: Mapping[str, Any], split: str) -> tuple[Mapping[str, Any], float]:
    """``(metrics, n)`` of the oracle on ``split`` from the generator's report (InputError when it lacks
    the oracle's mae / rmse / ccc)."""
    entry = report.get("splits", {}).get(split, {}).get("oracle")
    if not isinstance(entry, Mapping) or not all(k in entry for k in ("mae", "rmse", "ccc")):
        raise InputError(None, f"oracle report has no oracle mae/rmse/ccc for split {split!r}")
    n = entry.get("n")
    return entry, math.nan if n is None else float(n)


def subset_oracle(people: pd.DataFrame | None, split: str, interviewer: str
                  ) -> tuple[dict[str, float], float, str]:
    """``(metrics, n, note)`` of the oracle on ``split``'s participants of ``interviewer``, computed from
    the generator's participants table (no metrics when it is not given or holds none of them)."""
    if people is None:
        return {}, math.nan, "per-participant oracle (ground_truth/participants.csv) not given"
    part = people[(people["split"].astype(str) == split) & (people["interviewer"].astype(str) == interviewer)]
    if part.empty:
        return {}, 0.0, (f"no {split} participant with interviewer == {interviewer!r} in the oracle "
                         "participants table")
    y, pred = part["phq_score"].to_numpy(float), part["oracle_phq"].to_numpy(float)
    return ({"mae": mae(y, pred), "rmse": rmse(y, pred), "ccc": ccc(y, pred)}, float(len(part)),
            f"{ORACLE_NOTE}; {split} participants with interviewer == {interviewer!r} only")
