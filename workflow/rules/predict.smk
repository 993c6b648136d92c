# New recordings (not part of any corpus): `predict.root` holds session folders in E-DAIC or DAIC-WOZ
# layout; each is run end to end through the SAME library stages as the feature rules (cleaning,
# VGGish, face frames, the training run's normalization and chunking) by depsev.predict.session.
# Target: snakemake --cores 2 results/predict/summary.tsv --config predict='{root: NEW, model: M}'


rule predict_new:
    input:
        session=new_session_dir,
        model=PREDICT.get("model", "results/models/moe-fusion/seed0"),
        stats=["results/normalize/video.json", "results/normalize/audio.json"],
        evaluation=predict_model_evaluation,
    output:
        json="results/predict/{pid}.json",
    params:
        kind=PREDICT.get("kind", "edaic"),
        interviewer=PREDICT.get("interviewer"),
        segmentation=AUDIO["segmentation"],
        denoise=AUDIO["denoise"],
        normalize=AUDIO["normalize"],
        confidence=FACE_CONFIDENCE,
        weights=VGGISH["weights"],
        image=OPENFACE.image,
        openface_runtime=OPENFACE.runtime,
    log:
        "logs/predict_new/{pid}.log",
    benchmark:
        "benchmarks/predict_new/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    conda:
        ENV
    script:
        "../scripts/predict_new.py"


rule predict_summary:
    input:
        results=new_session_results,
    output:
        summary="results/predict/summary.tsv",
    log:
        "logs/predict_summary.log",
    benchmark:
        "benchmarks/predict_summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/predict_summary.py"
