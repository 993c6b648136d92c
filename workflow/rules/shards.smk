# Stage 2: normalization fitted on the TRAINING split only (min-max then z-score, paper eq. 1-2),
# applied to every session; chunking into fixed-size sequences written as Parquet shards.


rule normalize_fit:
    input:
        manifest="results/manifest.parquet",
        features=normalize_fit_inputs,
    output:
        stats="results/normalize/{normmod}.json",
    params:
        feature_dir=lambda wildcards: FEATURE_DIR[wildcards.normmod],
        face_features=FACE_FEATURE_SET,
    conda:
        ENV
    log:
        "logs/normalize_fit/{normmod}.log",
    benchmark:
        "benchmarks/normalize_fit/{normmod}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/normalize_fit.py"


rule normalize_apply:
    # one job per split (cheap: a few arithmetic passes), writing one file per session
    input:
        features=normalize_apply_inputs,
        stats="results/normalize/{normmod}.json",
    output:
        normalized=directory("results/normalized/{normmod}/{split}"),
    log:
        "logs/normalize_apply/{normmod}_{split}.log",
    benchmark:
        "benchmarks/normalize_apply/{normmod}_{split}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/normalize_apply.py"


rule chunk_shards:
    input:
        unpack(chunk_shards_inputs),
    output:
        shards=directory("results/shards/{modality}/{split}"),
        qc="results/qc/shards/{modality}_{split}.tsv",
    params:
        chunks=CHUNKS,
        dataset_kind=KIND,
        weights=VGGISH["weights"],
        audio_source=AUDIO["source"],
    conda:
        ENV
    log:
        "logs/chunk_shards/{modality}_{split}.log",
    benchmark:
        "benchmarks/chunk_shards/{modality}_{split}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/chunk_shards.py"
