"""Rule normalize_apply: apply the train-fitted statistics to one session (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import log_to, single_log

with log_to(single_log(snakemake)):  # noqa: F821 - injected by Snakemake
    from depsev.shards.apply import normalize_session_file

    sm = snakemake  # noqa: F821
    print(normalize_session_file(sm.input.features, sm.input.stats, sm.output.parquet,
                                 modality=sm.wildcards.normmod))
