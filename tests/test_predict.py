"""``depsev predict`` on new sessions (depsev.predict): demo session, real fixtures,
missing modalities, mismatched features, bad inputs, missing-modality cost.  The models, statistics and
shards are the shared tiny run's (tests/tiny_run.py; the ``demo_run`` fixture in conftest.py)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from depsev.errors import InputError

#: clean_session settings of the tiny run (tests/tiny_run.py) and of every prediction on it: no denoise
AUDIO_OPTS = {"denoise": False, "normalize": True, "segmentation": "auto"}


# ---------------------------------------------------------------- the trained test run: conftest.demo_run
def _predict(run: dict, pid: int | None = None, **kw):
    from depsev.predict.session import predict_session

    kw.setdefault("normalize_dir", run["normalize"])
    kw.setdefault("threads", 2)
    for k, v in AUDIO_OPTS.items():
        kw.setdefault("normalize_audio" if k == "normalize" else k, v)
    session = Path(run["cohort"]) / "data" / f"{pid}_P" if pid is not None else None
    return predict_session(kw.pop("model", run["fusion"]), session, kind="demo", **kw)


def _demo_files(run: dict, pid: int) -> dict[str, Path]:
    d = Path(run["cohort"]) / "data" / f"{pid}_P"
    return {"audio": d / f"{pid}_AUDIO.wav", "transcript": d / f"{pid}_Transcript.csv",
            "openface": d / "features" / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"}


# ---------------------------------------------------------------- a demo session
def test_demo_session_matches_the_workflow_and_reports_everything(demo_run, tmp_path, caplog):
    from depsev.evaluate.aggregate import aggregate_participants
    from depsev.evaluate.predictions import predict_split
    from depsev.predict.result import STATEMENT, summary_line, write_result

    pid = demo_run["dev"][0]
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        res = _predict(demo_run, pid)
    # progress: a line per stage (through logging: no carriage return), the last one 100%
    lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
    stages = [line for line in lines if line.startswith(f"predict {pid}")]
    assert [line.rsplit(": ", 1)[1].split()[0] for line in stages[:-1]] == [
        "audio_clean", "vggish", "face_frames", "chunking", "model"]
    assert len(stages) == 6 and " 5/5 stages (100%), " in stages[-1]
    assert not any(line.startswith("vggish ") for line in lines)  # a step under 10 s: quiet
    assert "\r" not in "".join(lines)
    # the same chunks through the workflow's shards give the same predictions
    chunks = predict_split(demo_run["fusion"], Path(demo_run["shards"]) / "fusion" / "dev")
    mine = chunks[chunks["participant_id"] == pid].sort_values("chunk_index")
    assert res["n_chunks"] == len(mine) > 1
    np.testing.assert_allclose([c["mu"] for c in res["chunks"]], mine["mu"], atol=1e-4)
    np.testing.assert_allclose([c["index"] for c in res["chunks"]], mine["chunk_index"])
    people = aggregate_participants(mine)
    assert res["phq8"]["estimate"] == pytest.approx(float(people["mu"].iloc[0]), abs=1e-4)
    assert res["phq8"]["sigma"] == pytest.approx(float(np.sqrt(people["var"].iloc[0])), abs=1e-4)
    # running trace: first = first chunk, last = the session estimate
    assert res["chunks"][0]["running"]["mu"] == pytest.approx(res["chunks"][0]["mu"])
    assert res["chunks"][-1]["running"]["mu"] == pytest.approx(res["phq8"]["estimate"])
    lo, hi = res["phq8"]["interval90"]
    assert 0 <= lo < res["phq8"]["estimate"] < hi <= 24
    assert sum(res["band"]["probabilities"].values()) == pytest.approx(1.0)
    assert res["binary"]["at_risk"] == (res["phq8"]["estimate"] >= 10)
    assert set(res["expert_weights"]) == {"woz", "ai"} and set(res["modality_gates"]) == {"audio", "video"}
    assert res["modalities_used"] == ["audio", "video"] and res["modalities_missing"] == []
    assert res["statement"] == STATEMENT and not res["low_confidence"]
    qc = res["qc"]
    assert 10 < qc["participant_speech_s"] < qc["audio_duration_s"]
    assert 0.5 < qc["face_valid_share"] <= 1
    prov = res["provenance"]
    assert prov["training_dataset"]["synthetic"] is True
    assert prov["vggish_weights"]["weights_mode"] == "random"
    assert len(prov["model_file_sha256"]) == 64 and prov["feature_set"]["audio"] == "vggish_fc2"
    assert any("SYNTHETIC" in n for n in res["notes"])
    assert {"audio_clean", "vggish", "face_frames", "chunking", "model", "total"} <= set(res["timings_s"])
    line = summary_line(res)
    assert "PHQ-8" in line and "not a diagnosis" in line and "\n" not in line
    back = json.loads(write_result(res, tmp_path / "r.json").read_text())
    assert back["phq8"] == res["phq8"]
    assert prov["chunk_weighting"]["value"] == "capped"  # no evaluation of this model: the default, said
    assert prov["chunk_weighting"]["source"].startswith("default (no evaluation of this model at ")

    # a model of a workflow run: chunks combined as its evaluation chose on dev (results/metrics)
    run = tmp_path / "run"
    model = shutil.copytree(demo_run["fusion"], run / "results/models/moe-fusion/seed0")
    metrics = run / "results/metrics/moe-fusion/seed0/dev.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"weighting": "median", "participant": {}}))
    chosen = _predict(demo_run, pid, model=model)
    assert chosen["provenance"]["chunk_weighting"] == {
        "value": "median", "source": f"the evaluation's choice on dev ({metrics.resolve()})"}
    median = aggregate_participants(mine, weighting="median")
    assert chosen["phq8"]["estimate"] == pytest.approx(float(median["mu"].iloc[0]), abs=1e-4)
    assert chosen["chunks"][-1]["running"]["mu"] == pytest.approx(chosen["phq8"]["estimate"])
    given = _predict(demo_run, pid, model=model, weighting="capped")
    assert given["provenance"]["chunk_weighting"] == {"value": "capped", "source": "given"}
    assert given["phq8"]["estimate"] == pytest.approx(res["phq8"]["estimate"], abs=1e-6)
    metrics.write_text(json.dumps({"weighting": "mode"}))
    with pytest.raises(InputError, match="no known chunk weighting"):
        _predict(demo_run, pid, model=model)


def test_audio_only_and_face_only(demo_run):
    pid = demo_run["dev"][0]
    both = _predict(demo_run, pid)
    audio = _predict(demo_run, pid, modalities=["audio"])
    face = _predict(demo_run, pid, modalities=["video"])
    assert audio["modalities_used"] == ["audio"] and audio["modalities_missing"] == ["video"]
    assert face["modalities_used"] == ["video"] and face["modalities_missing"] == ["audio"]
    assert audio["modality_gates"]["video"] == 0.0 and face["modality_gates"]["audio"] == 0.0
    assert any("video not used" in n for n in audio["notes"])
    assert audio["qc"]["chunking"].startswith("audio only: ") and "time grid" in audio["qc"]["chunking"]
    assert "face_frames" not in audio["qc"]
    assert "participant_speech_s" not in face["qc"]
    assert len({both["phq8"]["estimate"], audio["phq8"]["estimate"], face["phq8"]["estimate"]}) == 3
    # no wav at all: face only, said so, not low-confidence
    files = _demo_files(demo_run, pid)
    only_face = _predict(demo_run, openface=files["openface"], participant_id=pid)
    assert only_face["modalities_used"] == ["video"] and not only_face["low_confidence"]
    assert only_face["phq8"]["estimate"] == pytest.approx(face["phq8"]["estimate"])
    assert any("no audio recording" in n for n in only_face["notes"])


def test_single_stream_model(demo_run):
    pid = demo_run["dev"][0]
    res = _predict(demo_run, pid, model=demo_run["mixture_audio"])
    assert res["modalities_used"] == ["audio"] and "modality_gates" not in res
    assert set(res["expert_weights"]) == {"woz", "ai"}
    with pytest.raises(InputError, match="does not read"):
        _predict(demo_run, pid, model=demo_run["mixture_audio"], modalities=["video"])


# ---------------------------------------------------------------- features must match the model
def test_other_normalization_statistics_are_refused(demo_run, tmp_path):
    from depsev.shards.normalize import load_stats, save_stats

    norm = tmp_path / "normalize"
    shutil.copytree(demo_run["normalize"], norm)
    stats = load_stats(norm / "audio.json")
    stats["max"][0] = float(stats["max"][0]) + 1.0
    save_stats(stats, norm / "audio.json")
    with pytest.raises(InputError, match=r"audio\.normalization_sha256"):
        _predict(demo_run, demo_run["dev"][0], normalize_dir=norm)
    with pytest.raises(InputError, match="normalization statistics"):
        _predict(demo_run, demo_run["dev"][0], normalize_dir=tmp_path / "nowhere")


def test_other_vggish_weights_or_feature_set_are_refused(demo_run, tmp_path):
    weights = tmp_path / "vggish-10086976.pth"
    weights.write_bytes(b"not used")
    with pytest.raises(InputError, match="VGGish weights 'vggish-10086976.pth' here"):
        _predict(demo_run, demo_run["dev"][0], vggish_weights=weights)
    model = tmp_path / "model"
    shutil.copytree(demo_run["fusion"], model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["features"]["streams"]["audio"]["feature_set"] = "deepspectrum_vgg16_shipped"
    (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match=r"audio\.feature_set is 'vggish_fc2' here"):
        _predict(demo_run, demo_run["dev"][0], model=model)


# ---------------------------------------------------------------- the training run's feature preparation
def test_checkpoint_records_the_feature_preparation(demo_run):
    """config.json records how the training features were prepared, once, under
    features.preparation: the preparation the train and dev shards carry, which the shard stage read
    from the feature files."""
    from depsev.data.dataset import ChunkDataset
    from depsev.features.io import read_feature_meta
    from depsev.train.run import feature_preparation

    cfg = json.loads((Path(demo_run["fusion"]) / "config.json").read_text())
    fusion = cfg["features"]["preparation"]
    assert fusion["segmentation"] == "auto" and fusion["denoise"] is False
    assert fusion["normalize_audio"] is True
    assert fusion["confidence_threshold"] == 0.75 and fusion["min_coverage"] == 0.5
    assert fusion["vggish_weights_mode"] == "random" and fusion["vggish_weights_file"] == "random"
    assert "vggish_weights_sha256" not in fusion  # recorded for pretrained weights files only
    # config.yaml's face.features: au
    assert {s: cfg["features"]["streams"][s]["feature_set"] for s in ("video", "audio")} == {
        "video": "openface2_au35", "audio": "vggish_fc2"}
    assert set(fusion["segmentation_used"]) == {"transcript"}
    assert "weights" not in cfg["features"] and "feature_sets" not in fusion  # recorded once
    # the train and dev shards' preparation, session counts summed
    shards = demo_run["shards"]
    train = ChunkDataset.from_shards(shards, "fusion", "train", purpose="train")
    dev = ChunkDataset.from_shards(shards, "fusion", "dev", purpose="train")
    assert feature_preparation(train, dev) == fusion
    n = len({*train.labels["participant_id"], *dev.labels["participant_id"]})
    assert fusion["sessions"] == sum(fusion["segmentation_used"].values()) == n
    counts = ("sessions", "segmentation_used")
    for split in (train, dev):
        shard_prep = split.meta["preparation"]
        assert {k: v for k, v in shard_prep.items() if k not in counts} == {
            k: v for k, v in fusion.items() if k not in counts}
    # ... which the shard stage read from the feature files (audio_clean carried forward by VGGish)
    pid = int(train.labels["participant_id"].iloc[0])
    feats = Path(demo_run["root"]) / "results" / "features"
    vggish = read_feature_meta(feats / "vggish" / f"{pid}.parquet")
    assert vggish["audio_clean"] == {"segmentation": "auto", "segmentation_used": "transcript",
                                     "denoise": False, "normalize_audio": True}
    assert read_feature_meta(feats / "face" / f"{pid}.parquet")["confidence_threshold"] == 0.75
    audio = json.loads((Path(demo_run["mixture_audio"]) / "config.json").read_text())
    audio = audio["features"]["preparation"]
    assert audio["denoise"] is False and "confidence_threshold" not in audio  # an audio-only model


def test_recorded_preparation_is_used_by_default(demo_run):
    from depsev.predict.session import predict_session

    pid = demo_run["dev"][0]
    explicit = _predict(demo_run, pid)  # the test run's settings, given explicitly
    session = Path(demo_run["cohort"]) / "data" / f"{pid}_P"
    res = predict_session(demo_run["fusion"], session, kind="demo", normalize_dir=demo_run["normalize"],
                          threads=2)
    prep = res["provenance"]["preparation"]
    # the test run was prepared WITHOUT denoising (depsev's default is to denoise)
    assert prep["denoise"] == {"value": False, "source": "checkpoint", "trained": False}
    for key, value in (("segmentation", "auto"), ("normalize_audio", True), ("confidence_threshold", 0.75),
                       ("min_coverage", 0.5)):
        assert prep[key]["value"] == value and prep[key]["source"] == "checkpoint", key
    assert prep["vggish_weights"]["value"] == "random" and prep["vggish_weights"]["source"] == "checkpoint"
    assert prep["vggish_precision"] == {"value": "fp32", "source": "checkpoint"}  # the training run's
    assert set(prep["training_segmentation_used"]) == {"transcript"}
    assert "note" not in prep
    assert res["phq8"]["estimate"] == pytest.approx(explicit["phq8"]["estimate"], abs=1e-6)
    assert explicit["provenance"]["preparation"]["denoise"]["source"] == "given"


def test_other_preparation_than_the_training_run_is_refused(demo_run):
    pid = demo_run["dev"][0]
    with pytest.raises(InputError, match="denoise is True here but the model was trained with False"):
        _predict(demo_run, pid, denoise=True)
    with pytest.raises(InputError, match="confidence_threshold is 0.5 here but the model was trained with 0"):
        _predict(demo_run, pid, confidence_threshold=0.5)
    with pytest.raises(InputError, match="segmentation is 'vad' here but the model was trained with 'auto'"):
        _predict(demo_run, pid, segmentation="vad")
    with pytest.raises(InputError, match="normalize_audio is False"):
        _predict(demo_run, pid, normalize_audio=False, model=demo_run["audio"])
    # harmless differences are accepted, and said so
    res = _predict(demo_run, pid, segmentation="transcript", min_coverage=0.9)
    prep = res["provenance"]["preparation"]
    assert prep["segmentation"]["value"] == "transcript" and "harmless" in prep["segmentation"]["source"]
    assert prep["min_coverage"] == {"value": 0.9, "trained": 0.5, "source": prep["min_coverage"]["source"]}
    assert "harmless" in prep["min_coverage"]["source"]


def test_settings_of_a_stream_not_predicted_from_are_not_compared(demo_run):
    from depsev.predict.bundle import load_model_bundle
    from depsev.predict.contract import resolve_preparation

    bundle = load_model_bundle(demo_run["fusion"], demo_run["normalize"])
    settings, record = resolve_preparation(bundle, ("audio",), {"confidence_threshold": 0.5})
    assert settings["confidence_threshold"] == 0.5 and record["confidence_threshold"]["used"] is False
    with pytest.raises(InputError, match="confidence_threshold"):
        resolve_preparation(bundle, ("audio", "video"), {"confidence_threshold": 0.5})


def test_old_checkpoints_are_refused_and_unrecorded_settings_take_defaults(demo_run, tmp_path):
    from depsev.predict.bundle import load_model_bundle
    from depsev.predict.contract import resolve_preparation

    model = tmp_path / "old-model"
    shutil.copytree(demo_run["fusion"], model)
    cfg = json.loads((model / "config.json").read_text())
    pid = demo_run["dev"][0]

    def write(config: dict) -> None:
        (model / "config.json").write_text(json.dumps(config))

    # the layout before the shards carried the preparation (shard schema 2): refused, retrain
    old = json.loads(json.dumps(cfg))
    old["features"].update(schema_version=2, weights={"weights_mode": "random", "weights_file": "random"})
    del old["features"]["preparation"]
    write(old)
    with pytest.raises(InputError, match="schema version 2.*feature preparation.*retrain it"):
        _predict(demo_run, pid, model=model)
    # the current schema without the preparation: refused too
    none = json.loads(json.dumps(cfg))
    del none["features"]["preparation"]
    write(none)
    with pytest.raises(InputError, match=r"no feature preparation recorded \(features\.preparation\)"):
        load_model_bundle(model, demo_run["normalize"])
    # a setting the training features' files did not record: depsev's default, said so
    partial = json.loads(json.dumps(cfg))
    for key in ("confidence_threshold", "normalize_audio"):
        del partial["features"]["preparation"][key]
    write(partial)
    res = _predict(demo_run, pid, model=model, modalities=["video"], confidence_threshold=None)
    prep = res["provenance"]["preparation"]
    assert prep["confidence_threshold"] == {"value": 0.75,
                                            "source": "default (not recorded in the checkpoint)"}
    assert res["modalities_used"] == ["video"]
    # nothing to compare with: explicit values are taken as given; recorded ones still checked
    bundle = load_model_bundle(model, demo_run["normalize"])
    settings, record = resolve_preparation(bundle, ("audio", "video"), {"confidence_threshold": 0.5})
    assert settings["confidence_threshold"] == 0.5 and record["confidence_threshold"]["source"] == "given"
    assert settings["normalize_audio"] is True and record["normalize_audio"]["source"].startswith("default")
    with pytest.raises(InputError, match="denoise is True here"):
        resolve_preparation(bundle, ("audio", "video"), {"denoise": True})


def test_vggish_weights_file_is_checked_by_sha256(demo_run, tmp_path):
    from depsev.hashing import file_sha256
    from depsev.predict.bundle import load_model_bundle
    from depsev.predict.contract import resolve_vggish

    trained = tmp_path / "vggish-10086976.pth"
    trained.write_bytes(b"the trained weights")
    model = tmp_path / "pretrained-model"
    shutil.copytree(demo_run["fusion"], model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["features"]["preparation"].update(vggish_weights_mode="pretrained", vggish_weights_file=trained.name,
                                          vggish_weights_sha256=file_sha256(trained))
    (model / "config.json").write_text(json.dumps(cfg))
    bundle = load_model_bundle(model, demo_run["normalize"])
    other = tmp_path / "other" / trained.name  # same name, other content
    other.parent.mkdir()
    other.write_bytes(b"other weights")
    with pytest.raises(InputError, match=r"VGGish weights 'vggish-10086976.pth' here \(sha256 [0-9a-f]{64}\) "
                                         r"but the model was trained with"):
        resolve_vggish(bundle, other)
    copy = tmp_path / "renamed.pth"
    shutil.copy(trained, copy)
    weights, allow_random, rec = resolve_vggish(bundle, copy)
    assert weights == str(copy) and not allow_random and "renamed copy" in rec["source"]
    with pytest.raises(InputError, match="pass that file"):
        resolve_vggish(bundle, None)
    # the training run's configured weights file, when it is here with the recorded sha256
    cfg["features"]["preparation"]["vggish_weights_path"] = str(trained)
    (model / "config.json").write_text(json.dumps(cfg))
    weights, _, rec = resolve_vggish(load_model_bundle(model, demo_run["normalize"]), None)
    assert weights == str(trained) and rec["source"].startswith("checkpoint")


# ---------------------------------------------------------------- real recordings
def test_real_speech_and_openface_fixtures(demo_run, speech_fixtures, openface_fixtures):
    from depsev.predict.result import summary_line

    wav = speech_fixtures / "pyannote_sample_2speakers_16k.wav"
    csv = openface_fixtures / "default.csv"  # 288 frames at 15 fps: shorter than one 600-frame chunk
    with pytest.raises(InputError, match="shorter than one chunk"):
        _predict(demo_run, openface=csv, interviewer="ai")
    res = _predict(demo_run, audio=wav, openface=csv, interviewer="ai", allow_short=True)
    assert res["low_confidence"] and any("shorter than one chunk" in f for f in res["flags"])
    assert "LOW CONFIDENCE" in summary_line(res)
    assert res["n_chunks"] == 1 and res["modalities_used"] == ["audio", "video"]
    assert res["qc"]["segmentation"] == "vad" and 5 < res["qc"]["participant_speech_s"] <= 30.1
    # the training sessions were segmented by their transcripts: said so
    assert any("found by vad here" in n and "transcript" in n for n in res["notes"])
    assert res["qc"]["face_frames"] == 288 and res["qc"]["face_valid_share"] == pytest.approx(1.0)
    assert res["qc"]["face_fps"] == pytest.approx(15.0, rel=0.05)
    assert 0 <= res["phq8"]["estimate"] <= 24 and res["chunks"][0]["valid_share"]["video"] < 0.5


# ---------------------------------------------------------------- bad input
def test_a_face_clock_in_milliseconds_gives_a_low_confidence_result(demo_run, tmp_path):
    pid = demo_run["dev"][0]
    files = _demo_files(demo_run, pid)
    of = pd.read_csv(files["openface"])
    stamp = [c for c in of.columns if c.strip() == "timestamp"][0]
    of[stamp] = of[stamp] * 1000.0
    ms = tmp_path / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"
    of.to_csv(ms, index=False)
    res = _predict(demo_run, audio=files["audio"], transcript=files["transcript"], openface=ms,
                   participant_id=pid)
    assert res["low_confidence"] and any("face timestamps run to" in f for f in res["flags"]), res["flags"]


def test_silent_audio_no_face_and_missing_things(demo_run, tmp_path):
    pid = demo_run["dev"][0]
    files = _demo_files(demo_run, pid)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 60, np.float32), 16000)
    res = _predict(demo_run, audio=silent, openface=files["openface"], participant_id=pid)
    assert res["low_confidence"] and res["modalities_used"] == ["video"]
    assert any("audio not usable" in f and "silent" in f for f in res["flags"])
    with pytest.raises(InputError, match="nothing the model can use"):
        _predict(demo_run, audio=silent, participant_id=pid)
    of = pd.read_csv(files["openface"])
    success = [c for c in of.columns if c.strip() == "success"][0]
    of[success] = 0
    noface = tmp_path / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv"
    of.to_csv(noface, index=False)
    res = _predict(demo_run, audio=files["audio"], transcript=files["transcript"], openface=noface,
                   participant_id=pid)
    assert res["low_confidence"] and res["modalities_used"] == ["audio"]
    assert any("no valid face frame" in f for f in res["flags"])
    with pytest.raises(InputError, match="not found"):
        _predict(demo_run, audio=tmp_path / "absent.wav", interviewer="woz")
    with pytest.raises(InputError, match="interviewer type"):
        _predict(demo_run, openface=files["openface"])
    with pytest.raises(InputError, match="no recording"):
        _predict(demo_run, transcript=files["transcript"], interviewer="woz")


def test_video_without_container_runtime_says_how_to_give_the_csv(demo_run, tmp_path, monkeypatch):
    monkeypatch.setattr("depsev.features.openface_container.shutil.which", lambda name: None)
    video = tmp_path / "new.mp4"
    video.write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="no container runtime") as err:
        _predict(demo_run, video=video, interviewer="woz")
    assert "pass the CSV it writes with --openface" in str(err.value) and err.value.path == video


# ---------------------------------------------------------------- missing-modality cost
def test_modality_costs_on_dev(demo_run):
    from depsev.predict.bench import modality_costs

    costs = modality_costs(demo_run["fusion"], demo_run["shards"], "dev")
    recorded = json.loads((Path(demo_run["fusion"]) / "config.json").read_text())["result"]
    assert costs["both"] == pytest.approx(recorded["dev_participant_mae"], abs=1e-4)
    for k in ("audio_only", "face_only", "train_mean_mae"):
        assert np.isfinite(costs[k])
    assert costs["cost_face_only"] == pytest.approx(costs["face_only"] - costs["both"])
    print(json.dumps(costs))
