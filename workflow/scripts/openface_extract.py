"""Rule openface_extract: OpenFace 2.x FeatureExtraction on a session's video, in the pinned image
(thin wrapper over depsev.features.openface_container.run_feature_extraction, which
`depsev predict --video` calls too)."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.features.openface_container import run_feature_extraction

    sm = snakemake  # noqa: F821
    csv = run_feature_extraction(sm.input.video, sm.output.csv, int(sm.wildcards.pid), image=sm.params.image,
                                 binary=sm.params.binary, runtime=sm.params.runtime, log=sm.log.tool)
    print(f"{sm.input.video} -> {csv} (FeatureExtraction's command and output: {sm.log.tool})")
