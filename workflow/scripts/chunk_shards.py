"""Rule chunk_shards: normalized per-session features -> chunks -> Parquet shards (thin wrapper)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    import pandas as pd

    from depsev.corpus.manifest import read_manifest
    from depsev.shards.chunks import ChunkConfig, build_shards

    sm = snakemake  # noqa: F821
    modality, split = sm.wildcards.modality, sm.wildcards.split
    streams = ["video", "audio"] if modality == "fusion" else [modality]
    folders = {s: Path(sm.input[f"{s}_normalized"]) for s in streams}
    stats = {s: sm.input[f"{s}_stats"] for s in streams}
    cfg = ChunkConfig.coerce({**sm.params.chunks, "dataset_kind": sm.params.dataset_kind})
    out_root = Path(sm.output.shards).parents[1]
    qc = build_shards(read_manifest(sm.input.manifest), folders, stats, out_root, modality=modality,
                      split=split, cfg=cfg)
    rows = pd.DataFrame(qc["participants"])
    if "reason" not in rows.columns:
        rows["reason"] = ""
    rows["reason"] = rows["reason"].fillna("")
    rows.to_csv(sm.output.qc, sep="\t", index=False)
    print({k: v for k, v in qc.items() if k != "participants"})
