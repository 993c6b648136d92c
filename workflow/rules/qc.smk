# QC summary over every stage: participants in / ok / flagged, so that nobody disappears silently.


rule qc_summary:
    input:
        unpack(stage_qc_files),
        manifest="results/manifest.parquet",
        shards=expand("results/qc/shards/{modality}_{split}.tsv", modality=SHARD_MODALITIES, split=SPLITS),
    output:
        summary=report(
            "results/qc/summary.tsv",
            caption="../report/qc_summary.rst",
            category="QC summary",
        ),
    conda:
        ENV
    log:
        "logs/qc_summary.log",
    benchmark:
        "benchmarks/qc_summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/qc_summary.py"
