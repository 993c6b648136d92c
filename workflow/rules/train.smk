# Stage 3: training. Every model reads the TRAIN and DEV shards only (the test split is refused by
# depsev.data), chooses its checkpoint on dev at participant level, and writes its folder
# results/models/<model>/seed<k>/ (model.pt or model.skops, the resolved config.json, curves.csv,
# dev_predictions.parquet). Model names: <family>-<modality>[-<variant>].


rule train_expert:
    # one expert per modality and interviewer type (paper eq. 10-11), each with its own encoder(s),
    # trained on its own interviewer type's sessions; the AI-agent expert starts from the WoZ expert
    # (train.ai_expert_init: woz). Fusion experts also exist for the shuffled-label control.
    input:
        unpack(expert_inputs),
    output:
        model=directory("results/models/expert-{modality}-{interviewer}{control}/seed{seed}"),
    wildcard_constraints:
        modality="audio|video|fusion",
        interviewer="woz|ai",
        control="|-shuffled",
    params:
        kind="expert",
        shuffle=lambda wildcards: wildcards.control == "-shuffled",
        model_cfg=MODEL_CFG,
        train_cfg=TRAIN_CFG,
    log:
        "logs/train_expert/{modality}-{interviewer}{control}-seed{seed}.log",
    benchmark:
        "benchmarks/train_expert/{modality}-{interviewer}{control}-seed{seed}.tsv"
    # the expert -> AI expert -> mixture chains are the DAG's critical path: start them first
    priority: 10
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"


rule train_moe:
    # uncertainty-aware mixture of the two interviewer experts of one modality (paper eq. 12-15):
    # each expert (with its own encoder) is loaded from train_expert, then the gate is trained
    input:
        unpack(mixture_inputs),
    output:
        model=directory("results/models/moe-{modality}/seed{seed}"),
    wildcard_constraints:
        modality="audio|video",
    params:
        kind="moe",
        shuffle=False,
        model_cfg=MODEL_CFG,
        train_cfg=TRAIN_CFG,
    log:
        "logs/train_moe/{modality}-seed{seed}.log",
    benchmark:
        "benchmarks/train_moe/{modality}-seed{seed}.tsv"
    # the expert -> AI expert -> mixture chains are the DAG's critical path: start them first
    priority: 10
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"


rule train_fusion:
    # the paper's model: two fusion experts (gated audio/video fusion + fusion LSTM, eq. 18-24), one per
    # interviewer type, loaded from train_expert, combined by the uncertainty-aware gate (eq. 12-15);
    # "-shuffled" is the shuffled-label control (every stage trained on permuted training labels)
    input:
        unpack(mixture_inputs),
    output:
        model=directory("results/models/moe-fusion{control}/seed{seed}"),
    wildcard_constraints:
        control="|-shuffled",
    params:
        kind="fusion",
        shuffle=lambda wildcards: wildcards.control == "-shuffled",
        model_cfg=MODEL_CFG,
        train_cfg=TRAIN_CFG,
    log:
        "logs/train_fusion/fusion{control}-seed{seed}.log",
    benchmark:
        "benchmarks/train_fusion/fusion{control}-seed{seed}.tsv"
    # the expert -> AI expert -> mixture chains are the DAG's critical path: start them first
    priority: 10
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"


rule train_baseline:
    # the paper's comparison grid: random forest / 1-D ResNet / plain LSTM x audio / video / fusion
    input:
        unpack(train_inputs),
    output:
        model=directory("results/models/{family}-{modality}/seed{seed}"),
    wildcard_constraints:
        family="rf|resnet|lstm",
    params:
        kind=lambda wildcards: wildcards.family,
        shuffle=False,
        model_cfg=MODEL_CFG,
        train_cfg=TRAIN_CFG,
    log:
        "logs/train_baseline/{family}-{modality}-seed{seed}.log",
    benchmark:
        "benchmarks/train_baseline/{family}-{modality}-seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"
