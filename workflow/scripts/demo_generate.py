"""Rule demo_generate: write the SYNTHETIC demo cohort (thin wrapper)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.synthetic import generate_cohort

    sm = snakemake  # noqa: F821
    root = Path(sm.output.cohort).parents[1]
    summary = generate_cohort(root, participants=sm.params.participants, minutes=sm.params.minutes,
                              seed=sm.params.seed, overwrite=True)
    print(f"SYNTHETIC demo cohort written to {root}: {summary}")
