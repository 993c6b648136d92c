"""A new session's features for ``depsev predict``, by the workflow's own stages:
:func:`depsev.features.audio.clean_session` -> :func:`depsev.features.vggish.vggish_session` (and,
optionally, :func:`depsev.features.egemaps.egemaps_session`, not used by the models);
:func:`depsev.features.face.face_frames`, from an OpenFace CSV or from a video run through OpenFace
2.x FeatureExtraction in the pinned container (:func:`openface_from_video`; without a container
runtime a clear error says how to supply the CSV instead).  :func:`usable_streams` decides which
computed streams enter the model; unusable ones become low-confidence flags.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from depsev.errors import InputError
from depsev.features.io import read_feature_meta
from depsev.predict.bundle import ModelBundle
from depsev.predict.inputs import SessionInput
from depsev.progress import Progress
from depsev.qc import face_clock_problems
from depsev.shards.preparation import session_preparation, vggish_weights

#: QC thresholds of a new session (same values as the corpus manifest's defaults)
MIN_SPEECH_SECONDS = 10.0
MIN_FACE_VALID_SHARE = 0.1


@contextmanager
def timer(timings: dict[str, float], stage: str, progress: Progress | None = None) -> Iterator[None]:
    """Add the seconds the block takes to ``timings[stage]``; a ``progress`` line when it succeeded."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - t0
        timings[stage] = timings.get(stage, 0.0) + seconds
    if progress is not None:
        progress.update(note=f"{stage} took {seconds:.1f} s")


def openface_from_video(video: Path, out_dir: Path, participant_id: int | None, *,
                        image: str | None, binary: str | None = None, runtime: str = "auto") -> Path:
    """OpenFace 2.x FeatureExtraction on ``video``, as the workflow rule ``openface_extract`` runs it
    (:func:`depsev.features.openface_container.run_feature_extraction`: the pinned container through
    the first runtime found, or ``runtime``); return the CSV, named E-DAIC's
    ``<ID>_OpenFace2.1.0_Pose_gaze_AUs.csv``, in ``out_dir``.

    Any failure (no runtime, no image, the tool failing or writing no CSV) is that function's
    :class:`~depsev.errors.InputError` naming the video, with the command to run by hand and the
    advice to pass the CSV with --openface added.
    """
    from depsev.features.openface_container import (
        DEFAULT_BINARY,
        edaic_openface_name,
        feature_extraction_command,
        run_feature_extraction,
    )

    video, out_dir = Path(video), Path(out_dir)
    pid = participant_id if participant_id is not None else 0
    raw = out_dir / "openface_raw"
    try:
        return run_feature_extraction(video, out_dir / edaic_openface_name(pid), pid, image=image,
                                      binary=binary, runtime=runtime, raw_dir=raw)
    except InputError as exc:
        cmd = feature_extraction_command(video, raw, binary=binary or DEFAULT_BINARY)
        raise InputError(video, f"{exc.problem} -- run OpenFace 2.x yourself (`{' '.join(cmd)}`, or the "
                                "workflow rule openface_extract) and pass the CSV it writes with "
                                "--openface") from exc


@dataclass
class SessionFeatures:
    """Per-session feature files and their QC records."""

    files: dict[str, Path] = field(default_factory=dict)
    qc: dict[str, dict] = field(default_factory=dict)
    weights: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: one line per finished stage (depsev.progress)
    progress: Progress | None = None


def audio_features(inputs: SessionInput, work: Path, feats: SessionFeatures, *, weights: str,
                   allow_random: bool, segmentation: str, denoise: bool, normalize_audio: bool,
                   with_egemaps: bool, threads: int | None, precision: str = "fp32") -> None:
    """Clean the audio (participant speech only), then VGGish (and optionally eGeMAPS)."""
    from depsev.features.audio import clean_session
    from depsev.features.vggish import vggish_session

    assert inputs.audio is not None
    wav, segs = work / "audio" / f"{inputs.name}.wav", work / "audio" / f"{inputs.name}_segments.parquet"
    with timer(feats.timings, "audio_clean", feats.progress):
        feats.qc["audio"] = clean_session(inputs.audio, wav, segs, transcript_path=inputs.transcript,
                                          segmentation=segmentation, denoise=denoise,
                                          normalize=normalize_audio)
    out = work / "vggish" / f"{inputs.name}.parquet"
    with timer(feats.timings, "vggish", feats.progress):
        feats.qc["vggish"] = vggish_session(wav, segs, out, weights=weights, allow_random=allow_random,
                                            precision=precision, threads=threads)
    feats.weights = vggish_weights(session_preparation("audio", read_feature_meta(out))[0])
    feats.files.update(clean_wav=wav, segments=segs, audio=out)
    if with_egemaps:
        from depsev.features.egemaps import egemaps_session

        eg = work / "egemaps" / f"{inputs.name}.parquet"
        with timer(feats.timings, "egemaps", feats.progress):
            feats.qc["egemaps"] = egemaps_session(wav, segs, eg)
        feats.files["egemaps"] = eg


def face_features(inputs: SessionInput, work: Path, feats: SessionFeatures, *, confidence_threshold: float,
                  openface_image: str | None, openface_binary: str | None = None,
                  openface_runtime: str = "auto") -> None:
    """OpenFace CSV (or video -> container) -> face frames with validity."""
    from depsev.features.face import face_frames

    csv = inputs.openface
    if csv is None:
        assert inputs.video is not None
        with timer(feats.timings, "openface", feats.progress):
            csv = openface_from_video(inputs.video, work / "openface", inputs.participant_id,
                                      image=openface_image, binary=openface_binary, runtime=openface_runtime)
    out = work / "face" / f"{inputs.name}.parquet"
    with timer(feats.timings, "face_frames", feats.progress):
        feats.qc["face"] = face_frames(csv, out, confidence_threshold=confidence_threshold,
                                       pose=inputs.openface_pose, gaze=inputs.openface_gaze)
    feats.files["video"] = out


def usable_streams(bundle: ModelBundle, inputs: SessionInput, feats: SessionFeatures,
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
