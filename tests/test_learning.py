"""End to end on a small SYNTHETIC cohort: the video mixture-of-experts model learns the planted
facial effects (beats the training-mean predictor on dev participants by a clear margin) and the
same model trained on shuffled labels does not.  Every mixture is trained as the workflow trains it:
the WoZ expert on WoZ sessions, the AI-agent expert from it on AI-agent sessions, then the gate
(:func:`train_pipeline`); the face features are the shipped ``face.features: au``.

The shards are built by calling the library stages directly, exactly as the workflow's rules do
(manifest -> face frames -> train normalization -> video chunk shards), on the face stream only:
the audio stages (denoising, VGGish) are the expensive part and are not needed for a video model.
Chunks are shortened (15 s, every 5th frame) to keep the test near a minute of training on 2 CPU
cores.  Numbers are printed (run with ``-s``); results on synthetic data say nothing about depression.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from depsev.corpus.manifest import build_manifest
from depsev.corpus.synthetic import generate_cohort
from depsev.features.face import face_frames
from depsev.shards.chunks import build_shards
from depsev.shards.normalize import fit_from_files, save_stats, train_feature_paths
from depsev.train.run import train_model

pytestmark = pytest.mark.slow

MODEL = {"dropout": 0.2}
TRAIN = {"max_epochs": 25, "patience": 8, "batch_size": 16, "lr": 3e-3, "device": "cpu"}
CHUNKS = {"video_frames": 450, "video_downsample": 5, "dataset_kind": "demo"}
FACE_FEATURES = "au"


def train_pipeline(shards: Path, out: Path, *, kind: str, modality: str, seed: int, model_cfg: dict,
                   train_cfg: dict, shuffle: bool = False) -> dict:
    """The workflow's order (rules train_expert, then train_moe / train_fusion): WoZ expert, AI-agent
    expert started from it, then the mixture of both; returns the mixture's summary."""
    common = {"modality": modality, "seed": seed, "model_cfg": model_cfg, "train_cfg": train_cfg,
              "shuffle_labels": shuffle}
    train_model(shards, out / "woz", kind="expert", interviewer="woz", **common)
    train_model(shards, out / "ai", kind="expert", interviewer="ai", init_from=out / "woz", **common)
    experts = {"woz": out / "woz", "ai": out / "ai"}
    return train_model(shards, out / "mixture", kind=kind, init_experts=experts, **common)


