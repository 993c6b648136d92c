# Stage 1 (video): OpenFace 2.x on raw video (in its container; only for sessions with a video and no CSV),
# then OpenFace CSV -> per-session Parquet of face frames with a validity mask.


rule openface_extract:
    input:
        video=openface_video,
    output:
        csv="results/openface/{pid}/{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv",
    params:
        image=OPENFACE.image,
        binary=OPENFACE.binary,
        runtime=OPENFACE.runtime,
    log:
        job="logs/openface_extract/{pid}.log",
        tool="logs/openface_extract/{pid}.FeatureExtraction.log",
    benchmark:
        "benchmarks/openface_extract/{pid}.tsv"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
    # depsev starts the pinned OpenFace image itself, with an argument list (no shell line), by the
    # function `depsev predict --video` uses (depsev.features.openface_container.run_feature_extraction):
    # this job runs where depsev is installed, never inside depsev's own image (`container:` in config)
    container: None
    conda:
        ENV
    script:
        "../scripts/openface_extract.py"


rule face_frames:
    input:
        csv=face_csv,
    output:
        parquet="results/features/face/{pid}.parquet",
        qc="results/qc/face/{pid}.json",
    params:
        confidence_threshold=FACE_CONFIDENCE,
        # recorded in the face file, carried forward to the shards and the model (depsev predict's default)
        openface_image=OPENFACE.image,
        openface_binary=OPENFACE.binary,
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
