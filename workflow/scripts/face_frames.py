"""Rule face_frames: OpenFace CSV -> per-session face-frame Parquet (thin wrapper)."""

from pathlib import Path

import _depsev  # noqa: F401 - puts the checkout's src/ on sys.path

from depsev.workflow import job, write_json

with job(snakemake):  # noqa: F821 - injected by Snakemake
    from depsev.features.face import face_frames

    csv = Path(snakemake.input.csv)  # noqa: F821
    extra = {}
    if csv.name.endswith("_CLNF_AUs.txt"):  # DAIC-WOZ: pose and gaze live in sibling files
        for part in ("pose", "gaze"):
            sibling = csv.with_name(csv.name.replace("_CLNF_AUs.txt", f"_CLNF_{part}.txt"))
            extra[part] = sibling if sibling.exists() else None
    qc = face_frames(csv, snakemake.output.parquet,  # noqa: F821
                     confidence_threshold=snakemake.params.confidence_threshold,  # noqa: F821
                     openface_image=snakemake.params.openface_image or None,  # noqa: F821
                     openface_binary=snakemake.params.openface_binary or None, **extra)  # noqa: F821
    print(qc)
    write_json({"participant_id": int(snakemake.wildcards.pid), **qc}, snakemake.output.qc)  # noqa: F821
