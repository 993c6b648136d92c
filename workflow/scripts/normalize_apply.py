"""Rule normalize_apply: apply the train-fitted statistics to every session of one split (thin wrapper)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.shards.apply import normalize_session_file

    sm = snakemake  # noqa: F821
    out = Path(sm.output.normalized)
    out.mkdir(parents=True, exist_ok=True)
    for f in sm.input.features:
        print(f, normalize_session_file(f, sm.input.stats, out / Path(f).name, modality=sm.wildcards.normmod))
