"""Rule audio_clean: 16 kHz mono, denoise, participant speech only (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.features.audio import clean_session

    sm = snakemake  # noqa: F821
    qc = clean_session(sm.input.wav, sm.output.wav, sm.output.segments,
                       transcript_path=sm.input.get("transcript"),
                       segmentation=sm.params.segmentation, denoise=sm.params.denoise,
                       normalize=sm.params.normalize)
    print(qc)
    write_json({"participant_id": int(sm.wildcards.pid), **qc}, sm.output.qc)