@pytest.fixture(scope="module")
def video_shards(tmp_path_factory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("learning")
    cohort = work / "cohort"
    generate_cohort(cohort, participants=80, minutes=1.0, seed=3)
    manifest = build_manifest(cohort, "demo")
    assert (manifest["status"] == "ok").all(), manifest["status"].value_counts()
    face_dir = work / "features" / "face"
    for row in manifest.loc[manifest["split"].isin(["train", "dev"])].itertuples():  # test: never read
        face_frames(row.openface_path, face_dir / f"{row.participant_id}.parquet")
    stats = fit_from_files(train_feature_paths(manifest, face_dir), manifest, "video",
                           face_features=FACE_FEATURES)
    save_stats(stats, work / "normalize" / "video.json")
    for split in ("train", "dev"):  # the test split is not needed: training never reads it
        build_shards(manifest, work / "features", {"video": work / "normalize" / "video.json"},
                     work / "shards", modality="video", split=split, cfg=CHUNKS)
    oracle = json.loads((cohort / "ground_truth" / "oracle.json").read_text())
    oracle["train_scores"] = manifest.loc[manifest["split"] == "train", "phq_score"].astype(float).tolist()
    return work, oracle


def test_video_moe_learns_and_shuffled_labels_do_not(video_shards):
    work, oracle = video_shards
    real = train_pipeline(work / "shards", work / "real", kind="moe", modality="video", seed=0,
                          model_cfg=MODEL, train_cfg=TRAIN)
    shuffled = train_pipeline(work / "shards", work / "shuffled", kind="moe", modality="video", seed=0,
                              model_cfg=MODEL, train_cfg=TRAIN, shuffle=True)
    dev_oracle = oracle["splits"]["dev"]
    print(f"\ndev participants: {real['n_dev_participants']}; training-mean predictor MAE "
          f"{real['train_mean_dev_mae']:.2f}\n"
          f"video MoE MAE {real['dev_participant_mae']:.2f} (best epoch {real['best_epoch']})\n"
          f"video MoE, shuffled training labels, MAE {shuffled['dev_participant_mae']:.2f} "
          f"(best epoch {shuffled['best_epoch']})\n"
          f"oracle (all planted audio + face values) MAE {dev_oracle['oracle']['mae']:.2f}, "
          f"its train-mean MAE {dev_oracle['train_mean']['mae']:.2f}")
    # constant predictors: the training mean (the reported baseline) and the training median (the
    # constant that minimises MAE on a skewed score distribution -- a model that learned nothing can
    # still get there, e.g. the shuffled-label model)
    chunks = pd.read_parquet(work / "real" / "mixture" / "dev_predictions.parquet")
    dev = chunks.groupby("participant_id")["phq_score"].first()
    median_mae = float(np.mean(np.abs(dev.to_numpy(float) - np.median(oracle["train_scores"]))))
    mean_mae = real["train_mean_dev_mae"]
    print(f"training-median predictor MAE {median_mae:.2f}")
    assert real["synthetic"] is True
    assert shuffled["train_mean_dev_mae"] == pytest.approx(mean_mae)  # a permutation keeps the mean
    assert real["dev_participant_mae"] < 0.85 * min(mean_mae, median_mae)
    assert shuffled["dev_participant_mae"] > 0.9 * min(mean_mae, median_mae)
    assert shuffled["dev_participant_mae"] > real["dev_participant_mae"] + 0.5


def vggish_precision() -> str:
    """``bf16`` where this CPU computes bfloat16 natively (``avx512_bf16`` / ``amx_bf16``), else ``fp32``:
    the fixture's 65 sessions of VGGish are most of this file's time. bf16 is the shipped
    ``audio.vggish.precision: bf16`` (2.7x fp32 here; fc2 cosine to fp32 >= 0.99999 on real speech,
    ``depsev bench vggish``); the shards record it like any other preparation setting."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text(errors="replace").split() if cpuinfo.is_file() else []
    return "bf16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "fp32"


@pytest.fixture(scope="module")
def fusion_shards(video_shards) -> Path:
    """Audio stages added to the same cohort (cleaning, random-weight VGGish), then fusion shards. The
    cleaning keeps the participant's speech without spectral gating (``audio.denoise: false``, as the
    tiny workflow run: tests/tiny_run.py): the gating is a third of this fixture's time, and the demo's
    own preparation, with it, is what ``depsev bench learning --check`` measures."""
    from depsev.features.audio import clean_session
    from depsev.features.vggish import load_vggish, vggish_session

    work, _ = video_shards
    manifest = build_manifest(work / "cohort", "demo")
    audio_dir, vgg_dir = work / "features" / "audio", work / "features" / "vggish"
    use = manifest.loc[manifest["split"].isin(["train", "dev"])]
    vggish = load_vggish("random", None, allow_random=True)  # one network for every session
    for row in use.itertuples():
        pid = row.participant_id
        clean_session(row.audio_path, audio_dir / f"{pid}.wav", audio_dir / f"{pid}_segments.parquet",
                      transcript_path=row.transcript_path, denoise=False)
        vggish_session(audio_dir / f"{pid}.wav", audio_dir / f"{pid}_segments.parquet",
                       vgg_dir / f"{pid}.parquet", weights="random", allow_random=True,
                       precision=vggish_precision(), loaded=vggish)
    stats = fit_from_files(train_feature_paths(manifest, vgg_dir), manifest, "audio")
    save_stats(stats, work / "normalize" / "audio.json")
    for split in ("train", "dev"):
        build_shards(manifest, work / "features",
                     {"video": work / "normalize" / "video.json", "audio": work / "normalize" / "audio.json"},
                     work / "shards", modality="fusion", split=split,
                     cfg={**CHUNKS, "audio_frames": 16})
    return work


def test_fusion_model_learns_with_the_shipped_config(fusion_shards, video_shards):
    """The fusion model with config.yaml's model/train settings against the mean predictor and the
    shuffled-label control (one seed each here; the same check over several seeds on the whole demo
    workflow is ``depsev bench learning --check``, a benchmark: minutes, not seconds)."""
    import yaml

    work = fusion_shards
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    model_cfg, train_cfg = cfg["model"], {**cfg["train"], "device": "cpu"}
    real = train_pipeline(work / "shards", work / "fusion0", kind="fusion", modality="fusion", seed=0,
                          model_cfg=model_cfg, train_cfg=train_cfg)
    shuffled = train_pipeline(work / "shards", work / "fusion-shuffled0", kind="fusion", modality="fusion",
                              seed=0, model_cfg=model_cfg, train_cfg=train_cfg, shuffle=True)
    mean_mae = real["train_mean_dev_mae"]
    r, s = real["dev_participant_mae"], shuffled["dev_participant_mae"]
    oracle = video_shards[1]["splits"]["dev"]["oracle"]["mae"]
    print(f"\nfusion dev participant MAE {r:.2f}; shuffled {s:.2f}; training-mean predictor {mean_mae:.2f}; "
          f"oracle {oracle:.2f}")
    assert r < 0.7 * mean_mae
    assert s > 0.85 * mean_mae
    assert s > r + 1.0
