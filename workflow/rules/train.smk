# Stage 3: training. Every model reads the TRAIN and DEV shards only (the test split is refused by
# depsev.data), chooses its checkpoint on dev at participant level, and writes its folder
# results/models/<model>/seed<k>/ (model.pt or model.joblib, the resolved config.json, curves.csv/png,
# dev_predictions.parquet). Model names: <family>-<modality>[-<variant>].


rule train_expert:
    # one LSTM expert per modality and interviewer type (paper eq. 10-11)
    input:
        unpack(train_inputs),
    output:
        model=directory("results/models/expert-{modality}-{interviewer}/seed{seed}"),
    wildcard_constraints:
        modality="audio|video",
        interviewer="woz|ai",
    params:
        kind="expert",
        shuffle=False,
        model_cfg=MODEL_CFG,
        train_cfg=TRAIN_CFG,
    log:
        "logs/train_expert/{modality}-{interviewer}-seed{seed}.log",
    benchmark:
        "benchmarks/train_expert/{modality}-{interviewer}-seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"


rule train_moe:
    # uncertainty-aware mixture of the two interviewer experts of one modality (paper eq. 12-15);
    # its experts start from the separately trained ones
    input:
        unpack(train_inputs),
        woz="results/models/expert-{modality}-woz/seed{seed}",
        ai="results/models/expert-{modality}-ai/seed{seed}",
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
    threads: 1
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train_model.py"


rule train_fusion:
    # gated audio/video fusion + fusion LSTM + interviewer MoE (paper eq. 18-24); the
    # "-shuffled" variant is the shuffled-label control (training labels permuted across participants)
    input:
        unpack(train_inputs),
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
