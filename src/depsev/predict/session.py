"""``depsev predict``: one NEW session (not part of any corpus) from recordings to a readable result.

Pipeline (every stage is the workflow's own library code, never a copy):

1. inputs: a session folder in E-DAIC / DAIC-WOZ layout (:func:`depsev.corpus.sessions.find_sessions`)
   or explicit files: a wav, plus an OpenFace CSV or a video (the video goes through OpenFace 2.x
   FeatureExtraction in the pinned container:
   :func:`depsev.features.openface_container.feature_extraction_command`;
   without a container runtime a clear error says how to supply the CSV instead);
2. features: :func:`depsev.features.audio.clean_session` -> :func:`depsev.features.vggish.vggish_session`
   (and, optionally, :func:`depsev.features.egemaps.egemaps_session`, not used by the models);
   :func:`depsev.features.face.face_frames`;
3. the features must match the model: the feature preparation (audio cleaning, face confidence
   threshold, min_coverage, VGGish weights file) defaults to the training run's settings, read from
   the one key ``config.json["features"]["preparation"]`` (the train and dev shards' preparation,
   :mod:`depsev.shards.preparation`), and an explicit other value is refused
   (:func:`resolve_preparation`, :func:`resolve_vggish`); feature set, VGGish weights and the
   TRAINING run's normalization statistics (``results/normalize/{video,audio}.json``, sha256
   recorded in the model's ``config.json``) are compared with
   :func:`depsev.checkpoint.check_features_match`; any difference is refused with a message
   naming it;
4. normalization and chunking with the model's chunk configuration, by the shard stage's own code:
   :func:`depsev.shards.session.load_stream` and :func:`depsev.shards.session.plan_chunks` (the audio
   of a fusion chunk placed on the video chunk's time axis);
5. the model (:func:`depsev.checkpoint.load_checkpoint`, :func:`depsev.inference.predict_batches`)
   and the participant-level combination of the chunks
   (:func:`depsev.evaluate.aggregate.aggregate_participants`), also on every prefix of the session
   (the running estimate as the interview goes on).

Missing modality: the fusion model runs on whichever stream is present (the absent stream's gate is
forced to 0: :class:`depsev.models.FusionModel`); ``modalities`` restricts the streams on purpose.
The result says which streams were used.  Chunking without video for a two-stream model: a regular
time grid of the span of a video chunk at the nominal 30 fps, the audio placed by time as in training
(:mod:`depsev.shards.session`).

Bad input never yields a number presented as normal: no usable stream, or a session shorter than one
chunk (unless ``allow_short``) raise :class:`~depsev.errors.InputError`; silent audio / no valid face
while the other stream is usable, little participant speech, few valid face frames, or a padded short
session give a result with ``low_confidence: true`` and the reasons in ``flags``.

This is a research measurement, not a diagnosis (:data:`STATEMENT`, in every result).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from depsev import __version__
from depsev.checkpoint import MODEL_FILE, check_features_match, load_checkpoint
from depsev.constants import (
    BAND_LABELS,
    BINARY_THRESHOLD,
    INTERVIEWERS,
    P_BAND_COLUMNS,
    PHQ_MAX,
    PHQ_MIN,
    STREAM_KEYS,
    face_feature_set_name,
    interviewer_from_id,
)
from depsev.errors import InputError
from depsev.evaluate.aggregate import aggregate_participants
from depsev.features.io import read_feature_meta
from depsev.hashing import file_sha256
from depsev.inference import predict_batches, prediction_frame
from depsev.models import model_streams
from depsev.qc import face_clock_problems
from depsev.shards.chunks import STREAM_SOURCES, ChunkConfig
from depsev.shards.normalize import load_stats
from depsev.shards.preparation import PREPARATION_KEY, session_preparation, vggish_weights
from depsev.shards.preparation import vggish_weights as recorded_weights
from depsev.shards.session import SessionChunks, Stream, load_stream, plan_chunks

STATEMENT = ("Research measurement, not a diagnosis: this number comes from a model of speech and facial "
             "behaviour trained on a research corpus; it is not a clinical assessment and must not be "
             "used to make decisions about a person's care.")
#: two-sided 90 % interval: mu +- Z90 sigma
Z90 = float(norm.ppf(0.95))
#: QC thresholds of a new session (same values as the corpus manifest's defaults)
MIN_SPEECH_SECONDS = 10.0
MIN_FACE_VALID_SHARE = 0.1
#: feature file folder per stream inside the work directory
FOLDERS = {"audio": "vggish", "video": "face"}
#: container runtimes that can run the pinned OpenFace image
CONTAINER_RUNTIMES = ("apptainer", "singularity", "docker")


# ---------------------------------------------------------------- inputs
@dataclass(frozen=True)
class SessionInput:
    """The recordings of one new session (``None`` where absent)."""

    audio: Path | None = None
    openface: Path | None = None
    openface_pose: Path | None = None
    openface_gaze: Path | None = None
    video: Path | None = None
    transcript: Path | None = None
    participant_id: int | None = None

    @property
    def name(self) -> str:
        """File stem used for the work files (the participant ID when known)."""
        return str(self.participant_id) if self.participant_id is not None else "session"


def _existing(path: str | Path | None, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise InputError(p, f"{what} not found")
    return p


def find_session_inputs(session_dir: str | Path | None = None, *, kind: str = "edaic",
                        audio: str | Path | None = None, openface: str | Path | None = None,
                        video: str | Path | None = None, transcript: str | Path | None = None,
                        participant_id: int | None = None) -> SessionInput:
    """The inputs of one session: files found in ``session_dir`` (``kind`` layout: demo | edaic |
    daic-woz, exactly one session inside), overridden by the explicit files given."""
    found: dict[str, Any] = {}
    if session_dir is not None:
        from depsev.corpus.sessions import find_sessions

        sessions = find_sessions(session_dir, kind)
        if len(sessions) != 1:
            raise InputError(session_dir, f"expected one session in {kind} layout, found "
                                          f"{len(sessions)} ({sorted(sessions)[:5]})")
        s = next(iter(sessions.values()))
        found = {"audio": s.audio, "openface": s.openface, "openface_pose": s.openface_pose,
                 "openface_gaze": s.openface_gaze, "video": s.video, "transcript": s.transcript,
                 "participant_id": s.participant_id}
    given = {"audio": audio, "openface": openface, "video": video, "transcript": transcript}
    found.update({k: v for k, v in given.items() if v is not None})
    if participant_id is not None:
        found["participant_id"] = int(participant_id)
    inputs = SessionInput(
        audio=_existing(found.get("audio"), "audio file"),
        openface=_existing(found.get("openface"), "OpenFace CSV"),
        openface_pose=_existing(found.get("openface_pose"), "pose file"),
        openface_gaze=_existing(found.get("openface_gaze"), "gaze file"),
        video=_existing(found.get("video"), "video file"),
        transcript=_existing(found.get("transcript"), "transcript"),
        participant_id=found.get("participant_id"))
    if inputs.audio is None and inputs.openface is None and inputs.video is None:
        raise InputError(session_dir, "no recording: give a wav and/or an OpenFace CSV (or a video)")
    return inputs


# ---------------------------------------------------------------- the model
@dataclass
class ModelBundle:
    """A loaded model with what is needed to prepare its inputs."""

    model: torch.nn.Module
    config: dict
    directory: Path
    streams: tuple[str, ...]
    stats: dict[str, dict] = field(default_factory=dict)
    stats_files: dict[str, Path] = field(default_factory=dict)
    model_sha256: str = ""

    @property
    def stream_info(self) -> dict[str, dict]:
        """Shard metadata per stream (feature set, dim, chunk_frames, steps, downsample, normalization)."""
        return self.config.get("features", {}).get("streams", {})

    @property
    def preparation(self) -> dict[str, Any]:
        """How the training features were prepared: ``config.json["features"]["preparation"]``."""
        return self.config["features"][PREPARATION_KEY]


def default_normalize_dir(config: dict) -> Path:
    """``<shard_root>/../normalize``: where the training run wrote its statistics."""
    return Path(config.get("data", {}).get("shard_root", "results/shards")).parent / "normalize"


def load_model_bundle(model_dir: str | Path, normalize_dir: str | Path | None = None) -> ModelBundle:
    """Load a torch checkpoint folder and the training run's normalization statistics of its streams."""
    model_dir = Path(model_dir)
    model, config = load_checkpoint(model_dir)
    if not isinstance(model, torch.nn.Module):
        raise InputError(model_dir, f"kind {config.get('kind')!r} is not a torch model; depsev predict "
                                    "runs the neural models (fusion, moe, expert, lstm, resnet)")
    streams = model_streams(config["modality"])
    infos = config.get("features", {}).get("streams", {})
    missing = [s for s in streams if s not in infos]
    if missing:
        raise InputError(model_dir / "config.json", f"no feature provenance for stream(s) {missing}")
    if not isinstance(config.get("features", {}).get(PREPARATION_KEY), dict):
        raise InputError(model_dir / "config.json", f"no feature preparation recorded (features."
                                                    f"{PREPARATION_KEY}): retrain the model with this depsev")
    ndir = Path(normalize_dir) if normalize_dir is not None else default_normalize_dir(config)
    bundle = ModelBundle(model=model, config=config, directory=model_dir, streams=streams,
                         model_sha256=file_sha256(model_dir / MODEL_FILE))
    for s in streams:
        name = (infos[s].get("normalization") or {}).get("file") or f"{s}.json"
        path = ndir / name
        if not path.is_file():
            raise InputError(path, f"the {s} normalization statistics of the model's training run are "
                                   "not here; pass the run's results/normalize folder (normalize_dir / "
                                   "--normalize)")
        bundle.stats[s], bundle.stats_files[s] = load_stats(path), path
    return bundle


