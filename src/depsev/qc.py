"""QC summary across stages: participants in / ok / flagged, with reasons.

Each per-session stage writes a small JSON QC record (``results/qc/<stage>/<ID>.json``) whose
``flags`` list is empty when the session is fine; the shard stage writes one TSV per modality and
split.  :func:`summarize` turns them into one table so that count in = ok + flagged can be checked
at a glance for every stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

#: a face clock may end this much after the audio (seconds, or this share of the audio, the larger):
#: generous, because how much longer a real video runs than its audio is not known here; the errors
#: it is for are gross (timestamps in ms run 1000x too long)
CLOCK_TOLERANCE_S, CLOCK_TOLERANCE_SHARE = 60.0, 0.25
#: OpenFace writes every frame (success 0 without a face): a longer step between timestamps is a
#: broken clock, not a pause
MAX_FACE_GAP_S = 30.0


def timestamp_stats(timestamps) -> dict:
    """``first_timestamp``, ``last_timestamp``, ``max_gap_s`` of a face file's timestamps (None if empty)."""
    import numpy as np

    t = np.asarray(timestamps, dtype=np.float64)
    if t.size == 0:
        return {"first_timestamp": None, "last_timestamp": None, "max_gap_s": None}
    return {"first_timestamp": float(t[0]), "last_timestamp": float(t[-1]),
            "max_gap_s": float(np.max(np.diff(t))) if t.size > 1 else 0.0}


def face_clock_problems(stats: dict, audio_duration_s: float | None) -> list[str]:
    """What is wrong with a session's face clock (:func:`timestamp_stats`) given its audio duration.

    A jump of more than :data:`MAX_FACE_GAP_S`, or timestamps running past the audio by more than the
    tolerance (timestamps in ms, a 1000 s offset) would put one instant's face beside another instant's
    speech.  Used by the manifest (flag) and ``depsev predict`` (low confidence).
    """
    import math

    problems = []
    gap = stats.get("max_gap_s")
    if gap is not None and gap > MAX_FACE_GAP_S:
        problems.append(f"face timestamps jump by {gap:.0f} s (OpenFace writes every frame)")
    last = stats.get("last_timestamp")
    audio = None if audio_duration_s is None else float(audio_duration_s)
    if last is not None and audio is not None and math.isfinite(audio):
        if last > audio + max(CLOCK_TOLERANCE_S, CLOCK_TOLERANCE_SHARE * audio):
            problems.append(f"face timestamps run to {last:.0f} s, the audio lasts {audio:.0f} s "
                            "(a clock in ms, or an offset?)")
    return problems


def qc_flags(record: dict) -> list[str]:
    """The flags of a QC record (``flags`` list, or a single ``flag``)."""
    flags = record.get("flags")
    if flags is None:
        flags = [record["flag"]] if record.get("flag") else []
    return [str(f) for f in flags]


def _stage_row(stage: str, records: list[dict]) -> dict:
    flagged = {int(r["participant_id"]): "; ".join(qc_flags(r)) for r in records if qc_flags(r)}
    return {"stage": stage, "participants_in": len(records), "ok": len(records) - len(flagged),
            "flagged": len(flagged),
            "flagged_detail": " | ".join(f"{pid}: {why}" for pid, why in sorted(flagged.items()))}


def summarize(manifest: pd.DataFrame, stage_files: dict[str, list[str | Path]],
              shard_files: list[str | Path]) -> pd.DataFrame:
    """One row per stage (and per shard modality/split)."""
    rows = []
    status = manifest["status"].astype(str)
    flagged = manifest.loc[status != "ok"]
    detail = [f"{pid}: {why.removeprefix('flagged: ')}"
              for pid, why in zip(flagged["participant_id"], flagged["status"], strict=True)]
    rows.append({"stage": "manifest", "participants_in": len(manifest), "ok": int((status == "ok").sum()),
                 "flagged": len(flagged), "flagged_detail": " | ".join(detail)})
    for stage, files in stage_files.items():
        records = [json.loads(Path(f).read_text()) for f in files]
        rows.append(_stage_row(stage, records))
    for f in shard_files:
        f = Path(f)
        df = pd.read_csv(f, sep="\t")
        reason = df["reason"].fillna("").astype(str) if "reason" in df.columns else pd.Series([""] * len(df))
        bad = reason != ""
        pids = df.loc[bad, "participant_id"]
        detail = [f"{pid}: {why}" for pid, why in zip(pids, reason[bad], strict=True)]
        rows.append({"stage": f"shards:{f.stem}", "participants_in": len(df), "ok": int((~bad).sum()),
                     "flagged": int(bad.sum()), "flagged_detail": " | ".join(detail)})
    return pd.DataFrame(rows, columns=["stage", "participants_in", "ok", "flagged", "flagged_detail"])
