"""Rule qc_summary: participants in / ok / flagged for every stage (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.qc import summarize

    sm = snakemake  # noqa: F821
    stages = {k: list(v) for k, v in sm.input.items() if k not in ("manifest", "shards")}
    table = summarize(read_manifest(sm.input.manifest), stages, list(sm.input.shards))
    table.to_csv(sm.output.summary, sep="\t", index=False)
    print(table.to_string())
