"""One session's streams and its chunk plan: THE code that turns per-session feature files into model
chunks, called by the shard stage (:func:`depsev.shards.chunks.build_shards`) and by ``depsev predict``
alike, so that training and prediction cannot drift apart.

Two steps:

:func:`load_stream`
    one feature file (``features/face/<ID>.parquet`` or ``features/vggish/<ID>.parquet``, raw or
    already normalized by the ``normalize_apply`` rule) -> a :class:`Stream`: features normalized with
    the TRAINING statistics, invalid frames (face ``valid == False``, audio rows with non-finite
    values) zeroed and masked, remaining NaN values (features absent from a session) set to 0 (the
    train mean after normalization) and counted, session times.
:func:`plan_chunks`
    the streams of one session -> its chunks (:class:`SessionChunks`), with the rules of
    :mod:`depsev.shards.chunks` (:func:`~depsev.shards.chunks.chunk_sequence`) and, for two-stream
    (fusion) chunks, the audio placed on the video chunk's time axis (:func:`pair_audio`).

Time alignment of the fusion chunks (shard schema version 2).  A fusion chunk is a video chunk of
``L_v`` steps (every ``video_downsample``-th face frame; step ``j`` holds the frame at time
``t_v[j]``) plus ``L_a`` audio slots.  Each VGGish example whose session time ``t`` (the start of its
0.96 s window) lies in the chunk's ``[start_time, end_time)`` goes to the slot at the same relative
position on the chunk's time axis::

    p    = j + (t - t_v[j]) / (t_v[j+1] - t_v[j])     # fractional video step, t_v[j] <= t < t_v[j+1]
    slot = floor(p / L_v * L_a)

(the last real video step's interval is the chunk's median step interval).  So an audio example and
the face frame of the same instant sit at the same relative position of their sequences, and the
fusion model, which pools both streams into ``fusion_steps`` equal bins of that relative position
(:class:`depsev.models.FusionModel`), fuses them in the same step.  Slots without an example (the
interviewer speaking, silence, padding) are masked; examples that fall into the same slot are
averaged (``audio_frames_merged`` counts the examples folded into another one).  Participant-only
speech covers about half of a session, so most chunks have masked gaps between their audio slots.
Schema version 1 packed the examples into slots ``0..n-1`` whatever their time -- audio from the end
of a chunk fused with video from its start; such shards and the checkpoints trained on them are
refused.

Audio without video for a two-stream model (``depsev predict`` with ``--modalities audio`` or a
session without face data): chunks follow a regular time grid of ``video_frames / NOMINAL_FPS``
seconds starting at the first VGGish example, with ``L_v`` virtual video steps at the nominal frame
rate, so the audio slots mean the same as in training; a grid chunk without any valid audio example
is dropped (counted), the last partial one follows ``min_coverage`` (share of the grid span).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.constants import FACE_FEATURES
from depsev.errors import InputError

#: nominal face frame rate (E-DAIC's OpenFace output is ~30 fps; measured 26-33): only used to lay
#: the time grid of audio-only chunks for a two-stream model
NOMINAL_FPS = 30.0
#: time column of each stream's feature file
TIME_COLUMNS = {"video": "timestamp", "audio": "time"}


# ---------------------------------------------------------------- one stream
@dataclass
class Stream:
    """One normalized stream of one session: ``x`` f32[n, d] (0 where invalid), ``valid`` bool[n],
    ``times`` f64[n] (session clock, s), ``nan_zeroed`` (NaN values in valid frames set to 0)."""

    x: np.ndarray
    valid: np.ndarray
    times: np.ndarray
    nan_zeroed: int = 0


def feature_file_meta(path: Path) -> dict:
    """The ``depsev`` provenance JSON of a feature file ({} when it has none), or InputError."""
    from depsev.features.io import read_feature_meta

    try:
        return read_feature_meta(path) or {}
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot read Parquet file ({exc})") from exc
    except ValueError as exc:
        raise InputError(path, f"'depsev' metadata is not valid JSON ({exc})") from exc


def _times(path: Path, col: str) -> np.ndarray:
    try:
        if col not in pq.read_schema(path).names:
            raise InputError(path, f"no '{col}' column (the session clock)")
        t = pq.read_table(path, columns=[col]).column(col)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot read Parquet file ({exc})") from exc
    if t.null_count or not (pa.types.is_floating(t.type) or pa.types.is_integer(t.type)):
        raise InputError(path, f"column '{col}' must be numeric without nulls, got {t.type}")
    times = t.to_numpy().astype(np.float64)
    if not np.isfinite(times).all() or (np.diff(times) < 0).any():
        raise InputError(path, f"column '{col}' must be finite and non-decreasing (session clock)")
    return times


def read_stream_file(path: str | Path, stream: str, feature_names: list[str]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x f32[n, d] as in the file, valid bool[n], times f64[n])`` of one feature file.

    Video: the ``feature_names`` columns (a subset of the 49 face features, in that order) and the
    file's ``valid`` mask; audio: the ``fc2`` vectors (``len(feature_names)`` values each), valid where
    every value is finite.  The readers are those of the normalization fit
    (:func:`depsev.shards.normalize.read_video_block`, :func:`~depsev.shards.normalize.read_audio_block`).
    """
    from depsev.shards.normalize import read_audio_block, read_video_block

    path = Path(path)
    if stream == "video":
        unknown = [n for n in feature_names if n not in FACE_FEATURES]
        if unknown:
            raise InputError(path, f"unknown face features {unknown[:5]} in the normalization statistics")
        x, valid = read_video_block(path)
        if list(feature_names) != list(FACE_FEATURES):
            x = x[:, [FACE_FEATURES.index(n) for n in feature_names]]
        valid = np.asarray(valid, dtype=bool)
    elif stream == "audio":
        x = read_audio_block(path, len(feature_names))
        valid = np.isfinite(x).all(axis=1)
    else:
        raise ValueError(f"stream must be 'video' or 'audio', got {stream!r}")
    return np.asarray(x, dtype=np.float32), valid, _times(path, TIME_COLUMNS[stream])


