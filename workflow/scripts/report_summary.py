"""Rule report_summary: the report's front page as an RST fragment (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.evaluate.summary import write_summary

    sm = snakemake  # noqa: F821
    write_summary(sm.output.summary, dataset_kind=sm.params.dataset_kind, dataset_root=sm.params.dataset_root,
                  headline=sm.input.headline, qc_summary=sm.input.qc, integrity=sm.input.integrity,
                  scatter=sm.input.scatter, sessions=sm.input.sessions)
    print(f"front page written to {sm.output.summary}")
