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