def load_stream(path: str | Path, stream: str, stats: Mapping[str, Any], *,
                normalization_sha256: str | None = None) -> Stream:
    """One feature file as a normalized :class:`Stream` (see the module docstring).

    ``stats``: the TRAINING normalization statistics of ``stream``
    (:func:`depsev.shards.normalize.load_stats`); ``normalization_sha256``: the sha256 of their file.
    A file already normalized by the ``normalize_apply`` rule (metadata ``normalized: true``) is used
    as it is when it names the same statistics file (sha256), and refused otherwise.
    """
    from depsev.shards.normalize import apply_normalizer

    path = Path(path)
    names = [str(n) for n in stats["feature_names"]]
    x, valid, times = read_stream_file(path, stream, names)
    meta = feature_file_meta(path)
    if meta.get("normalized"):
        if normalization_sha256 is None or meta.get("normalization_sha256") != normalization_sha256:
            raise InputError(path, "already normalized with other statistics (sha256 "
                                   f"{meta.get('normalization_sha256')}) than the ones given "
                                   f"({normalization_sha256})")
    else:
        x = apply_normalizer(x, stats).astype(np.float32, copy=False)
    x[~valid] = 0.0
    bad = ~np.isfinite(x)
    nan_zeroed = int(bad.sum())
    x[bad] = 0.0
    return Stream(x=x, valid=valid, times=times, nan_zeroed=nan_zeroed)


# ---------------------------------------------------------------- audio on the video time axis
@dataclass
class PairedAudio:
    """Audio slots of each video chunk, and the examples not used as they are."""

    chunks: list  # list[Chunk]
    #: examples averaged into a slot that already held one
    merged: int = 0
    #: examples outside every kept video chunk's span
    unpaired: int = 0


def _video_positions(t: np.ndarray, step_times: np.ndarray, step_dt: float) -> np.ndarray:
    """Fractional video step index of each time ``t`` (``step_times[0] <= t``), see module docstring."""
    j = np.clip(np.searchsorted(step_times, t, side="right") - 1, 0, len(step_times) - 1)
    nxt = np.where(j + 1 < len(step_times), step_times[np.minimum(j + 1, len(step_times) - 1)],
                   step_times[j] + step_dt)
    width = np.maximum(nxt - step_times[j], 1e-9)
    return j + np.clip((t - step_times[j]) / width, 0.0, 1.0 - 1e-9)


def audio_slots(t: np.ndarray, step_times: np.ndarray, video_steps: int, audio_steps: int,
                step_dt: float) -> np.ndarray:
    """Slot (0..``audio_steps`` - 1) of audio examples at times ``t`` in a video chunk whose real
    steps are at ``step_times`` (of ``video_steps`` steps in all): ``floor(p / L_v * L_a)``."""
    p = _video_positions(np.asarray(t, np.float64), np.asarray(step_times, np.float64), step_dt)
    return np.minimum((p / video_steps * audio_steps).astype(np.int64), audio_steps - 1)


