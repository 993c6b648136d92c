# Stage 5: figures for the HTML report (snakemake --report results/report.html), for the headline
# model (moe-fusion, first seed) on dev and test, and its training curves (the paper's figures 6-8).


rule plots_render:
    input:
        predictions="results/predictions/moe-fusion/seed{seed}/{split}.parquet",
        # the chunk weighting the evaluation chose on dev: the figures aggregate as the tables do
        metrics="results/metrics/moe-fusion/seed{seed}/{split}.json",
    output:
        confusion=report("results/plots/moe-fusion/seed{seed}/{split}_confusion.png",
                         category="Confusion matrices", subcategory="{split}"),
        scatter=report("results/plots/moe-fusion/seed{seed}/{split}_scatter.png",
                       category="Predicted vs true", subcategory="{split}"),
        calibration=report("results/plots/moe-fusion/seed{seed}/{split}_calibration.png",
                           category="Calibration", subcategory="{split}"),
        gates_by_interviewer=report("results/plots/moe-fusion/seed{seed}/{split}_gates_by_interviewer.png",
                                    category="Expert gates by interviewer type", subcategory="{split}"),
        modality_gates=report("results/plots/moe-fusion/seed{seed}/{split}_modality_gates.png",
                              category="Modality gates", subcategory="{split}"),
    wildcard_constraints:
        split="dev|test",
    params:
        dataset_kind=KIND,
    log:
        "logs/plots_render/seed{seed}-{split}.log",
    benchmark:
        "benchmarks/plots_render/seed{seed}-{split}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/plots_render.py"


rule curves_render:
    input:
        model="results/models/{model}/seed{seed}",
    output:
        png=report("results/plots/curves/{model}-seed{seed}.png", category="Training curves"),
    wildcard_constraints:
        model="[a-z]+-[a-z]+(-[a-z]+)?",
    params:
        dataset_kind=KIND,
    log:
        "logs/curves_render/{model}-seed{seed}.log",
    benchmark:
        "benchmarks/curves_render/{model}-seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/curves_render.py"


rule report_summary:
    # the report's front page (workflow/report/workflow.rst includes it first): which data, the
    # headline table, QC counts, the integrity status and the test scatter, each linking to its detail
    input:
        headline="results/tables/headline.csv",
        qc="results/qc/summary.tsv",
        sessions="results/qc/sessions.tsv",
        integrity="results/qc/integrity.json",
        scatter=f"results/plots/moe-fusion/seed{SEEDS[0]}/test_scatter.png",
    output:
        summary="results/report/summary.rst",
    params:
        dataset_kind=KIND,
        dataset_root=ROOT,
    log:
        "logs/report_summary.log",
    benchmark:
        "benchmarks/report_summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/report_summary.py"
