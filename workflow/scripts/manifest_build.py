"""Checkpoint manifest_build: one row per participant with files, facts and QC status (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import QCThresholds, build_manifest, write_manifest

    sm = snakemake  # noqa: F821
    qc = QCThresholds(min_audio_seconds=sm.params.min_audio, min_face_success_share=sm.params.min_face,
                      audio_source=sm.params.audio_source)
    df = build_manifest(sm.params.root, sm.params.kind, sessions_table=sm.params.sessions_table, qc=qc)
    print(write_manifest(df, sm.output.manifest, sm.output.qc, dataset_kind=sm.params.kind))