def pair_audio(video_chunks: list, x: np.ndarray, valid: np.ndarray, times: np.ndarray, *,
               steps: int) -> PairedAudio:
    """For each video chunk (``Chunk`` with ``step_times``), the audio examples whose session time
    falls in its ``[start_time, end_time)`` span, each in the slot of its time (:func:`audio_slots`)
    of ``steps`` slots; several valid examples in one slot are averaged; slots without a valid
    example are zero and masked."""
    from depsev.shards.chunks import Chunk, check_frames

    x = np.asarray(x, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    times = np.asarray(times, dtype=np.float64)
    check_frames(x, valid, times)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    used = np.zeros(len(x), dtype=bool)
    out = PairedAudio(chunks=[])
    for vc in video_chunks:
        if vc.step_times is None:
            raise ValueError("video chunks need step_times to place the audio by time")
        inside = np.flatnonzero((times >= vc.start_time) & (times < vc.end_time))
        used[inside] = True
        seq = np.zeros((steps, x.shape[1]), dtype=np.float32)
        count = np.zeros(steps, dtype=np.int64)
        real = np.zeros(steps, dtype=bool)
        if len(inside):
            slot = audio_slots(times[inside], vc.step_times, len(vc.mask), steps, vc.step_dt)
            real[slot] = True
            ok = valid[inside]
            np.add.at(seq, slot[ok], x[inside[ok]])
            np.add.at(count, slot[ok], 1)
            out.merged += int(ok.sum() - (count > 0).sum())
        mask = count > 0
        seq[mask] /= count[mask, None]
        out.chunks.append(Chunk(index=vc.index, start_time=vc.start_time, end_time=vc.end_time, seq=seq,
                                mask=mask, valid_share=float(mask.mean()), n_steps=int(real.sum())))
    out.unpaired = int((~used).sum())
    return out


def time_grid_chunks(times: np.ndarray, *, span: float, video_steps: int, step_dt: float,
                     min_coverage: float, example_seconds: float = 0.96) -> tuple[list, int]:
    """Empty video chunks on a regular time grid (for audio without video): spans of ``span`` seconds
    from the first example; the last partial span is kept when it covers ``min_coverage`` of ``span``.
    Returns ``(chunks, dropped_partial)``; each chunk has ``video_steps`` masked steps and
    ``step_times`` at ``step_dt`` intervals."""
    from depsev.shards.chunks import Chunk

    if len(times) == 0:
        return [], 0
    t0 = float(times[0])
    t_end = float(times[-1]) + example_seconds
    n = max(1, math.ceil((t_end - t0) / span - 1e-9))
    chunks, dropped = [], 0
    for i in range(n):
        start = t0 + i * span
        end = start + span
        covered = min(end, t_end) - start
        if covered < span - 1e-9 and covered < min_coverage * span:
            dropped += 1
            continue
        real = max(1, min(video_steps, math.ceil(covered / step_dt - 1e-9)))
        chunks.append(Chunk(index=i, start_time=start, end_time=end,
                            seq=np.zeros((video_steps, 0), np.float32), mask=np.zeros(video_steps, bool),
                            valid_share=0.0, n_steps=real,
                            step_times=start + np.arange(real) * step_dt, step_dt=step_dt))
    return chunks, dropped


# ---------------------------------------------------------------- one session's plan
@dataclass
class SessionChunks:
    """The chunks of one session: ``entries`` (one ``{stream: Chunk}`` per chunk, streams as used),
    ``rule`` (how they were cut, for messages), ``short`` (padded below ``min_coverage`` on request)
    and ``qc`` counts (``n_frames``, ``dropped_partial``, ``dropped_no_valid``, ``reason`` when no
    chunk is left; two-stream: ``audio_frames``, ``audio_frames_merged``, ``audio_frames_unpaired``)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    rule: str = ""
    short: bool = False
    qc: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def _cut(stream: Stream, *, size: int, downsample: int, min_coverage: float, keep_empty: bool,
         allow_short: bool):
    from depsev.shards.chunks import REASON_SHORT, chunk_sequence

    chunks = chunk_sequence(stream.x, stream.valid, stream.times, size=size, downsample=downsample,
                            min_coverage=min_coverage, keep_empty=keep_empty)
    if not chunks and allow_short and chunks.reason.startswith(REASON_SHORT):
        padded = chunk_sequence(stream.x, stream.valid, stream.times, size=size, downsample=downsample,
                                min_coverage=0.0, keep_empty=keep_empty)
        padded.reason = chunks.reason
        return padded, True
    return chunks, False


def plan_chunks(streams: Mapping[str, Stream], cfg: Any, *, modality: str,
                allow_short: bool = False) -> SessionChunks:
    """Chunks of one session for shard ``modality`` (``video | audio | fusion``) with the chunk
    configuration ``cfg`` (:class:`depsev.shards.chunks.ChunkConfig`).

    ``streams`` holds the streams at hand: both for ``fusion`` in the shard stage; ``depsev predict``
    may pass one (a missing modality): a fusion plan with video only has empty audio; with audio only
    it follows the time grid of the module docstring.  ``allow_short`` keeps a session shorter than
    one chunk as one padded chunk (``short`` is then True) instead of no chunk.
    """
    from depsev.shards.chunks import REASON_NO_FRAMES, REASON_NO_VALID, REASON_SHORT, ChunkConfig

    cfg = ChunkConfig.coerce(cfg)
    wanted = ("video", "audio") if modality == "fusion" else (modality,)
    if modality not in ("video", "audio", "fusion"):
        raise ValueError(f"modality must be video, audio or fusion, got {modality!r}")
    have = [s for s in wanted if s in streams]
    if not have:
        raise ValueError(f"plan_chunks for {modality} needs one of the streams {wanted}, "
                         f"got {sorted(streams)}")
    plan = SessionChunks(qc={"n_frames": 0, "dropped_partial": 0, "dropped_no_valid": 0, "reason": ""})
    if modality != "fusion" or have == ["video"]:
        lead = have[0]
        size = cfg.video_frames if lead == "video" else cfg.audio_frames
        down = cfg.video_downsample if lead == "video" else cfg.audio_downsample
        chunks, plan.short = _cut(streams[lead], size=size, downsample=down, min_coverage=cfg.min_coverage,
                                  keep_empty=False, allow_short=allow_short)
        plan.entries = [{lead: c} for c in chunks]
        plan.qc.update(n_frames=chunks.n_frames, dropped_partial=chunks.dropped_partial,
                       dropped_no_valid=chunks.dropped_no_valid, reason=chunks.reason)
        unit = "face frames" if lead == "video" else "VGGish examples"
        plan.rule = f"{lead}-led: {size} {unit} per chunk, every {down}"
        return plan
    audio = streams["audio"]
    video_steps = math.ceil(cfg.video_frames / cfg.video_downsample)
    if "video" in streams:
        video = streams["video"]
        vchunks, plan.short = _cut(video, size=cfg.video_frames, downsample=cfg.video_downsample,
                                   min_coverage=cfg.min_coverage, keep_empty=True, allow_short=allow_short)
        plan.qc.update(n_frames=vchunks.n_frames, dropped_partial=vchunks.dropped_partial,
                       dropped_no_valid=vchunks.dropped_no_valid, reason=vchunks.reason)
        plan.rule = (f"video-led: {cfg.video_frames} face frames per chunk, every {cfg.video_downsample}; "
                     f"audio placed by time in {cfg.fusion_audio_steps} slots")
    else:
        span = cfg.video_frames / NOMINAL_FPS
        grid, dropped = time_grid_chunks(audio.times, span=span, video_steps=video_steps,
                                         step_dt=cfg.video_downsample / NOMINAL_FPS,
                                         min_coverage=0.0 if allow_short else cfg.min_coverage)
        vchunks = grid
        plan.short = allow_short and bool(grid) and grid[-1].n_steps < cfg.min_coverage * video_steps
        plan.qc.update(n_frames=len(audio.times), dropped_partial=dropped)
        plan.rule = (f"audio only: {span:.1f} s time grid (the span of {cfg.video_frames} face frames at "
                     f"{NOMINAL_FPS:g} fps), audio placed by time in {cfg.fusion_audio_steps} slots")
    paired = pair_audio(vchunks, audio.x, audio.valid, audio.times, steps=cfg.fusion_audio_steps)
    plan.qc.update(audio_frames=len(audio.times), audio_frames_merged=paired.merged,
                   audio_frames_unpaired=paired.unpaired)
    for vc, ac in zip(vchunks, paired.chunks, strict=True):
        if vc.valid_share == 0.0 and ac.valid_share == 0.0:
            plan.qc["dropped_no_valid"] += 1
        elif "video" in streams:
            plan.entries.append({"video": vc, "audio": ac})
        else:
            plan.entries.append({"audio": ac})
    if not plan.entries and not plan.qc["reason"]:
        if vchunks:
            plan.qc["reason"] = REASON_NO_VALID
        elif len(audio.times) == 0:
            plan.qc["reason"] = REASON_NO_FRAMES
        else:
            seconds = float(audio.times[-1] - audio.times[0]) + 0.96
            plan.qc["reason"] = (f"{REASON_SHORT} ({seconds:.1f} s of audio < min_coverage "
                                 f"{cfg.min_coverage} x {cfg.video_frames / NOMINAL_FPS:.1f} s)")
    return plan


def chunk_config_for(cfg: Any, **changes: Any):
    """``cfg`` (a :class:`~depsev.shards.chunks.ChunkConfig` or mapping) with ``changes`` applied."""
    from depsev.shards.chunks import ChunkConfig

    return dataclasses.replace(ChunkConfig.coerce(cfg), **changes)
