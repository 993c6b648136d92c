# Shared definitions: resolved configuration, the session table (from the manifest checkpoint),
# wildcard constraints, and EVERY input function of the workflow.

from pathlib import Path

import pandas as pd

# Scripts import depsev from this checkout (src/, see workflow/scripts/_depsev.py), whatever
# environment runs them (the project's .venv, the conda env below, or a container): the
# environments carry only the dependencies.
ENV = "../../envs/depsev.yaml"


# ---------------------------------------------------------------- configuration
# One typed settings tree (depsev.settings), built once from the validated config: every default is
# written there (or in the library dataclass it uses), the demo's chunk sizes replace the paper's once,
# and a typo or bad value in any section fails here, when the DAG is built, not in a job.
from depsev.settings import Settings  # noqa: E402

SETTINGS = Settings.from_config(config)
# config.yaml's configuration is "default", the paper preset's "paper": written into the tables, and a
# results/ folder written by another configuration is refused (depsev.settings.claim_results_dir)
CONFIG_NAME = SETTINGS.config_name
# the paper's configuration (workflow/presets/paper.yaml): the lightweight table sizes its model too
PAPER_PRESET = str(Path(workflow.basedir) / "workflow/presets/paper.yaml")
KIND = SETTINGS.dataset.kind
ROOT = SETTINGS.dataset.root
IS_DEMO = SETTINGS.is_demo
SESSIONS_TABLE = SETTINGS.dataset.sessions_table or ""
DEMO = SETTINGS.as_dict("demo")
AUDIO = SETTINGS.as_dict("audio")
VGGISH = AUDIO["vggish"]
OPENSMILE = AUDIO["opensmile"]
# eGeMAPS (opensmile_lld, or egemaps_read with audio.source edaic_shipped) feed no model: they are among
# the default targets only when audio.opensmile.enabled; the rules still run for a file asked for
EGEMAPS = bool(OPENSMILE["enabled"])
OPENFACE = SETTINGS.openface
# the chunk sizes in force (the demo's for a demo run), as rule params
CHUNKS = {k: v for k, v in SETTINGS.as_dict("chunks").items() if k != "dataset_kind"}
QC = SETTINGS.as_dict("qc")
FACE_CONFIDENCE = SETTINGS.face.confidence_threshold
FACE_FEATURE_SET = SETTINGS.face.features

# random weights outside the demo, a missing corpus folder, sessions table or weights file: refused now
SETTINGS.check_inputs()

from depsev.settings import claim_results_dir  # noqa: E402

claim_results_dir("results", CONFIG_NAME)

if IS_DEMO:
    # kind demo writes (and on a rerun replaces) a SYNTHETIC cohort in dataset.root: a folder holding
    # data depsev did not write (a real corpus left at kind: demo) is refused now, before any job runs
    from depsev.corpus.synthetic import check_cohort_folder  # noqa: E402

    check_cohort_folder(ROOT)

SPLITS = ["train", "dev", "test"]
SHARD_MODALITIES = ["video", "audio", "fusion"]
# normalized modalities among the default targets (all_targets)
NORM_MODALITIES = ["video", "audio"] + (["egemaps"] if EGEMAPS else [])
# per-session feature folder of each normalized modality
FEATURE_DIR = {
    "video": "results/features/face",
    "audio": "results/features/vggish" if AUDIO["source"] == "depsev" else "results/features/vgg16_shipped",
    "egemaps": "results/features/egemaps" if AUDIO["source"] == "depsev" else "results/features/egemaps_shipped",
}
# which normalized modalities a shard modality is built from
SHARD_INPUTS = {"video": ["video"], "audio": ["audio"], "fusion": ["video", "audio"]}


wildcard_constraints:
    pid=r"[0-9]+",
    split="train|dev|test",
    modality="video|audio|fusion",
    normmod="video|audio|egemaps",


# ---------------------------------------------------------------- the session table
_MANIFEST_CACHE = {}


