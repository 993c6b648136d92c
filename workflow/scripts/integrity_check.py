"""Rule integrity_check: split disjointness, train-only statistics, no test data in training."""

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.evaluate.integrity import check_integrity

    sm = snakemake  # noqa: F821
    result = check_integrity(read_manifest(sm.input.manifest), list(sm.input.stats), list(sm.input.shards),
                             list(sm.input.models))
    write_json(result, sm.output.report)
    print(result)