def _trained_features(bundle: ModelBundle, streams: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "audio" in streams:
        out["vggish_weights"] = vggish_weights(bundle.preparation)
    for s in streams:
        info = bundle.stream_info[s]
        out[f"{s}.feature_set"] = info.get("feature_set")
        out[f"{s}.dim"] = info.get("dim")
        out[f"{s}.normalization_sha256"] = (info.get("normalization") or {}).get("sha256")
    return out


def _observed_features(bundle: ModelBundle, streams: Sequence[str], weights: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "audio" in streams:
        out["vggish_weights"] = weights
    for s in streams:
        out[f"{s}.feature_set"] = (face_feature_set_name(bundle.stats[s]["feature_names"]) if s == "video"
                                   else STREAM_SOURCES[s]["feature_set"])
        out[f"{s}.dim"] = len(bundle.stats[s]["feature_names"])
        out[f"{s}.normalization_sha256"] = file_sha256(bundle.stats_files[s])
    return out


def check_session_features(bundle: ModelBundle, streams: Sequence[str], weights: dict | None,
                           where: str | Path | None) -> None:
    """Refuse features prepared differently from the model's training data (names the difference)."""
    check_features_match({"features": _trained_features(bundle, streams)},
                         _observed_features(bundle, streams, weights), where)


def resolve_vggish(bundle: ModelBundle, weights: str | Path | None) -> tuple[str, bool, dict[str, Any]]:
    """``(weights, allow_random, record)`` for VGGish, checked against the training run's weights.

    ``None`` takes the trained weights: ``random`` for a random-weights model, else the weights file
    the training run's VGGish stage read (``preparation.vggish_weights_path``) when it exists here
    and has the recorded sha256 -- otherwise the file must be given.  A given file is refused when
    its sha256 (recorded for pretrained weights) or, without a recorded sha256, its name differs from
    the trained file's; a renamed copy with the recorded sha256 is accepted.
    """
    prep = bundle.preparation
    mode, file, sha = (prep.get(f"vggish_weights_{k}") for k in ("mode", "file", "sha256"))
    rec: dict[str, Any] = {"trained_mode": mode, "trained_file": file, "trained_sha256": sha}
    if weights is None:
        if mode == "random":
            return "random", True, {**rec, "value": "random", "source": "checkpoint"}
        path = prep.get("vggish_weights_path")
        if path and Path(path).is_file() and (sha is None or file_sha256(path) == sha):
            return str(path), False, {**rec, "value": str(path), "sha256": sha,
                                      "source": "checkpoint (the training run's configured weights file)"}
        sha_txt = f", sha256 {sha}" if sha else ""
        raise InputError(bundle.directory, f"the model was trained on VGGish features with weights "
                                           f"{file!r} (pretrained{sha_txt}): pass that file as "
                                           "vggish_weights / --vggish-weights")
    given = "random" if str(weights) == "random" else Path(weights).name
    if given != "random" and sha is not None:
        path = _existing(weights, "VGGish weights file")
        assert path is not None
        digest = file_sha256(path)
        if digest != sha:
            raise InputError(weights, f"features do not match the model: VGGish weights {given!r} here "
                                      f"(sha256 {digest}) but the model was trained with {file!r} "
                                      f"(sha256 {sha})")
        source = "given" if given == file else f"given (a renamed copy of {file!r}: same sha256)"
        return str(weights), False, {**rec, "value": str(weights), "sha256": digest, "source": source}
    if file is not None and given != file:
        raise InputError(weights, f"features do not match the model: VGGish weights {given!r} here but the "
                                  f"model was trained with {file!r} (weights mode {mode})")
    return str(weights), mode == "random", {**rec, "value": str(weights), "source": "given"}


# ---------------------------------------------------------------- feature preparation
#: feature-preparation arguments of :func:`predict_session` and the value each takes when the
#: checkpoint's preparation records none (its training features' files did not record it): the
#: workflow's defaults (config.yaml ``audio.*``, ``face.confidence_threshold``, ``chunks.min_coverage``)
PREPARATION_DEFAULTS: dict[str, Any] = {"segmentation": "auto", "denoise": True, "normalize_audio": True,
                                        "confidence_threshold": 0.75, "min_coverage": 0.5}
#: the stream each setting acts on (``None``: both)
PREPARATION_STREAM: dict[str, str | None] = {"segmentation": "audio", "denoise": "audio",
                                             "normalize_audio": "audio", "confidence_threshold": "video",
                                             "min_coverage": None}


def harmless_difference(key: str, trained: Any, given: Any) -> str | None:
    """Why an explicit setting that differs from the trained one is harmless (``None``: it is not)."""
    if key == "min_coverage":
        return ("min_coverage only decides whether the session's last, partial chunk is kept (padded) "
                "or dropped; no feature changes")
    if key == "segmentation" and trained == "auto" and given == "transcript":
        return ("'auto' segments by the transcript whenever one is given; 'transcript' only refuses a "
                "session without one")
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def resolve_preparation(bundle: ModelBundle, wanted: Sequence[str], given: dict[str, Any]
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(settings, record)``: the feature-preparation settings to use, and their provenance.

    A setting left as ``None`` takes the value recorded in the checkpoint
    (``config.json["features"]["preparation"]``, :func:`depsev.train.run.feature_preparation`), or
    :data:`PREPARATION_DEFAULTS` when that key records none (said so in the record).  An explicit value
    that differs from the recorded one is refused with :class:`~depsev.errors.InputError` naming the
    setting, the trained and the given value, unless :func:`harmless_difference` says why not; a
    setting of a stream not predicted from (``wanted``) is not compared.
    """
    recorded = bundle.preparation
    settings: dict[str, Any] = {}
    record: dict[str, Any] = {}
    for key, default in PREPARATION_DEFAULTS.items():
        stream = PREPARATION_STREAM[key]
        applies = stream is None or stream in wanted
        trained, value = recorded.get(key), given.get(key)
        if value is None:
            settings[key] = trained if trained is not None else default
            source = "checkpoint" if trained is not None else "default (not recorded in the checkpoint)"
        else:
            settings[key], source = value, "given"
            if trained is not None and applies and not _same(value, trained):
                why = harmless_difference(key, trained, value)
                if why is None:
                    raise InputError(bundle.directory / "config.json",
                                     f"feature preparation does not match the model: {key} is {value!r} "
                                     f"here but the model was trained with {trained!r} (leave {key} out "
                                     "to use the trained value)")
                source = f"given; differs from the trained value, harmless: {why}"
        entry: dict[str, Any] = {"value": settings[key], "source": source}
        if trained is not None:
            entry["trained"] = trained
        if not applies:
            entry["used"] = False
        record[key] = entry
    for key in ("segmentation_used", "sessions"):
        if key in recorded:
            record[f"training_{key}"] = recorded[key]
    return settings, record


# ---------------------------------------------------------------- features
@contextmanager
def _timer(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def openface_container_command(runtime: str, video: Path, raw: Path, *, image: str,
                               binary: str | None = None) -> list[str]:
    """The command line that runs FeatureExtraction (:func:`~depsev.features.openface_container.
    feature_extraction_command`) on ``video`` into ``raw`` in ``image`` with ``runtime``.

    Absolute paths, symlinks resolved (a linked video's target folder is what must be visible in
    the container, and FeatureExtraction names its CSV after the target's stem).  ``docker``:
    ``docker run --rm --user UID:GID -v D:D ...`` for the video's folder and ``raw`` (``docker://``
    stripped from the image; run as the calling user so that the CSVs are not owned by root);
    ``apptainer`` / ``singularity``: ``exec --bind D,...`` (by default they see only
    $HOME, /tmp and the working directory).
    """
    from depsev.features.openface_container import DEFAULT_BINARY, feature_extraction_command

    video, raw = video.resolve(), raw.resolve()
    cmd = feature_extraction_command(video, raw, binary=binary or DEFAULT_BINARY)
    dirs = list(dict.fromkeys((str(video.parent), str(raw))))
    if runtime == "docker":
        mounts = [a for d in dirs for a in ("-v", f"{d}:{d}")]
        user = ["--user", f"{os.getuid()}:{os.getgid()}"] if hasattr(os, "getuid") else []
        return ["docker", "run", "--rm", *user, *mounts, image.removeprefix("docker://"), *cmd]
    return [runtime, "exec", "--bind", ",".join(dirs), image, *cmd]


def openface_from_video(video: Path, out_dir: Path, participant_id: int | None, *,
                        image: str | None, binary: str | None = None) -> Path:
    """Run OpenFace 2.x FeatureExtraction on ``video`` in the pinned container
    (:func:`openface_container_command`, the first runtime of :data:`CONTAINER_RUNTIMES` found on
    PATH); return the CSV, renamed to E-DAIC's ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv`` in ``out_dir``.

    Without a runtime or an image, a failing run (the tail of its stderr, else stdout, is quoted),
    or no CSV written: :class:`~depsev.errors.InputError` naming the video, with the FeatureExtraction
    command to run by hand and the advice to pass the CSV with --openface.
    """
    from depsev.features.openface_container import (
        DEFAULT_BINARY,
        edaic_openface_name,
        feature_extraction_command,
        rename_to_edaic,
    )

    video = Path(video)
    runtime = next((r for r in CONTAINER_RUNTIMES if shutil.which(r)), None)
    raw = Path(out_dir) / "openface_raw"
    cmd = feature_extraction_command(video, raw, binary=binary or DEFAULT_BINARY)
    how = (f"run OpenFace 2.x yourself (`{' '.join(cmd)}`, or the workflow rule openface_extract) and "
           "pass the CSV it writes with --openface")
    if runtime is None:
        raise InputError(video, "a video needs OpenFace 2.x FeatureExtraction, run in a container, but no "
                                f"container runtime ({', '.join(CONTAINER_RUNTIMES)}) was found: {how}")
    if not image:
        raise InputError(video, f"no OpenFace container image given (config.yaml openface.image): {how}")
    raw.mkdir(parents=True, exist_ok=True)
    full = openface_container_command(runtime, video, raw, image=image, binary=binary)
    res = subprocess.run(full, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr.strip() or res.stdout.strip())[-500:] or "(no output)"
        raise InputError(video, f"OpenFace FeatureExtraction failed ({runtime}, exit {res.returncode}): "
                                f"{tail} -- {how}")
    pid = participant_id if participant_id is not None else 0
    try:
        return rename_to_edaic(raw, video.resolve(), pid, Path(out_dir) / edaic_openface_name(pid))
    except InputError as exc:
        raise InputError(video, f"OpenFace FeatureExtraction ({runtime}) ran but {exc} -- {how}") from exc


@dataclass
class SessionFeatures:
    """Per-session feature files and their QC records."""

    files: dict[str, Path] = field(default_factory=dict)
    qc: dict[str, dict] = field(default_factory=dict)
    weights: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)


def audio_features(inputs: SessionInput, work: Path, feats: SessionFeatures, *, weights: str,
                   allow_random: bool, segmentation: str, denoise: bool, normalize_audio: bool,
                   with_egemaps: bool, threads: int | None) -> None:
    """Clean the audio (participant speech only), then VGGish (and optionally eGeMAPS)."""
    from depsev.features.audio import clean_session
    from depsev.features.vggish import vggish_session

    assert inputs.audio is not None
    wav, segs = work / "audio" / f"{inputs.name}.wav", work / "audio" / f"{inputs.name}_segments.parquet"
    with _timer(feats.timings, "audio_clean"):
        feats.qc["audio"] = clean_session(inputs.audio, wav, segs, transcript_path=inputs.transcript,
                                          segmentation=segmentation, denoise=denoise,
                                          normalize=normalize_audio)
    out = work / "vggish" / f"{inputs.name}.parquet"
    with _timer(feats.timings, "vggish"):
        feats.qc["vggish"] = vggish_session(wav, segs, out, weights=weights, allow_random=allow_random,
                                            threads=threads)
    feats.weights = vggish_weights(session_preparation("audio", read_feature_meta(out))[0])
    feats.files.update(clean_wav=wav, segments=segs, audio=out)
    if with_egemaps:
        from depsev.features.egemaps import egemaps_session

        eg = work / "egemaps" / f"{inputs.name}.parquet"
        with _timer(feats.timings, "egemaps"):
            feats.qc["egemaps"] = egemaps_session(wav, segs, eg)
        feats.files["egemaps"] = eg


def face_features(inputs: SessionInput, work: Path, feats: SessionFeatures, *, confidence_threshold: float,
                  openface_image: str | None, openface_binary: str | None = None) -> None:
    """OpenFace CSV (or video -> container) -> face frames with validity."""
    from depsev.features.face import face_frames

    csv = inputs.openface
    if csv is None:
        assert inputs.video is not None
        with _timer(feats.timings, "openface"):
            csv = openface_from_video(inputs.video, work / "openface", inputs.participant_id,
                                      image=openface_image, binary=openface_binary)
    out = work / "face" / f"{inputs.name}.parquet"
    with _timer(feats.timings, "face_frames"):
        feats.qc["face"] = face_frames(csv, out, confidence_threshold=confidence_threshold,
                                       pose=inputs.openface_pose, gaze=inputs.openface_gaze)
    feats.files["video"] = out


# ---------------------------------------------------------------- streams and chunks
def model_chunk_config(bundle: ModelBundle, min_coverage: float) -> ChunkConfig:
    """The chunk configuration of the model's training shards (``config.json`` features
    ``chunk_config``), with ``min_coverage`` as asked for."""
    recorded = bundle.config.get("features", {}).get("chunk_config")
    if not recorded:
        raise InputError(bundle.directory / "config.json", "no chunk_config in the features provenance: "
                                                           "retrain the model with this depsev")
    return ChunkConfig.coerce({**recorded, "min_coverage": float(min_coverage)})


def session_streams(bundle: ModelBundle, feats: SessionFeatures, used: Sequence[str]) -> dict[str, Stream]:
    """The used streams of the session, normalized with the training run's statistics."""
    return {s: load_stream(feats.files[s], s, bundle.stats[s],
                           normalization_sha256=file_sha256(bundle.stats_files[s])) for s in used}


def chunk_batch(plan: SessionChunks, z: int) -> dict[str, torch.Tensor]:
    """Model batch of every chunk: ``xa/ma``, ``xv/mv`` of the used streams, ``z``, ``index``."""
    batch: dict[str, torch.Tensor] = {}
    n = len(plan.entries)
    for s in plan.entries[0] if n else ():
        kx, km = STREAM_KEYS[s]
        batch[kx] = torch.from_numpy(np.stack([e[s].seq for e in plan.entries]))
        batch[km] = torch.from_numpy(np.stack([e[s].mask for e in plan.entries]))
    batch["z"] = torch.full((n,), int(z), dtype=torch.int64)
    batch["index"] = torch.arange(n, dtype=torch.int64)
    return batch


def run_model(model: torch.nn.Module, batch: dict[str, torch.Tensor], batch_size: int = 16
              ) -> dict[str, np.ndarray]:
    """Model outputs (:func:`depsev.inference.predict_batches`) for every chunk of ``batch``, in
    slices of ``batch_size``."""
    n = int(batch["z"].shape[0])
    return predict_batches(model, ({k: v[start:start + batch_size] for k, v in batch.items()}
                                   for start in range(0, n, batch_size)))


# ---------------------------------------------------------------- combining chunks
def running_estimates(chunks: pd.DataFrame, interviewer: str) -> pd.DataFrame:
    """Participant-level estimate after each chunk (:func:`aggregate_participants` on every prefix);
    the last row is the session's estimate.

    ``aggregate_participants`` also carries the truth columns of a labelled corpus; a new session
    has none, so they are filled with neutral values here and dropped from the result.
    """
    n = len(chunks)
    parts = []
    for k in range(n):
        prefix = chunks.iloc[:k + 1][["mu", "var", *P_BAND_COLUMNS]].copy()
        prefix["participant_id"] = k
        parts.append(prefix)
    table = pd.concat(parts, ignore_index=True)
    table = table.assign(phq_score=0, interviewer=interviewer, gender="", split="dev")
    agg = aggregate_participants(table)
    return agg.drop(columns=["split", "interviewer", "gender", "phq_score", "band"]).rename(
        columns={"participant_id": "after_chunk"})


def _interval(mu: float, sigma: float) -> list[float]:
    return [max(float(PHQ_MIN), mu - Z90 * sigma), min(float(PHQ_MAX), mu + Z90 * sigma)]


def _chunk_records(plan: SessionChunks, df: pd.DataFrame, running: pd.DataFrame) -> list[dict]:
    records = []
    for i, entry in enumerate(plan.entries):
        c = entry["video"] if "video" in entry else entry["audio"]
        row, run = df.iloc[i], running.iloc[i]
        rmu, rsig = float(run["mu"]), math.sqrt(float(run["var"]))
        rec: dict[str, Any] = {
            "index": int(c.index), "start_s": round(float(c.start_time), 3),
            "end_s": round(float(c.end_time), 3),
            "mu": float(row["mu"]), "sigma": math.sqrt(float(row["var"])),
            "band_probabilities": [float(row[p]) for p in P_BAND_COLUMNS],
            "valid_share": {s: float(ch.valid_share) for s, ch in entry.items()},
            "running": {"mu": rmu, "sigma": rsig, "interval90": _interval(rmu, rsig)}}
        if "gate_woz" in row:
            rec["expert_weights"] = {w: float(row[f"gate_{w}"]) for w in INTERVIEWERS}
        if "alpha_audio" in row:
            rec["modality_gates"] = {s: float(row[f"alpha_{s}"]) for s in ("audio", "video")}
        records.append(rec)
    return records


# ---------------------------------------------------------------- the whole session
def _resolve_interviewer(interviewer: str | None, inputs: SessionInput) -> str:
    if interviewer is not None:
        if interviewer not in INTERVIEWERS:
            raise InputError(None, f"interviewer must be one of {INTERVIEWERS}, got {interviewer!r}")
        return interviewer
    if inputs.participant_id is not None:
        try:
            return interviewer_from_id(inputs.participant_id)
        except ValueError:
            pass
    raise InputError(None, "give the interviewer type of the session (woz = human-controlled, ai = "
                           "autonomous agent): the model's experts and gate depend on it")


def _requested(bundle: ModelBundle, modalities: Sequence[str] | None) -> tuple[str, ...]:
    if modalities is None:
        return bundle.streams
    bad = [m for m in modalities if m not in ("audio", "video")]
    if bad or not modalities:
        raise InputError(None, "modalities must be a non-empty subset of ('audio', 'video'), got "
                               f"{list(modalities)}")
    unknown = [m for m in modalities if m not in bundle.streams]
    if unknown:
        raise InputError(bundle.directory, f"the model ({bundle.config['kind']}/{bundle.config['modality']}) "
                                           f"does not read {unknown}")
    return tuple(s for s in bundle.streams if s in modalities)


def _usable_streams(bundle: ModelBundle, inputs: SessionInput, feats: SessionFeatures,
                    wanted: tuple[str, ...], flags: list[str], notes: list[str]) -> tuple[str, ...]:
    """Streams that enter the model; unusable given recordings become low-confidence flags."""
    usable = []
    for s in wanted:
        if s == "audio":
            if inputs.audio is None:
                notes.append("no audio recording given")
                continue
            qc = feats.qc["audio"]
            if feats.qc["vggish"]["n_examples"] == 0:
                flags.append("audio not usable: " + ("; ".join(qc["flags"]) or "no VGGish example"))
                continue
            if qc["participant_seconds"] < MIN_SPEECH_SECONDS:
                flags.append(f"little participant speech ({qc['participant_seconds']:.1f} s < "
                             f"{MIN_SPEECH_SECONDS:g} s)")
        else:
            if inputs.openface is None and inputs.video is None:
                notes.append("no face recording (OpenFace CSV or video) given")
                continue
            qc = feats.qc["face"]
            if qc["n_valid"] == 0:
                flags.append("face not usable: no valid face frame (OpenFace success/confidence)")
                continue
            share = qc["n_valid"] / max(1, qc["n_frames"])
            if share < MIN_FACE_VALID_SHARE:
                flags.append(f"few valid face frames ({share:.0%} < {MIN_FACE_VALID_SHARE:.0%})")
            audio_s = feats.qc["audio"]["duration_s"] if "audio" in feats.qc else None
            flags.extend(face_clock_problems(qc, audio_s))  # the manifest's check, as a flag here
        usable.append(s)
    if not usable:
        raise InputError(inputs.audio or inputs.openface or inputs.video,
                         f"nothing the model can use: {'; '.join(flags + notes)} (the model reads "
                         f"{' + '.join(bundle.streams)})")
    return tuple(usable)


def _qc_record(inputs: SessionInput, feats: SessionFeatures, plan: SessionChunks,
               streams: dict[str, Stream]) -> dict:
    qc: dict[str, Any] = {"n_chunks": len(plan.entries), "chunking": plan.rule,
                          **{k: v for k, v in plan.qc.items() if v not in ("", None)}}
    if "audio" in feats.qc:
        a = feats.qc["audio"]
        qc.update(audio_duration_s=a["duration_s"], participant_speech_s=a["participant_seconds"],
                  segmentation=a["segmentation"], audio_flags=a["flags"],
                  vggish_examples=feats.qc["vggish"]["n_examples"])
    if "face" in feats.qc:
        f = feats.qc["face"]
        qc.update(face_frames=f["n_frames"], face_valid_share=f["n_valid"] / max(1, f["n_frames"]),
                  face_fps=f["fps_median"], face_flags=f["flags"])
    qc["nan_values_zeroed"] = sum(s.nan_zeroed for s in streams.values())
    return qc


def _provenance(bundle: ModelBundle, feats: SessionFeatures, inputs: SessionInput,
                preparation: dict | None = None) -> dict:
    cfg = bundle.config
    synthetic, kind = bool(cfg.get("synthetic")), cfg.get("dataset_kind")
    return {
        "model_dir": str(bundle.directory), "model_file_sha256": bundle.model_sha256,
        "model": {"kind": cfg.get("kind"), "modality": cfg.get("modality"), "seed": cfg.get("seed"),
                  "dev_participant_mae": cfg.get("result", {}).get("dev_participant_mae")},
        "feature_set": {s: bundle.stream_info[s].get("feature_set") for s in bundle.streams},
        "vggish_weights": feats.weights if feats.weights is not None else vggish_weights(bundle.preparation),
        "normalization": {s: {"file": str(p), "sha256": file_sha256(p)}
                          for s, p in bundle.stats_files.items()},
        "training_dataset": {"kind": kind, "synthetic": synthetic,
                             "description": ("SYNTHETIC demo cohort" if synthetic
                                             else f"real corpus ({kind})")},
        "preparation": preparation or {},
        "inputs": {k: (str(v) if v is not None else None) for k, v in vars(inputs).items()},
        "depsev_version": __version__, "torch_version": torch.__version__,
    }


def predict_session(model_dir: str | Path, session_dir: str | Path | None = None, *, kind: str = "edaic",
                    audio: str | Path | None = None, openface: str | Path | None = None,
                    video: str | Path | None = None, transcript: str | Path | None = None,
                    participant_id: int | None = None, interviewer: str | None = None,
                    normalize_dir: str | Path | None = None, modalities: Sequence[str] | None = None,
                    vggish_weights: str | Path | None = None, work_dir: str | Path | None = None,
                    allow_short: bool = False, segmentation: str | None = None, denoise: bool | None = None,
                    normalize_audio: bool | None = None, confidence_threshold: float | None = None,
                    min_coverage: float | None = None, with_egemaps: bool = False,
                    openface_image: str | None = None, threads: int | None = None,
                    batch_size: int = 16) -> dict[str, Any]:
    """Predict one new session end to end; returns the result dict (see docs/predict.md).

    ``modalities``: restrict to ``audio`` and/or ``video`` (default: every stream the model reads);
    ``work_dir``: keep the feature files there (default: a temporary folder, deleted);
    ``allow_short``: a session shorter than one chunk gives a padded, low-confidence result instead
    of an error.  The feature preparation -- ``segmentation``, ``denoise``, ``normalize_audio``,
    ``confidence_threshold``, ``min_coverage``, ``vggish_weights`` -- defaults to the training run's
    settings recorded in the checkpoint; an explicit value that differs is refused
    (:func:`resolve_preparation`, :func:`resolve_vggish`).  ``openface_image`` (for a video)
    defaults to the training run's configured image.  The settings used, and where each came
    from, are in the result's ``provenance["preparation"]``.
    """
    t_start = time.perf_counter()
    bundle = load_model_bundle(model_dir, normalize_dir)
    inputs = find_session_inputs(session_dir, kind=kind, audio=audio, openface=openface, video=video,
                                 transcript=transcript, participant_id=participant_id)
    who = _resolve_interviewer(interviewer, inputs)
    wanted = _requested(bundle, modalities)
    # refuse settings other than the training run's before any feature is computed
    prep, prep_record = resolve_preparation(bundle, wanted, {
        "segmentation": segmentation, "denoise": denoise, "normalize_audio": normalize_audio,
        "confidence_threshold": confidence_threshold, "min_coverage": min_coverage})
    weights, allow_random = "", False
    if "audio" in wanted:
        weights, allow_random, prep_record["vggish_weights"] = resolve_vggish(bundle, vggish_weights)
    recorded = bundle.preparation
    if "video" in wanted:
        image = openface_image or recorded.get("openface_image")
        prep_record["openface_image"] = {
            "value": image, "trained": recorded.get("openface_image"),
            "source": "given" if openface_image else ("checkpoint" if image else "none")}
    # refuse mismatched normalization / feature sets before any feature is computed
    check_session_features(bundle, wanted, recorded_weights(recorded), bundle.directory)
    tmp = None if work_dir is not None else tempfile.TemporaryDirectory(prefix="depsev-predict-")
    work = Path(work_dir) if work_dir is not None else Path(tmp.name)  # type: ignore[union-attr]
    try:
        feats = SessionFeatures()
        if "audio" in wanted and inputs.audio is not None:
            audio_features(inputs, work, feats, weights=weights, allow_random=allow_random,
                           segmentation=prep["segmentation"], denoise=prep["denoise"],
                           normalize_audio=prep["normalize_audio"], with_egemaps=with_egemaps,
                           threads=threads)
        if "video" in wanted and (inputs.openface is not None or inputs.video is not None):
            face_features(inputs, work, feats, confidence_threshold=prep["confidence_threshold"],
                          openface_image=prep_record["openface_image"]["value"],
                          openface_binary=recorded.get("openface_binary"))
        flags: list[str] = []
        notes: list[str] = []
        used = _usable_streams(bundle, inputs, feats, wanted, flags, notes)
        observed = feats.weights
        vg = prep_record.get("vggish_weights") or {}
        if observed and vg.get("sha256") and vg.get("sha256") == vg.get("trained_sha256"):
            observed = {**observed, "weights_file": vg["trained_file"]}  # a renamed copy, same sha256
        check_session_features(bundle, used, observed, feats.files.get("audio", bundle.directory))
        _segmentation_note(recorded, feats, used, notes)
        result = _predict_streams(bundle, inputs, feats, used, who, flags, notes,
                                  min_coverage=prep["min_coverage"], allow_short=allow_short,
                                  batch_size=batch_size, threads=threads, preparation=prep_record)
        if work_dir is not None:
            result["files"] = {k: str(v) for k, v in feats.files.items()}
    finally:
        if tmp is not None:
            tmp.cleanup()
    result["timings_s"] = {**feats.timings, **result.pop("_timings"), "total": time.perf_counter() - t_start}
    return result


def _segmentation_note(recorded: dict, feats: SessionFeatures, used: tuple[str, ...],
                       notes: list[str]) -> None:
    """A note when the session's participant speech was found another way (transcript / VAD) than
    in any training session."""
    trained = recorded.get("segmentation_used") or {}
    if "audio" not in used or not trained:
        return
    here = feats.qc["audio"].get("segmentation")
    if here and here not in trained:
        how = ", ".join(f"{k} ({n})" for k, n in sorted(trained.items()))
        notes.append(f"participant speech found by {here} here, but the training sessions were segmented "
                     f"by {how}: give the transcript when there is one")


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _predict_streams(bundle: ModelBundle, inputs: SessionInput, feats: SessionFeatures, used: tuple[str, ...],
                     who: str, flags: list[str], notes: list[str], *, min_coverage: float, allow_short: bool,
                     batch_size: int, threads: int | None, preparation: dict | None = None) -> dict[str, Any]:
    timings: dict[str, float] = {}
    with _timer(timings, "chunking"):
        streams = session_streams(bundle, feats, used)
        plan = plan_chunks(streams, model_chunk_config(bundle, min_coverage),
                           modality=bundle.config.get("shard_modality", bundle.config["modality"]),
                           allow_short=allow_short)
    n = len(plan.entries)
    if n == 0:
        lead = "video" if "video" in used else "audio"
        raise InputError(inputs.openface or inputs.video if lead == "video" else inputs.audio,
                         f"no chunk to predict from: {plan.qc.get('reason')} ({plan.rule}); pass "
                         "allow_short / --allow-short for a padded low-confidence estimate")
    if plan.short:
        flags.append(f"session shorter than one chunk ({plan.qc.get('reason')}): one padded chunk")
    missing = [s for s in bundle.streams if s not in used]
    if missing:
        notes.append(f"{' + '.join(missing)} not used: the model was trained on "
                     f"{' + '.join(bundle.streams)}; its missing-modality gate is 0 (see docs/predict.md "
                     "for the measured cost)")
    with _timer(timings, "model"), _threads(threads):
        out = run_model(bundle.model, chunk_batch(plan, INTERVIEWERS.index(who)), batch_size)
    df = prediction_frame(out)
    running = running_estimates(df, who)
    return {**summarize(df, running, plan, used, bundle, who, flags, notes),
            "qc": _qc_record(inputs, feats, plan, streams),
            "provenance": _provenance(bundle, feats, inputs, preparation),
            "_timings": timings}


def summarize(df: pd.DataFrame, running: pd.DataFrame, plan: SessionChunks, used: tuple[str, ...],
              bundle: ModelBundle, interviewer: str, flags: list[str], notes: list[str]) -> dict[str, Any]:
    """The headline fields of the result from the chunk table and the running estimates."""
    final = running.iloc[-1]
    mu, sigma = float(final["mu"]), math.sqrt(float(final["var"]))
    probs = [float(final[p]) for p in P_BAND_COLUMNS]
    band = int(final["pred_band"])
    synthetic = bool(bundle.config.get("synthetic"))
    if synthetic:
        notes.append("the model was trained on a SYNTHETIC demo cohort: the number says nothing "
                     "about a person")
    if "audio" in used and bundle.preparation.get("vggish_weights_mode") == "random":
        notes.append("VGGish features with RANDOM weights (synthetic demo only)")
    res: dict[str, Any] = {
        "statement": STATEMENT,
        "low_confidence": bool(flags), "flags": list(flags), "notes": list(notes),
        "phq8": {"estimate": mu, "sigma": sigma, "interval90": _interval(mu, sigma),
                 "interval_variance": "mixture"},
        "band": {"index": band, "label": BAND_LABELS[band],
                 "probabilities": dict(zip(BAND_LABELS, probs, strict=True))},
        "binary": {"threshold": BINARY_THRESHOLD, "at_risk": bool(mu >= BINARY_THRESHOLD),
                   "p_from_bands": float(sum(probs[2:])),
                   "p_from_gaussian": float(norm.sf((BINARY_THRESHOLD - mu) / sigma))},
        "interviewer": interviewer,
        "modalities_used": list(used), "modalities_missing": [s for s in bundle.streams if s not in used],
        "n_chunks": len(df),
        "chunks": _chunk_records(plan, df, running),
    }
    if "gate_woz" in df:
        res["expert_weights"] = {w: float(df[f"gate_{w}"].mean()) for w in INTERVIEWERS}
    if "alpha_audio" in df:
        res["modality_gates"] = {s: float(df[f"alpha_{s}"].mean()) for s in ("audio", "video")}
    return res


# ---------------------------------------------------------------- output
def summary_line(result: dict[str, Any]) -> str:
    """One line a researcher can read: estimate, interval, band, risk, modalities, confidence."""
    p, b, r = result["phq8"], result["band"], result["binary"]
    lo, hi = p["interval90"]
    parts = [f"PHQ-8 {p['estimate']:.1f} +/- {p['sigma']:.1f} (90% {lo:.1f}-{hi:.1f})",
             f"band {b['label']} (p={b['probabilities'][b['label']]:.2f})",
             f"PHQ>={r['threshold']}: {'yes' if r['at_risk'] else 'no'} (p={r['p_from_bands']:.2f})",
             f"used {'+'.join(result['modalities_used'])}"]
    if "expert_weights" in result:
        parts.append("experts " + "/".join(f"{k} {v:.2f}" for k, v in result["expert_weights"].items()))
    if "modality_gates" in result:
        parts.append("gates " + "/".join(f"{k} {v:.2f}" for k, v in result["modality_gates"].items()))
    parts.append(f"{result['n_chunks']} chunk(s)")
    if result["low_confidence"]:
        parts.append("LOW CONFIDENCE: " + "; ".join(result["flags"]))
    if result["provenance"]["training_dataset"]["synthetic"]:
        parts.append("SYNTHETIC-trained model")
    return " | ".join(parts) + " | research measurement, not a diagnosis"


def write_result(result: dict[str, Any], path: str | Path) -> Path:
    """Write the result as JSON (indented)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


__all__ = ["STATEMENT", "SessionInput", "ModelBundle", "find_session_inputs", "load_model_bundle",
           "check_session_features", "resolve_vggish", "resolve_preparation",
           "harmless_difference", "PREPARATION_DEFAULTS", "openface_container_command",
           "session_streams", "model_chunk_config", "chunk_batch", "run_model", "running_estimates",
           "predict_session", "summary_line", "write_result", "openface_from_video"]