def manifest_df():
    """The manifest, after the manifest_build checkpoint ran (re-evaluates the DAG); read once per
    version of the file, since input functions ask for it for every job."""
    path = Path(checkpoints.manifest_build.get().output.manifest)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MANIFEST_CACHE:
        _MANIFEST_CACHE.clear()
        _MANIFEST_CACHE[key] = pd.read_parquet(path)
    return _MANIFEST_CACHE[key]


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


def normalize_apply_inputs(wildcards):
    return expand(f"{FEATURE_DIR[wildcards.normmod]}/{{pid}}.parquet", pid=ok_ids(wildcards.split))


def normalize_fit_inputs(wildcards):
    """Training-split sessions only: the statistics never see dev or test."""
    return expand(f"{FEATURE_DIR[wildcards.normmod]}/{{pid}}.parquet", pid=ok_ids("train"))


def chunk_shards_inputs(wildcards):
    mods = SHARD_INPUTS[wildcards.modality]
    inputs = {"manifest": checkpoints.manifest_build.get().output.manifest}
    for mod in mods:
        inputs[f"{mod}_stats"] = f"results/normalize/{mod}.json"
        inputs[f"{mod}_normalized"] = f"results/normalized/{mod}/{wildcards.split}"
    return inputs


def stage_qc_files(wildcards):
    ids = ok_ids()
    files = {"face": expand("results/qc/face/{pid}.json", pid=ids)}
    if AUDIO["source"] == "depsev":
        for stage in ("audio", "vggish") + (("egemaps",) if EGEMAPS else ()):
            files[stage] = expand(f"results/qc/{stage}/{{pid}}.json", pid=ids)
    return files


def all_targets():
    targets = ["results/manifest.parquet", "results/qc/summary.tsv", "results/qc/integrity.json"]
    targets += expand("results/normalize/{normmod}.json", normmod=NORM_MODALITIES)
    targets += expand("results/shards/{modality}/{split}", modality=SHARD_MODALITIES, split=SPLITS)
    targets += [f"results/tables/{t}.csv" for t in ("comparison_grid", "headline", "published", "lightweight")]
    targets += expand("results/plots/moe-fusion/seed{seed}/{split}_{fig}.png", seed=SEEDS[:1],
                      split=["dev", "test"],
                      fig=["confusion", "scatter", "calibration", "gates_by_interviewer", "modality_gates"])
    curve_models = [m for m in ("moe-fusion", "moe-fusion-shuffled", "moe-audio", "moe-video")
                    if m in model_names()]
    targets += expand("results/plots/curves/{model}-seed{seed}.png", model=curve_models, seed=SEEDS[:1])
    targets.append("results/report/summary.rst")
    return targets


# ---------------------------------------------------------------- training and evaluation
# the config's own model / train sections go to the training jobs (checked in SETTINGS above)
MODEL_CFG = dict(config.get("model") or {})
TRAIN_CFG = dict(config.get("train") or {})
TRAIN = SETTINGS.train
EVAL = SETTINGS.as_dict("evaluate")
SEEDS = [int(s) for s in EVAL["seeds"]]


def model_names():
    """Every evaluated model, as <family>-<modality>[-<variant>]: the paper's model, its two interviewer
    experts and its shuffled-label control, the single-stream mixtures, and the comparison grid."""
    names = ["moe-fusion", "expert-fusion-woz", "expert-fusion-ai"]
    if EVAL["shuffled_control"]:
        names.append("moe-fusion-shuffled")
    names += [f"moe-{mod}" for mod in single_stream_mixtures()]
    names += [f"{fam}-{mod}" for fam in EVAL["baselines"] for mod in EVAL["modalities"]]
    return names


def single_stream_mixtures():
    """The streams with a mixture of their own (evaluate.single_stream_mixtures and evaluate.modalities)."""
    if not EVAL.get("single_stream_mixtures", True):
        return []
    return [mod for mod in ("audio", "video") if mod in EVAL["modalities"]]


def trained_models():
    """Every trained model folder (the integrity check reads them all): the evaluated ones, the
    single-stream experts inside moe-audio / moe-video, and the experts of the shuffled-label control."""
    names = model_names()
    names += [f"expert-{mod}-{who}" for mod in single_stream_mixtures() for who in ("woz", "ai")]
    if EVAL["shuffled_control"]:
        names += ["expert-fusion-woz-shuffled", "expert-fusion-ai-shuffled"]
    return names


