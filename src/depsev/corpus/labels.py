"""Strict readers of the E-DAIC and DAIC-WOZ label (split) files.

E-DAIC ``labels/{train,dev,test}_split.csv``: ``Participant_ID, Gender, PHQ_Binary, PHQ_Score,
PCL-C (PTSD), PTSD Severity``.  DAIC-WOZ ``train_split_Depression_AVEC2017.csv`` and
``dev_split_Depression_AVEC2017.csv`` (``Participant_ID, PHQ8_Binary, PHQ8_Score, Gender,
PHQ8_NoInterest, ...``) and ``full_test_split.csv`` (``Participant_ID, PHQ_Binary, PHQ_Score,
Gender``).  Column names and cell values are stripped (the real files carry ``'female '``).

``phq_binary`` is always derived from the score (``PHQ_Score >= 10``): the shipped E-DAIC
``PHQ_Binary`` disagrees with it in 20 rows, so the shipped value is kept only as
``phq_binary_shipped``.  Gender: DAIC-WOZ codes it as 0/1; depsev reads **0 as female and 1 as
male** (the AVEC 2016/2017 documentation's coding; an assumption that affects only the
descriptive ``gender`` column, never a model input).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from depsev.constants import BINARY_THRESHOLD, PHQ_MAX, PHQ_MIN, SPLITS, phq_band
from depsev.corpus.sessions import normalize_kind, parse_int, read_table
from depsev.errors import InputError

#: label file names per layout and split (looked for in ``<root>/labels`` and ``<root>``)
SPLIT_FILES: dict[str, dict[str, str]] = {
    "edaic": {"train": "train_split.csv", "dev": "dev_split.csv", "test": "test_split.csv"},
    "daic-woz": {"train": "train_split_Depression_AVEC2017.csv",
                 "dev": "dev_split_Depression_AVEC2017.csv", "test": "full_test_split.csv"},
}
LABEL_COLUMNS = ["participant_id", "split", "gender", "phq_score", "phq_binary", "phq_binary_shipped",
                 "band"]
#: DAIC-WOZ's numeric gender coding (assumed: 0 = female, 1 = male)
GENDER_CODES = {"0": "female", "1": "male"}
#: PHQ-8 items in questionnaire order (E-DAIC ``PHQ_8NoInterest`` ..., DAIC-WOZ ``PHQ8_NoInterest``)
PHQ8_ITEMS = ["no_interest", "depressed", "sleep", "tired", "appetite", "failure", "concentrating",
              "moving"]
_ITEM_KEYS = {f"phq8{item.replace('_', '')}": item for item in PHQ8_ITEMS}
_ID_NAMES = ("participant_id",)
_SCORE_NAMES = ("phq_score", "phq8_score")
_BINARY_NAMES = ("phq_binary", "phq8_binary")
_GENDER_NAMES = ("gender",)


def _find_column(df: pd.DataFrame, names: tuple[str, ...], path: Path, *, required: bool) -> str | None:
    """The column whose stripped, lower-cased name is one of ``names`` (InputError if ambiguous)."""
    hits = [c for c in df.columns if c.lower() in names]
    if len(hits) > 1:
        raise InputError(path, f"ambiguous columns {hits}: expected only one of them")
    if not hits:
        if required:
            raise InputError(path, f"missing required column {' or '.join(names)} (any case); "
                             f"the file has columns {list(df.columns)}")
        return None
    return hits[0]


def _line(i: int) -> str:
    return f"data row {i + 1}"


def _ids(df: pd.DataFrame, col: str, path: Path) -> list[int]:
    ids = []
    for i, raw in enumerate(df[col]):
        pid = parse_int(raw)
        if pid is None:
            raise InputError(path, f"{_line(i)}: Participant_ID {raw!r} is not an integer")
        ids.append(pid)
    seen: dict[int, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen:
            raise InputError(path, f"participant {pid} is listed twice ({_line(seen[pid])} and {_line(i)})")
        seen[pid] = i
    return ids


def _scores(df: pd.DataFrame, col: str, ids: list[int], path: Path) -> list[int]:
    scores = []
    for i, (pid, raw) in enumerate(zip(ids, df[col], strict=True)):
        score = parse_int(raw)
        if score is None:
            raise InputError(path, f"participant {pid} ({_line(i)}): {col} {raw!r} is not an integer")
        if not PHQ_MIN <= score <= PHQ_MAX:
            raise InputError(path, f"participant {pid} ({_line(i)}): {col} {score} is outside "
                             f"{PHQ_MIN}..{PHQ_MAX}")
        scores.append(score)
    return scores


def _shipped_binary(df: pd.DataFrame, col: str | None, ids: list[int], path: Path) -> pd.array:
    if col is None:
        return pd.array([pd.NA] * len(ids), dtype="Int64")
    values: list[int | None] = []
    for i, (pid, raw) in enumerate(zip(ids, df[col], strict=True)):
        if str(raw).strip() == "":
            values.append(None)
            continue
        value = parse_int(raw)
        if value not in (0, 1):
            raise InputError(path, f"participant {pid} ({_line(i)}): {col} {raw!r} is not 0 or 1")
        values.append(value)
    return pd.array(values, dtype="Int64")


def _genders(df: pd.DataFrame, col: str | None) -> list[str]:
    if col is None:
        return [""] * len(df)
    out = []
    for raw in df[col]:
        text = str(raw).strip().lower()
        out.append(GENDER_CODES.get(text, text))
    return out


def read_split_file(path: str | Path, split: str) -> pd.DataFrame:
    """Read one split file into the columns of :data:`LABEL_COLUMNS` (see the module docstring).

    Raises :class:`InputError` (naming the file, and the row/participant where there is one) for
    a missing or empty file, a missing ``Participant_ID``/``PHQ_Score`` column, a non-integer ID
    or score, a score outside 0..24, a shipped binary other than 0/1, or an ID listed twice.
    """
    path = Path(path)
    if split not in SPLITS:
        raise InputError(path, f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    df = read_table(path, what="split file", dtype=str, keep_default_na=False)
    id_col = _find_column(df, _ID_NAMES, path, required=True)
    score_col = _find_column(df, _SCORE_NAMES, path, required=True)
    binary_col = _find_column(df, _BINARY_NAMES, path, required=False)
    gender_col = _find_column(df, _GENDER_NAMES, path, required=False)
    ids = _ids(df, id_col, path)
    scores = _scores(df, score_col, ids, path)
    out = pd.DataFrame({
        "participant_id": pd.array(ids, dtype="int64"),
        "split": split,
        "gender": _genders(df, gender_col),
        "phq_score": pd.array(scores, dtype="int64"),
        "phq_binary": pd.array([int(s >= BINARY_THRESHOLD) for s in scores], dtype="int64"),
        "phq_binary_shipped": _shipped_binary(df, binary_col, ids, path),
        "band": pd.array([phq_band(s) for s in scores], dtype="int64"),
    })
    out["split"] = out["split"].astype(str)
    out["gender"] = out["gender"].astype(str)
    out.attrs["source"] = str(path)
    return out


def find_split_files(root: str | Path, kind: str) -> dict[str, Path]:
    """Locate the three split files of a corpus in ``<root>/labels`` or ``<root>``.

    Raises :class:`InputError` listing every expected file that is missing, or naming both copies
    when a file exists in both places.
    """
    root = Path(root)
    layout = normalize_kind(kind, root)
    found: dict[str, Path] = {}
    missing = []
    for split, name in SPLIT_FILES[layout].items():
        hits = [p for p in (root / "labels" / name, root / name) if p.is_file()]
        if len(hits) > 1:
            raise InputError(hits[0], f"{split} label file found twice: {hits[0]} and {hits[1]} (keep one)")
        if hits:
            found[split] = hits[0]
        else:
            missing.append(f"{split}: {name}")
    if missing:
        raise InputError(root, f"missing label file(s) for dataset kind {kind!r}: {'; '.join(missing)} "
                         f"(looked in {root / 'labels'} and {root})")
    return found


def read_labels(root: str | Path, kind: str) -> pd.DataFrame:
    """Read the train, dev and test split files of a corpus (kind: demo | edaic | daic-woz).

    Returns the rows of all splits in train, dev, test order (columns :data:`LABEL_COLUMNS`).
    Besides the errors of :func:`read_split_file`, a participant listed in two splits is an
    :class:`InputError` naming both files.
    """
    files = find_split_files(root, kind)
    frames = []
    where: dict[int, tuple[str, Path]] = {}
    for split in SPLITS:
        df = read_split_file(files[split], split)
        for pid in df["participant_id"]:
            pid = int(pid)
            if pid in where:
                other_split, other_path = where[pid]
                raise InputError(files[split], f"participant {pid} is in two splits: {other_split} "
                                 f"({other_path}) and {split} ({files[split]})")
            where[pid] = (split, files[split])
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"sources": {s: str(p) for s, p in files.items()}}
    return out


def _item_columns(df: pd.DataFrame, path: Path) -> tuple[dict[str, str], str]:
    """Map PHQ-8 item names and the total to the file's columns (by normalised name)."""
    def key(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch.isalnum())

    by_key = {key(c): c for c in df.columns}
    items = {item: by_key.get(k) for k, item in _ITEM_KEYS.items()}
    total = by_key.get("phq8total")
    missing = [f"PHQ_8{item.title().replace('_', '')}" for item, c in items.items() if c is None]
    if total is None:
        missing.append("PHQ_8Total")
    if missing:
        raise InputError(path, f"missing required column(s) {missing}; the file has columns "
                         f"{list(df.columns)}")
    return {item: str(c) for item, c in items.items()}, total


