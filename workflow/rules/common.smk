# Shared definitions: resolved configuration, the session table (from the manifest checkpoint),
# wildcard constraints, and EVERY input function of the workflow.

from pathlib import Path

import pandas as pd

# Scripts import depsev from this checkout (src/, see workflow/scripts/_depsev.py), whatever
# environment runs them (the project's .venv, the conda env below, or a container): the
# environments carry only the dependencies.
ENV = "../../envs/depsev.yaml"


# ---------------------------------------------------------------- configuration (defaults filled)
def _get(section, key, default):
    return config.get(section, {}).get(key, default)


KIND = config["dataset"]["kind"]
ROOT = config["dataset"]["root"]
IS_DEMO = KIND == "demo"
SESSIONS_TABLE = config["dataset"].get("sessions_table") or ""
DEMO = {"participants": 40, "minutes": 3.0, "seed": 7, **config.get("demo", {})}
AUDIO = {"source": "depsev", "denoise": True, "normalize": True, "segmentation": "auto", **config.get("audio", {})}
VGGISH = {"sha256": None, "batch_size": 32, **AUDIO.get("vggish", {"weights": "random"})}
OPENSMILE = {"feature_set": "eGeMAPSv02", "feature_level": "LowLevelDescriptors",
             **AUDIO.get("opensmile", {})}
OPENFACE = config.get("openface", {})
CHUNKS = {"video_frames": 5000, "audio_frames": 300, "video_downsample": 1, "audio_downsample": 1,
          "min_coverage": 0.5, "balance_train": False, **config.get("chunks", {})}
if IS_DEMO:
    # demo sessions are minutes long: the demo's (smaller) chunk sizes replace the paper's
    CHUNKS.update(DEMO.get("chunks", {}))
QC = {"min_audio_seconds": 10.0, "min_face_success_share": 0.1, **config.get("qc", {})}
FACE_CONFIDENCE = _get("face", "confidence_threshold", 0.75)

if VGGISH["weights"] == "random" and not IS_DEMO:
    raise ValueError(
        "config audio.vggish.weights is 'random', which is allowed only for the synthetic demo "
        f"(dataset.kind is '{KIND}'). Fetch the published weights with `depsev weights vggish "
        "--dest weights` and set audio.vggish.weights: weights/vggish-10086976.pth")

SPLITS = ["train", "dev", "test"]
SHARD_MODALITIES = ["video", "audio", "fusion"]
NORM_MODALITIES = ["video", "audio", "egemaps"]
# per-session feature folder of each normalized modality
FEATURE_DIR = {
    "video": "results/features/face",
    "audio": "results/features/vggish" if AUDIO["source"] == "depsev" else "results/features/vgg16_shipped",
    "egemaps": "results/features/egemaps" if AUDIO["source"] == "depsev" else "results/features/egemaps_shipped",
}
# which normalized modalities a shard modality is built from
SHARD_INPUTS = {"video": ["video"], "audio": ["audio"], "fusion": ["video", "audio"]}


wildcard_constraints:
    pid=r"\d+",
    split="train|dev|test",
    modality="video|audio|fusion",
    normmod="video|audio|egemaps",


# ---------------------------------------------------------------- the session table
def manifest_df():
    """The manifest, after the manifest_build checkpoint ran (re-evaluates the DAG)."""
    return pd.read_parquet(checkpoints.manifest_build.get().output.manifest)


def session(pid):
    df = manifest_df()
    row = df.loc[df["participant_id"] == int(pid)]
    if row.empty:
        raise ValueError(f"participant {pid} is not in the manifest")
    return row.iloc[0]


def ok_ids(split=None):
    df = manifest_df()
    sel = df["status"] == "ok"
    if split is not None:
        sel &= df["split"] == split
    return [int(p) for p in df.loc[sel, "participant_id"]]


# ---------------------------------------------------------------- input functions
def manifest_inputs(wildcards):
    """The generated cohort for the demo; a real corpus is read in place."""
    if IS_DEMO:
        return {"cohort": f"{ROOT}/ground_truth/summary.json"}
    return {}


def openface_video(wildcards):
    video = session(wildcards.pid)["video_path"]
    if not video:
        raise ValueError(f"participant {wildcards.pid} has no video file")
    return video


def face_csv(wildcards):
    row = session(wildcards.pid)
    if row["openface_path"]:
        return row["openface_path"]
    return f"results/openface/{wildcards.pid}/{wildcards.pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"


def audio_clean_inputs(wildcards):
    row = session(wildcards.pid)
    inputs = {"wav": row["audio_path"]}
    if row["transcript_path"] and AUDIO["segmentation"] in ("auto", "transcript"):
        inputs["transcript"] = row["transcript_path"]
    return inputs


def shipped_vgg16(wildcards):
    return session(wildcards.pid)["vgg16_path"]


def shipped_egemaps(wildcards):
    return session(wildcards.pid)["egemaps_path"]


def feature_file(wildcards):
    return f"{FEATURE_DIR[wildcards.normmod]}/{wildcards.pid}.parquet"


def normalize_fit_inputs(wildcards):
    """Training-split sessions only: the statistics never see dev or test."""
    return expand(f"{FEATURE_DIR[wildcards.normmod]}/{{pid}}.parquet", pid=ok_ids("train"))


def chunk_shards_inputs(wildcards):
    mods = SHARD_INPUTS[wildcards.modality]
    ids = ok_ids(wildcards.split)
    inputs = {"manifest": checkpoints.manifest_build.get().output.manifest}
    for mod in mods:
        inputs[f"{mod}_stats"] = f"results/normalize/{mod}.json"
        inputs[f"{mod}_files"] = expand(f"results/normalized/{mod}/{{pid}}.parquet", pid=ids)
    return inputs


def stage_qc_files(wildcards):
    ids = ok_ids()
    files = {"face": expand("results/qc/face/{pid}.json", pid=ids)}
    if AUDIO["source"] == "depsev":
        for stage in ("audio", "vggish", "egemaps"):
            files[stage] = expand(f"results/qc/{stage}/{{pid}}.json", pid=ids)
    return files


def all_targets():
    targets = ["results/manifest.parquet", "results/qc/summary.tsv"]
    targets += expand("results/normalize/{normmod}.json", normmod=NORM_MODALITIES)
    targets += expand("results/shards/{modality}/{split}", modality=SHARD_MODALITIES, split=SPLITS)
    return targets


def openface_command(wildcards, input):
    """The FeatureExtraction command line, built by the library (tested there)."""
    import shlex

    from depsev.features.openface_container import feature_extraction_command

    kwargs = {"binary": OPENFACE["binary"]} if OPENFACE.get("binary") else {}
    cmd = feature_extraction_command(input.video, f"results/openface/{wildcards.pid}/raw", **kwargs)
    return " ".join(shlex.quote(str(c)) for c in cmd)


def openface_raw_csv(wildcards, input):
    """FeatureExtraction names its CSV after the video's stem."""
    return f"results/openface/{wildcards.pid}/raw/{Path(input.video).stem}.csv"