def shard_modality_of(wildcards):
    """The shard folder a model reads: two-stream models read the fusion shards."""
    if "modality" in wildcards.keys():
        return wildcards.modality
    return "fusion"


def train_inputs(wildcards):
    """The train and dev shards: training reads nothing else (the feature preparation it records
    travels in the shard metadata; never a test shard)."""
    mod = shard_modality_of(wildcards)
    return {"train_shards": f"results/shards/{mod}/train", "dev_shards": f"results/shards/{mod}/dev"}


def expert_inputs(wildcards):
    """An interviewer expert's data; the AI-agent expert also starts from the WoZ expert's weights
    (train.ai_expert_init: woz)."""
    inputs = train_inputs(wildcards)
    if wildcards.interviewer == "ai" and TRAIN.ai_expert_init == "woz":
        inputs["init_from"] = (f"results/models/expert-{wildcards.modality}-woz{wildcards.control}/"
                               f"seed{wildcards.seed}")
    return inputs


def mixture_inputs(wildcards):
    """A mixture's data and its two trained interviewer experts (moe-<audio|video>, moe-fusion[-shuffled])."""
    mod = wildcards.get("modality", "fusion")
    control = wildcards.get("control", "")
    inputs = train_inputs(wildcards)
    for who in ("woz", "ai"):
        inputs[who] = f"results/models/expert-{mod}-{who}{control}/seed{wildcards.seed}"
    return inputs


def _model_shard_modality(model):
    """<family>-<modality>[-<variant>]: the shard folder the model reads."""
    return model.split("-")[1]


def model_shards_dev(wildcards):
    return f"results/shards/{_model_shard_modality(wildcards.model)}/dev"


def model_shards_test(wildcards):
    return f"results/shards/{_model_shard_modality(wildcards.model)}/test"


def all_metrics_files():
    return expand("results/metrics/{model}/seed{seed}/{split}.json", model=model_names(), seed=SEEDS,
                  split=["dev", "test"])


def table4_sized_models(wildcards, input):
    """(config name, model config, chunk settings) of this run's fusion model and the paper preset's,
    for the lightweight table's rows at the paper's chunk sizes (the preset read when the job runs)."""
    from dataclasses import asdict

    from depsev.settings import table4_models

    return [(m.config_name, m.model.to_dict(), asdict(m.chunks)) for m in table4_models(config, input.preset)]


def tables_inputs(wildcards):
    inputs = {"metrics": all_metrics_files(), "manifest": "results/manifest.parquet"}
    if IS_DEMO:
        inputs["oracle"] = f"{ROOT}/ground_truth/summary.json"
    return inputs


# ---------------------------------------------------------------- new recordings (depsev predict)
PREDICT = SETTINGS.predict


def _new_sessions():
    """{pid: session folder} of the new recordings under predict.root (corpus readers' globbing)."""
    if not PREDICT.get("root"):
        raise ValueError("set predict.root (a folder of new session folders) to use the predict rules")
    from depsev.corpus.sessions import find_sessions

    kind = PREDICT.get("kind", "edaic")
    found = find_sessions(PREDICT["root"], "edaic" if kind == "demo" else kind)
    return {str(pid): str(files.directory) for pid, files in found.items()}


def new_session_dir(wildcards):
    return _new_sessions()[wildcards.pid]


def new_session_results(wildcards):
    return expand("results/predict/{pid}.json", pid=sorted(_new_sessions()))


def predict_model_evaluation(wildcards):
    """The dev metrics of the predict model's evaluation when the model is one of this run's
    (results/models/<model>/<seed>): depsev predict combines chunks with the weighting chosen there
    (depsev.predict.contract.resolve_weighting), so the job waits for it."""
    parts = Path(PREDICT.get("model", "results/models/moe-fusion/seed0")).parts
    if len(parts) == 4 and parts[:2] == ("results", "models"):
        return f"results/metrics/{parts[2]}/{parts[3]}/dev.json"
    return []
