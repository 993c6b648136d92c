# Stage 1 (audio): clean the recording (16 kHz mono, spectral-gating denoise, participant speech only),
# then VGGish fc2 (4096-d) + 128-d embeddings and openSMILE eGeMAPS low-level descriptors (read by no
# model: default targets only with audio.opensmile.enabled, otherwise made when a file is asked for).
# Alternative (audio.source: edaic_shipped): read the corpus' own vgg16.csv / eGeMAPS CSVs.


rule audio_clean:
    input:
        unpack(audio_clean_inputs),
    output:
        wav="results/features/audio/{pid}.wav",
        segments="results/features/audio/{pid}_segments.parquet",
        qc="results/qc/audio/{pid}.json",
    params:
        segmentation=AUDIO["segmentation"],
        denoise=AUDIO["denoise"],
        normalize=AUDIO["normalize"],
    conda:
        ENV
    log:
        "logs/audio_clean/{pid}.log",
    benchmark:
        "benchmarks/audio_clean/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    script:
        "../scripts/audio_clean.py"


rule vggish_embed:
    input:
        wav="results/features/audio/{pid}.wav",
        segments="results/features/audio/{pid}_segments.parquet",
    output:
        parquet="results/features/vggish/{pid}.parquet",
        qc="results/qc/vggish/{pid}.json",
    params:
        weights=VGGISH["weights"],
        sha256=VGGISH["sha256"],
        allow_random=IS_DEMO,
        batch_size=VGGISH["batch_size"],
        precision=VGGISH["precision"],
    conda:
        ENV
    log:
        "logs/vggish_embed/{pid}.log",
    benchmark:
        "benchmarks/vggish_embed/{pid}.tsv"
    # one thread: per-session jobs run side by side (raise with --set-threads vggish_embed=N)
    threads: 1
    resources:
        mem_mb=2500,
    script:
        "../scripts/vggish_embed.py"


rule opensmile_lld:
    input:
        wav="results/features/audio/{pid}.wav",
        segments="results/features/audio/{pid}_segments.parquet",
    output:
        parquet="results/features/egemaps/{pid}.parquet",
        qc="results/qc/egemaps/{pid}.json",
    params:
        feature_set=OPENSMILE["feature_set"],
        feature_level=OPENSMILE["feature_level"],
    conda:
        ENV
    log:
        "logs/opensmile_lld/{pid}.log",
    benchmark:
        "benchmarks/opensmile_lld/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/opensmile_lld.py"


rule vgg16_read:
    # audio.source: edaic_shipped -- E-DAIC's DeepSpectrum VGG16 fc2 features (4096-d, 1 s hop)
    input:
        csv=shipped_vgg16,
    output:
        parquet="results/features/vgg16_shipped/{pid}.parquet",
    conda:
        ENV
    log:
        "logs/vgg16_read/{pid}.log",
    benchmark:
        "benchmarks/vgg16_read/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    script:
        "../scripts/shipped_read.py"


rule egemaps_read:
    # audio.source: edaic_shipped -- E-DAIC's openSMILE 2.3.0 eGeMAPS LLDs (23 columns)
    input:
        csv=shipped_egemaps,
    output:
        parquet="results/features/egemaps_shipped/{pid}.parquet",
    conda:
        ENV
    log:
        "logs/egemaps_read/{pid}.log",
    benchmark:
        "benchmarks/egemaps_read/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/shipped_read.py"
