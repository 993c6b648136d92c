"""Rule normalize_fit: min-max then z-score statistics from the TRAINING split only (thin wrapper)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.corpus.manifest import read_manifest
    from depsev.shards.normalize import fit_from_files, save_stats

    sm = snakemake  # noqa: F821
    manifest = read_manifest(sm.input.manifest)
    paths = {int(Path(p).stem): Path(p) for p in sm.input.features}
    stats = fit_from_files(paths, manifest, sm.wildcards.normmod, face_features=sm.params.face_features)
    save_stats(stats, sm.output.stats)
    print(f"fitted {sm.wildcards.normmod} statistics on {len(paths)} training sessions")
