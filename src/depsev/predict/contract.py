"""The contract between a model and a new session's features: the session must be prepared as the
training data was.

The feature preparation (audio cleaning, face confidence threshold, min_coverage, VGGish weights)
defaults to the training run's, read from the one key ``config.json["features"]["preparation"]``
(:attr:`depsev.predict.bundle.ModelBundle.preparation`), and an explicit other value is refused
(:func:`resolve_preparation`, :func:`resolve_vggish`); feature set, dimension, VGGish weights and the
training run's normalization statistics are compared with
:func:`depsev.checkpoint.check_features_match` (:func:`check_session_features`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from depsev.checkpoint import check_features_match
from depsev.constants import face_feature_set_name
from depsev.errors import InputError, read_json
from depsev.hashing import file_sha256
from depsev.predict.bundle import ModelBundle
from depsev.predict.features import SessionFeatures
from depsev.predict.inputs import existing_file
from depsev.shards.chunks import STREAM_SOURCES
from depsev.shards.preparation import vggish_weights


def evaluation_metrics_file(model_dir: str | Path) -> Path:
    """Where the workflow's evaluation of a model folder ``results/models/<model>/<seed>`` writes its dev
    metrics: ``results/metrics/<model>/<seed>/dev.json`` (rule ``evaluate``)."""
    model_dir = Path(model_dir).resolve()
    return model_dir.parents[2] / "metrics" / model_dir.parent.name / model_dir.name / "dev.json"


def resolve_weighting(model_dir: str | Path, weighting: str | None) -> tuple[str, dict[str, Any]]:
    """``(weighting, record)``: how the chunk predictions are combined into the session's estimate.

    ``None``: the weighting the workflow's evaluation chose for this model on DEV
    (:func:`depsev.evaluate.aggregate.choose_weighting`, recorded as ``weighting`` in
    :func:`evaluation_metrics_file`), so that the estimate is made as the model's reported metrics
    were; without that file, the default (``capped``), said so in the record.  A given value must be one
    of :data:`depsev.evaluate.aggregate.WEIGHTINGS`.  A metrics file that cannot be read, or holds no
    known weighting, is refused (naming it).
    """
    from depsev.evaluate.aggregate import DEFAULT_WEIGHTING, WEIGHTINGS

    if weighting is not None:
        if weighting not in WEIGHTINGS:
            raise InputError(None, f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}")
        return weighting, {"value": weighting, "source": "given"}
    metrics = evaluation_metrics_file(model_dir)
    if not metrics.is_file():
        return DEFAULT_WEIGHTING, {"value": DEFAULT_WEIGHTING, "source": f"default (no evaluation of this "
                                   f"model at {metrics})"}
    recorded = read_json(metrics)
    chosen = recorded.get("weighting") if isinstance(recorded, dict) else None
    if chosen not in WEIGHTINGS:
        raise InputError(metrics, f"no known chunk weighting recorded (weighting: {chosen!r})")
    return chosen, {"value": chosen, "source": f"the evaluation's choice on dev ({metrics})"}


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
        path = existing_file(weights, "VGGish weights file")
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


#: feature-preparation arguments of :func:`depsev.predict.session.predict_session` and the value
#: each takes when the checkpoint's preparation records none (its training features' files did not
#: record it): the workflow's defaults (config.yaml ``audio.*``, ``face.confidence_threshold``,
#: ``chunks.min_coverage``)
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


def segmentation_note(recorded: dict, feats: SessionFeatures, used: tuple[str, ...],
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
