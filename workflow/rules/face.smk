# Stage 1 (video): OpenFace 2.x on raw video (container; only for sessions with a video and no CSV),
# then OpenFace CSV -> per-session Parquet of face frames with a validity mask.


rule openface_extract:
    input:
        video=openface_video,
    output:
        csv="results/openface/{pid}/{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv",
    params:
        command=openface_command,
        out_dir=lambda wildcards: f"results/openface/{wildcards.pid}/raw",
        raw_csv=openface_raw_csv,
    log:
        "logs/openface_extract/{pid}.log",
    benchmark:
        "benchmarks/openface_extract/{pid}.tsv"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
    container:
        OPENFACE.get("image", "")
    # every file-derived word of this line is shell-quoted by its input function (common.smk)
    shell:
        "mkdir -p {params.out_dir} && {params.command} > {log} 2>&1 "
        "&& {{ test -s {params.raw_csv} || {{ echo FeatureExtraction wrote no {params.raw_csv} >> {log}; "
        "exit 1; }}; }} && mv {params.raw_csv} {output.csv}"


rule face_frames:
    input:
        csv=face_csv,
    output:
        parquet="results/features/face/{pid}.parquet",
        qc="results/qc/face/{pid}.json",
    params:
        confidence_threshold=FACE_CONFIDENCE,
        # recorded in the face file, carried forward to the shards and the model (depsev predict's default)
        openface_image=OPENFACE.get("image", ""),
        openface_binary=OPENFACE.get("binary", ""),
    conda:
        ENV
    log:
        "logs/face_frames/{pid}.log",
    benchmark:
        "benchmarks/face_frames/{pid}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../scripts/face_frames.py"
