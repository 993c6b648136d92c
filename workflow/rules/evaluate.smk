# Stage 4: evaluation. Only here is the test split read. Participant-level metrics (chunk
# predictions aggregated per participant) are the headline; chunk level is reported beside them.


rule evaluate:
    # one job per model: chunk predictions of every seed on dev and test, then participant-level
    # (headline) and chunk-level metrics, breakdowns, and the mean predictor beside them
    input:
        models=expand("results/models/{{model}}/seed{seed}", seed=SEEDS),
        dev=model_shards_dev,
        test=model_shards_test,
        manifest="results/manifest.parquet",
    output:
        predictions=expand("results/predictions/{{model}}/seed{seed}/{split}.parquet", seed=SEEDS,
                           split=["dev", "test"]),
        metrics=expand("results/metrics/{{model}}/seed{seed}/{split}.json", seed=SEEDS, split=["dev", "test"]),
    log:
        "logs/evaluate/{model}.log",
    benchmark:
        "benchmarks/evaluate/{model}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule integrity_check:
    # no participant in two splits; normalization statistics fitted on train only and used by
    # every shard; the test split never reached training (checked from the checkpoints' configs)
    input:
        manifest="results/manifest.parquet",
        stats=expand("results/normalize/{normmod}.json", normmod=["video", "audio"]),
        shards=expand("results/shards/{modality}/{split}", modality=SHARD_MODALITIES, split=SPLITS),
        models=expand("results/models/{model}/seed{seed}", model=trained_models(), seed=SEEDS),
    output:
        report=report("results/qc/integrity.json", category="QC summary"),
    log:
        "logs/integrity_check.log",
    benchmark:
        "benchmarks/integrity_check.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/integrity_check.py"


rule tables_build:
    # the paper's Tables 5 and 6 and the headline table (real run, shuffled control, mean
    # predictor and -- on the synthetic cohort -- the generator's oracle)
    input:
        unpack(tables_inputs),
    output:
        grid=report("results/tables/comparison_grid.csv", category="Tables"),
        headline=report("results/tables/headline.csv", category="Tables"),
        published=report("results/tables/published.csv", category="Tables"),
        aggregation=report("results/tables/aggregation.csv", category="Tables"),
    params:
        dataset_kind=KIND,
        config_name=CONFIG_NAME,
        shuffled_control=EVAL["shuffled_control"],
    log:
        "logs/tables_build.log",
    benchmark:
        "benchmarks/tables_build.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/tables_build.py"


rule lightweight_table:
    # the paper's Table 4: parameters, MB, FLOPs per chunk pair, CPU latency; the trained models at the
    # run's chunk sizes, then this run's fusion model and the paper preset's at the paper's chunk sizes
    input:
        models=expand("results/models/{model}/seed{seed}", model=model_names(), seed=SEEDS[:1]),
        preset=PAPER_PRESET,
    output:
        table=report("results/tables/lightweight.csv", category="Tables"),
    params:
        chunks=CHUNKS,
        dataset_kind=KIND,
        config_name=CONFIG_NAME,
        sized=table4_sized_models,
        batch_size=EVAL["latency_batch_size"],
        repeats=EVAL["latency_repeats"],
    log:
        "logs/lightweight_table.log",
    benchmark:
        "benchmarks/lightweight_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/lightweight_table.py"