def read_detailed_phq8(path: str | Path) -> pd.DataFrame:
    """Read E-DAIC ``labels/Detailed_PHQ8_Labels.csv``: the eight PHQ-8 items and the total.

    Returns ``participant_id`` (int64), the items of :data:`PHQ8_ITEMS` (int64, 0..3) and
    ``phq_score`` (the file's total, int64).  Raises :class:`InputError` for missing columns,
    non-integer or out-of-range values, duplicate IDs, and items that do not sum to the total
    (naming the participant).
    """
    path = Path(path)
    df = read_table(path, what="detailed PHQ-8 label file", dtype=str, keep_default_na=False)
    id_col = _find_column(df, _ID_NAMES, path, required=True)
    items, total_col = _item_columns(df, path)
    ids = _ids(df, id_col, path)
    out: dict[str, list[int]] = {"participant_id": ids}
    for item, col in items.items():
        values = []
        for i, (pid, raw) in enumerate(zip(ids, df[col], strict=True)):
            value = parse_int(raw)
            if value is None or not 0 <= value <= 3:
                raise InputError(path, f"participant {pid} ({_line(i)}): {col} {raw!r} is not an "
                                 "integer 0..3")
            values.append(value)
        out[item] = values
    out["phq_score"] = _scores(df, total_col, ids, path)
    for i, pid in enumerate(ids):
        item_sum = sum(out[item][i] for item in PHQ8_ITEMS)
        if item_sum != out["phq_score"][i]:
            raise InputError(path, f"participant {pid} ({_line(i)}): items sum to {item_sum} but "
                             f"{total_col} is {out['phq_score'][i]}")
    return pd.DataFrame({k: pd.array(v, dtype="int64") for k, v in out.items()})
