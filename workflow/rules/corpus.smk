# Stage 0: the dataset itself (synthetic demo cohort) and the manifest + QC of sessions.


rule demo_generate:
    # Only used when dataset.kind == demo: writes a SYNTHETIC cohort in the E-DAIC layout.
    output:
        cohort=f"{ROOT}/ground_truth/summary.json",
    params:
        participants=DEMO["participants"],
        minutes=DEMO["minutes"],
        seed=DEMO["seed"],
    conda:
        ENV
    log:
        "logs/demo_generate.log",
    benchmark:
        "benchmarks/demo_generate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/demo_generate.py"


checkpoint manifest_build:
    input:
        unpack(manifest_inputs),
    output:
        manifest="results/manifest.parquet",
        qc=report(
            "results/qc/sessions.tsv",
            caption="../report/qc_sessions.rst",
            category="QC summary",
        ),
    params:
        root=ROOT,
        kind=KIND,
        sessions_table=SESSIONS_TABLE or None,
        min_audio=QC["min_audio_seconds"],
        min_face=QC["min_face_success_share"],
        audio_source=AUDIO["source"],
    conda:
        ENV
    log:
        "logs/manifest_build.log",
    benchmark:
        "benchmarks/manifest_build.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/manifest_build.py"
