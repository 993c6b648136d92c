"""``depsev predict``: one NEW session (not part of any corpus) from recordings to a readable result.

:func:`predict_session` orchestrates only; every stage is the workflow's own library code, never a
copy, and lives in its own module:

1. inputs (:mod:`depsev.predict.inputs`): a session folder in E-DAIC / DAIC-WOZ / demo layout or
   explicit files -- a wav, plus an OpenFace CSV or a video -- and the interviewer type;
2. the model (:mod:`depsev.predict.bundle`): the checkpoint folder and the training run's
   normalization statistics;
3. the contract (:mod:`depsev.predict.contract`): the feature preparation defaults to the training
   run's, read from the one key ``config.json["features"]["preparation"]`` (the train and dev shards'
   preparation, :mod:`depsev.shards.preparation`), and an explicit other value is refused; feature
   set, VGGish weights and normalization statistics are compared
   (:func:`depsev.checkpoint.check_features_match`) before and after the features are computed;
4. features (:mod:`depsev.predict.features`): audio cleaning -> VGGish, OpenFace CSV (or video ->
   OpenFace in the pinned container) -> face frames, and which streams are usable;
5. normalization and chunking with the model's chunk configuration, by the shard stage's own code
   (:func:`depsev.shards.session.load_stream`, :func:`depsev.shards.session.plan_chunks`: the audio of
   a fusion chunk placed on the video chunk's time axis), then the model (:mod:`depsev.predict.batches`);
6. the result (:mod:`depsev.predict.result`): the participant-level combination of the chunks
   (:func:`depsev.evaluate.aggregate.aggregate_participants`), also on every prefix of the session
   (the running estimate as the interview goes on), QC, provenance and one readable line.

Missing modality: the fusion model runs on whichever stream is present (the absent stream's gate is
forced to 0: :class:`depsev.models.FusionModel`); ``modalities`` restricts the streams on purpose.
The result says which streams were used.  Chunking without video for a two-stream model: a regular
time grid of the span of a video chunk at the nominal 30 fps, the audio placed by time as in training
(:mod:`depsev.shards.session`).

Bad input never yields a number presented as normal: no usable stream, or a session shorter than one
chunk (unless ``allow_short``) raise :class:`~depsev.errors.InputError`; silent audio / no valid face
while the other stream is usable, little participant speech, few valid face frames, or a padded short
session give a result with ``low_confidence: true`` and the reasons in ``flags``.

This is a research measurement, not a diagnosis (:data:`depsev.predict.result.STATEMENT`, in every
result).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from depsev.constants import INTERVIEWERS
from depsev.errors import InputError
from depsev.evaluate.aggregate import DEFAULT_WEIGHTING
from depsev.inference import prediction_frame
from depsev.predict.batches import chunk_batch, run_model, session_streams
from depsev.predict.bundle import ModelBundle, load_model_bundle, model_chunk_config, requested_streams
from depsev.predict.contract import (
    check_session_features,
    resolve_preparation,
    resolve_vggish,
    resolve_weighting,
    segmentation_note,
)
from depsev.predict.features import SessionFeatures, audio_features, face_features, timer, usable_streams
from depsev.predict.inputs import SessionInput, find_session_inputs, resolve_interviewer
from depsev.predict.result import provenance, qc_record, running_estimates, summarize
from depsev.progress import Progress
from depsev.shards.preparation import vggish_weights as recorded_weights
from depsev.shards.session import plan_chunks
from depsev.workflow import torch_threads


def predict_session(model_dir: str | Path, session_dir: str | Path | None = None, *, kind: str = "edaic",
                    audio: str | Path | None = None, openface: str | Path | None = None,
                    video: str | Path | None = None, transcript: str | Path | None = None,
                    participant_id: int | None = None, interviewer: str | None = None,
                    normalize_dir: str | Path | None = None, modalities: Sequence[str] | None = None,
                    vggish_weights: str | Path | None = None, work_dir: str | Path | None = None,
                    allow_short: bool = False, segmentation: str | None = None, denoise: bool | None = None,
                    normalize_audio: bool | None = None, confidence_threshold: float | None = None,
                    min_coverage: float | None = None, with_egemaps: bool = False,
                    openface_image: str | None = None, openface_runtime: str = "auto",
                    threads: int | None = None, batch_size: int = 16,
                    weighting: str | None = None) -> dict[str, Any]:
    """Predict one new session end to end; returns the result dict (see docs/predict.md).

    ``modalities``: restrict to ``audio`` and/or ``video`` (default: every stream the model reads);
    ``work_dir``: keep the feature files there (default: a temporary folder, deleted);
    ``allow_short``: a session shorter than one chunk gives a padded, low-confidence result instead
    of an error.  The feature preparation -- ``segmentation``, ``denoise``, ``normalize_audio``,
    ``confidence_threshold``, ``min_coverage``, ``vggish_weights`` -- defaults to the training run's
    settings recorded in the checkpoint; an explicit value that differs is refused
    (:func:`~depsev.predict.contract.resolve_preparation`,
    :func:`~depsev.predict.contract.resolve_vggish`).  ``openface_image`` (for a video)
    defaults to the training run's configured image; ``openface_runtime`` starts it as the workflow's
    ``openface.runtime`` does (:func:`depsev.features.openface_container.run_feature_extraction`).
    The settings used, and where each came from, are in the result's ``provenance["preparation"]``.
    ``weighting``: how chunks combine into the estimate (default: the one the workflow's evaluation chose
    for this model on dev, :func:`~depsev.predict.contract.resolve_weighting`), recorded in
    ``provenance["chunk_weighting"]``.
    """
    t_start = time.perf_counter()
    bundle = load_model_bundle(model_dir, normalize_dir)
    inputs = find_session_inputs(session_dir, kind=kind, audio=audio, openface=openface, video=video,
                                 transcript=transcript, participant_id=participant_id)
    who = resolve_interviewer(interviewer, inputs)
    wanted = requested_streams(bundle, modalities)
    # refuse settings other than the training run's before any feature is computed
    prep, prep_record = resolve_preparation(bundle, wanted, {
        "segmentation": segmentation, "denoise": denoise, "normalize_audio": normalize_audio,
        "confidence_threshold": confidence_threshold, "min_coverage": min_coverage})
    weights, allow_random = "", False
    recorded = bundle.preparation
    precision = recorded.get("vggish_precision") or "fp32"  # the training run's VGGish arithmetic
    if "audio" in wanted:
        weights, allow_random, prep_record["vggish_weights"] = resolve_vggish(bundle, vggish_weights)
        prep_record["vggish_precision"] = {
            "value": precision, "source": "checkpoint" if recorded.get("vggish_precision")
            else "default (not recorded by the training run)"}
    if "video" in wanted:
        image = openface_image or recorded.get("openface_image")
        prep_record["openface_image"] = {
            "value": image, "trained": recorded.get("openface_image"),
            "source": "given" if openface_image else ("checkpoint" if image else "none")}
    # refuse mismatched normalization / feature sets before any feature is computed
    check_session_features(bundle, wanted, recorded_weights(recorded), bundle.directory)
    chunk_weighting = resolve_weighting(model_dir, weighting)
    tmp = None if work_dir is not None else tempfile.TemporaryDirectory(prefix="depsev-predict-")
    work = Path(work_dir) if work_dir is not None else Path(tmp.name)  # type: ignore[union-attr]
    try:
        feats = SessionFeatures(progress=Progress(f"predict {inputs.name}", unit="stages", every=0))
        if "audio" in wanted and inputs.audio is not None:
            audio_features(inputs, work, feats, weights=weights, allow_random=allow_random,
                           segmentation=prep["segmentation"], denoise=prep["denoise"],
                           normalize_audio=prep["normalize_audio"], with_egemaps=with_egemaps,
                           precision=precision, threads=threads)
        if "video" in wanted and (inputs.openface is not None or inputs.video is not None):
            face_features(inputs, work, feats, confidence_threshold=prep["confidence_threshold"],
                          openface_image=prep_record["openface_image"]["value"],
                          openface_binary=recorded.get("openface_binary"), openface_runtime=openface_runtime)
        flags: list[str] = []
        notes: list[str] = []
        used = usable_streams(bundle, inputs, feats, wanted, flags, notes)
        observed = feats.weights
        vg = prep_record.get("vggish_weights") or {}
        if observed and vg.get("sha256") and vg.get("sha256") == vg.get("trained_sha256"):
            observed = {**observed, "weights_file": vg["trained_file"]}  # a renamed copy, same sha256
        check_session_features(bundle, used, observed, feats.files.get("audio", bundle.directory))
        segmentation_note(recorded, feats, used, notes)
        result = _predict_streams(bundle, inputs, feats, used, who, flags, notes,
                                  min_coverage=prep["min_coverage"], allow_short=allow_short,
                                  batch_size=batch_size, threads=threads, preparation=prep_record,
                                  weighting=chunk_weighting)
        if work_dir is not None:
            result["files"] = {k: str(v) for k, v in feats.files.items()}
        feats.progress.done()
    finally:
        if tmp is not None:
            tmp.cleanup()
    result["timings_s"] = {**feats.timings, **result.pop("_timings"), "total": time.perf_counter() - t_start}
    return result


def _predict_streams(bundle: ModelBundle, inputs: SessionInput, feats: SessionFeatures, used: tuple[str, ...],
                     who: str, flags: list[str], notes: list[str], *, min_coverage: float, allow_short: bool,
                     batch_size: int, threads: int | None, preparation: dict | None = None,
                     weighting: tuple[str, dict] | None = None) -> dict[str, Any]:
    timings: dict[str, float] = {}
    with timer(timings, "chunking", feats.progress):
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
    with timer(timings, "model", feats.progress), torch_threads(threads):
        out = run_model(bundle.model, chunk_batch(plan, INTERVIEWERS.index(who)), batch_size)
    df = prediction_frame(out)
    how, record = weighting or (DEFAULT_WEIGHTING, {"value": DEFAULT_WEIGHTING, "source": "default"})
    running = running_estimates(df, who, how)
    return {**summarize(df, running, plan, used, bundle, who, flags, notes),
            "qc": qc_record(inputs, feats, plan, streams),
            "provenance": provenance(bundle, feats, inputs, preparation, record),
            "_timings": timings}


__all__ = ["predict_session"]
