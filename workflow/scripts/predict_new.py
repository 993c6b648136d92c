"""Rule predict_new: one new session end to end (thin wrapper over depsev.predict.session)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.predict.result import summary_line, write_result
    from depsev.predict.session import predict_session

    sm = snakemake  # noqa: F821
    p = sm.params
    res = predict_session(sm.input.model, sm.input.session, kind=p.kind, interviewer=p.interviewer,
                          normalize_dir=Path(sm.input.stats[0]).parent, segmentation=p.segmentation,
                          denoise=p.denoise, normalize_audio=p.normalize, confidence_threshold=p.confidence,
                          vggish_weights=None if p.weights == "random" else p.weights,
                          openface_image=p.image, openface_runtime=p.openface_runtime,
                          work_dir=f"results/predict/{sm.wildcards.pid}_features",
                          threads=sm.threads)
    write_result(res, sm.output.json)
    print(summary_line(res))
