"""Rule opensmile_lld: openSMILE eGeMAPS low-level descriptors of the cleaned audio (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.features.egemaps import egemaps_session

    sm = snakemake  # noqa: F821
    qc = egemaps_session(sm.input.wav, sm.input.segments, sm.output.parquet,
                         feature_set=sm.params.feature_set, feature_level=sm.params.feature_level)
    print(qc)
    write_json({"participant_id": int(sm.wildcards.pid), **qc}, sm.output.qc)
