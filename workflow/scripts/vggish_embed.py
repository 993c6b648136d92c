"""Rule vggish_embed: VGGish fc2 (4096-d) and 128-d embeddings of the cleaned audio (thin wrapper)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    import torch

    from depsev.features.vggish import vggish_session

    sm = snakemake  # noqa: F821
    torch.set_num_threads(max(1, sm.threads))
    qc = vggish_session(sm.input.wav, sm.input.segments, sm.output.parquet,
                        weights=sm.params.weights, sha256=sm.params.sha256,
                        allow_random=sm.params.allow_random, batch_size=sm.params.batch_size,
                        precision=sm.params.precision)
    print(qc)
    write_json({"participant_id": int(sm.wildcards.pid), **qc}, sm.output.qc)
