"""Integrity checks built into the DAG (rule ``integrity_check``).

Each check returns ``{"ok": bool, "detail": ...}``; :func:`check_integrity` raises
:class:`IntegrityError` when any fails, so a leaking run stops instead of reporting numbers:

- no participant is in two splits (and every shard row's split matches the manifest);
- the normalization statistics were fitted on training participants only, and every shard was
  built with exactly those statistics (sha256 recorded in the shard metadata);
- no checkpoint's training data fingerprint mentions a test shard, and every checkpoint records
  that it read only the train and dev splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from depsev.hashing import file_sha256
from depsev.shards.schema import decode_metadata, shard_files


class IntegrityError(RuntimeError):
    """A leakage or bookkeeping problem that makes the evaluation meaningless."""


def check_splits(manifest: pd.DataFrame) -> dict:
    labelled = manifest.loc[manifest["split"] != ""]
    per_id = labelled.groupby("participant_id")["split"].nunique()
    multi = [int(p) for p in per_id[per_id > 1].index]
    dup = [int(p) for p in labelled.loc[labelled["participant_id"].duplicated(), "participant_id"]]
    n = int(labelled["participant_id"].nunique())
    return {"ok": not multi and not dup,
            "detail": {"in_two_splits": multi, "listed_twice": dup, "n_participants": n}}


def check_statistics(manifest: pd.DataFrame, stats_files: list[str | Path]) -> dict:
    train = set(int(p) for p in manifest.loc[manifest["split"] == "train", "participant_id"])
    detail, ok = {}, True
    for f in stats_files:
        f = Path(f)
        stats = json.loads(f.read_text())
        used = set(int(p) for p in stats.get("participant_ids", []))
        leaked = sorted(used - train)
        good = stats.get("fitted_on") == "train" and not leaked and bool(used)
        ok &= good
        detail[f.name] = {"fitted_on": stats.get("fitted_on"), "n_participants": len(used),
                          "non_train_participants": leaked, "sha256": file_sha256(f)}
    return {"ok": ok, "detail": detail}


def check_shards(manifest: pd.DataFrame, stats_files: list[str | Path], shard_dirs: list[str | Path]) -> dict:
    sha = {Path(f).stem: file_sha256(Path(f)) for f in stats_files}
    split_of = dict(zip(manifest["participant_id"].astype(int), manifest["split"], strict=True))
    problems = []
    for d in shard_dirs:
        d = Path(d)
        for f in shard_files(d):
            import pyarrow.parquet as pq

            meta = decode_metadata(pq.read_schema(f), f)
            for stream, info in meta.get("streams", {}).items():
                norm = (info.get("normalization") or {}).get("sha256")
                if stream in sha and norm != sha[stream]:
                    problems.append(f"{f}: {stream} normalized with sha256 {norm}, expected {sha[stream]}")
            rows = pq.read_table(f, columns=["participant_id", "split"]).to_pandas()
            for pid, split in zip(rows["participant_id"], rows["split"], strict=True):
                if split_of.get(int(pid)) != split:
                    problems.append(f"{f}: participant {pid} is in split {split!r} here but "
                                    f"{split_of.get(int(pid))!r} in the manifest")
    return {"ok": not problems, "detail": problems[:50]}


def check_checkpoints(model_dirs: list[str | Path]) -> dict:
    problems = []
    for d in model_dirs:
        cfg = json.loads((Path(d) / "config.json").read_text())
        data = cfg.get("data", {})
        if sorted(data.get("splits", [])) != ["dev", "train"]:
            problems.append(f"{d}: trained on splits {data.get('splits')}")
        dirs = (data.get("fingerprint") or {}).get("dirs", [])
        if not dirs:
            problems.append(f"{d}: no data fingerprint (cannot show which shards it read)")
        for entry in dirs:
            shard_dir = entry.get("dir", "") if isinstance(entry, dict) else str(entry)
            if "test" in Path(shard_dir).parts:
                problems.append(f"{d}: trained on {shard_dir}")
    return {"ok": not problems, "detail": problems}


def check_integrity(manifest: pd.DataFrame, stats_files: list[str | Path], shard_dirs: list[str | Path],
                    model_dirs: list[str | Path]) -> dict:
    """Run every check; raise :class:`IntegrityError` listing the failures."""
    result = {"splits_disjoint": check_splits(manifest),
              "statistics_from_train": check_statistics(manifest, stats_files),
              "shards_use_train_statistics": check_shards(manifest, stats_files, shard_dirs),
              "checkpoints_train_dev_only": check_checkpoints(model_dirs)}
    failed = [k for k, v in result.items() if not v["ok"]]
    result["ok"] = not failed
    if failed:
        raise IntegrityError(f"integrity checks failed: {failed}: "
                             + json.dumps({k: result[k]["detail"] for k in failed})[:4000])
    return result
