"""The cohort's files in the E-DAIC layout, and the rules for the folder they are written into.

Where a session's audio, transcript and OpenFace CSV live (:func:`audio_path`, :func:`transcript_path`,
:func:`openface_path`); the split files with E-DAIC's quirks and ``Detailed_PHQ8_Labels.csv``
(:func:`write_labels`); the transcript rows (:func:`transcript_table`); a fast CSV writer for the
big face tables (:func:`write_csv_fast`).  :data:`COHORT_MARKER` marks a folder the generator wrote:
:func:`check_cohort_folder` refuses a folder that holds data but no marker (a real corpus, say), and
only a marked folder is ever emptied (``overwrite``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from depsev.constants import SPLITS
from depsev.corpus.synthetic.timeline import Timeline

#: E-DAIC Detailed_PHQ8_Labels.csv columns
PHQ8_ITEMS = ["PHQ_8NoInterest", "PHQ_8Depressed", "PHQ_8Sleep", "PHQ_8Tired", "PHQ_8Appetite",
              "PHQ_8Failure", "PHQ_8Concentrating", "PHQ_8Moving"]
SPLIT_COLUMNS = ["Participant_ID", "Gender", "PHQ_Binary", "PHQ_Score", "PCL-C (PTSD)", "PTSD Severity"]
TRANSCRIPT_COLUMNS = ["Start_Time", "End_Time", "Text", "Confidence"]


_WORDS = np.array("yeah i think um well it was okay really work sleep family and so you know "
                  "just like about time friends tired kind of the good not much feel day".split())


def transcript_table(tl: Timeline, rng: np.random.Generator) -> pd.DataFrame:
    """E-DAIC transcript rows: one per participant answer (placeholder words, ASR-like confidence)."""
    ans = tl.turns[tl.turns["speaker"] == "participant"]
    texts = [" ".join(rng.choice(_WORDS, max(1, round(ns / 1.3)))) for ns in ans["n_syllables"]]
    return pd.DataFrame({"Start_Time": ans["start"].round(3).to_numpy(),
                         "End_Time": ans["end"].round(3).to_numpy(), "Text": texts,
                         "Confidence": rng.uniform(0.8, 1.0, len(ans)).round(6)})


def write_labels(labels_dir: Path, cohort: pd.DataFrame, items: dict[int, np.ndarray]) -> None:
    """Split files with the real quirks, and Detailed_PHQ8_Labels.csv for train + dev."""
    labels_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        part = cohort[cohort["split"] == split]
        gender = np.where(part["gender_trailing_space"], part["gender"] + " ", part["gender"])
        pd.DataFrame({"Participant_ID": part["participant_id"].to_numpy(), "Gender": gender,
                      "PHQ_Binary": part["phq_binary_shipped"].to_numpy(),
                      "PHQ_Score": part["phq_score"].to_numpy(),
                      "PCL-C (PTSD)": part["pcl_c_ptsd"].to_numpy(),
                      "PTSD Severity": part["ptsd_severity"].to_numpy()},
                     columns=SPLIT_COLUMNS).to_csv(labels_dir / f"{split}_split.csv", index=False)
    known = cohort[cohort["split"] != "test"]
    rows = [[pid, *items[pid], int(items[pid].sum())] for pid in known["participant_id"]]
    pd.DataFrame(rows, columns=["Participant_ID", *PHQ8_ITEMS, "PHQ_8Total"]).to_csv(
        labels_dir / "Detailed_PHQ8_Labels.csv", index=False)


def write_csv_fast(df: pd.DataFrame, path: Path) -> None:
    """Plain comma-separated CSV (unquoted header, shortest float repr) via pyarrow: fast for big tables."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "wb") as fh:
        fh.write((",".join(df.columns) + "\n").encode())
        pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), fh,
                        pacsv.WriteOptions(include_header=False))


def openface_path(root: Path, pid: int) -> Path:
    """Where the E-DAIC OpenFace CSV of a session lives."""
    return root / "data" / f"{pid}_P" / "features" / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"


def audio_path(root: Path, pid: int) -> Path:
    """Where the session audio lives."""
    return root / "data" / f"{pid}_P" / f"{pid}_AUDIO.wav"


def transcript_path(root: Path, pid: int) -> Path:
    """Where the session transcript lives."""
    return root / "data" / f"{pid}_P" / f"{pid}_Transcript.csv"


#: The file ``generate_cohort`` writes into its folder before anything else; only a folder holding it
#: is ever emptied (``overwrite``): depsev deletes only what it wrote itself.
COHORT_MARKER = ".depsev-synthetic-cohort.json"
_COHORT_PARTS = ("labels", "data", "ground_truth")


def is_synthetic_cohort(out: str | Path) -> bool:
    """Whether ``out`` holds :data:`COHORT_MARKER` as :func:`generate_cohort` writes it (or, from depsev
    versions before the marker, its ``ground_truth/summary.json`` with the same generator)."""
    for marker in (Path(out) / COHORT_MARKER, Path(out) / "ground_truth" / "summary.json"):
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("generator") == "depsev.corpus.synthetic" \
                and meta.get("synthetic") is True:
            return True
    return False


def check_cohort_folder(out: str | Path) -> list[Path]:
    """The non-empty ``labels/``, ``data/``, ``ground_truth/`` of ``out`` (an earlier cohort).

    Raises ValueError when there are any and ``out`` has no :data:`COHORT_MARKER`: that is data
    depsev did not write (a real corpus, say), which it must neither delete nor mix a cohort into.
    Called when the workflow's DAG is built (``dataset.kind: demo``) and before writing a cohort.
    """
    out = Path(out)
    parts = [out / name for name in _COHORT_PARTS]
    stale = [p for p in parts if p.is_dir() and any(p.iterdir())]
    if stale and not is_synthetic_cohort(out):
        held = ", ".join(p.name + "/" for p in stale)
        raise ValueError(f"{out} holds {held} but no {COHORT_MARKER}: not a synthetic cohort written by "
                         "depsev (a real corpus?); depsev will neither delete nor write into it. Write the "
                         "demo cohort to another folder (dataset.root), or set dataset.kind to edaic / "
                         "daic-woz for a real corpus")
    return stale


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, remove) an earlier cohort: stale sessions must never mix in.
    Only a cohort depsev wrote (:func:`check_cohort_folder`) is ever removed."""
    import shutil

    stale = check_cohort_folder(out)
    if stale and not overwrite:
        raise ValueError(f"{out} already holds a cohort ({', '.join(p.name for p in stale)} not empty); "
                         "remove it first or pass overwrite=True")
    for p in stale:
        shutil.rmtree(p)
