"""Audio cleaning: the paper's "denoising, normalization" of speech, kept to the participant's turns.

:func:`clean_session` runs the whole stage for one session::

    load_audio      any rate / channels / subtype -> 16 kHz mono float32 (soundfile + soxr VHQ)
    denoise         stationary spectral gating (noisereduce), noise statistics from the signal itself
    participant_segments
                    which spans are the participant's speech: transcript turns (E-DAIC: every row;
                    DAIC-WOZ: the Participant rows), silero-VAD, or the whole file
    cut_segments    the participant's spans concatenated in session order
    normalize_peak  peak normalisation of the cleaned speech to -1 dBFS

and writes the cleaned wav (16 kHz mono PCM_16) plus a segments table that maps the cleaned wav's
clock back to the session clock (:func:`clean_to_session_time`).  The paper's "framing" is done
downstream by the feature extractors (VGGish 0.96 s examples, openSMILE 10 ms LLD frames).

Silent audio and sessions without participant speech do not raise: an empty wav and an empty
segments table are written and the QC record carries the flag, so the next stages report the
session instead of losing it.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
import soxr

from depsev.constants import AUDIO_SR
from depsev.errors import InputError
from depsev.progress import Progress

#: accepted values of ``segmentation`` / ``mode``
SEGMENTATION_MODES = ("auto", "transcript", "vad", "none")
#: values of the ``source`` column of a segments table
SEGMENT_SOURCES = ("transcript", "transcript_speaker", "vad", "none")
#: columns of the segments Parquet written by :func:`clean_session`
SEGMENT_COLUMNS = ["start", "end", "clean_start", "clean_end", "source"]

#: a session whose peak level is below this is "silent audio" (16-bit dither sits near -90 dBFS;
#: any recording with speech in it peaks far above -60 dBFS)
SILENCE_PEAK_DBFS = -60.0
#: target peak of the cleaned participant speech
NORMALIZE_PEAK_DBFS = -1.0
#: a transcript may end this much after the audio before it is flagged (rounding of turn times)
TRANSCRIPT_END_TOLERANCE_S = 0.05

#: noisereduce parameters used by :func:`denoise`.  Stationary spectral gating: a noise profile
#: (per-frequency mean + ``n_std_thresh_stationary`` standard deviations of the dB spectrogram) is
#: estimated from the quietest part of the signal itself (see :data:`NOISE_FRAME_S`) and
#: time-frequency bins below it are removed (``prop_decrease`` 1.0).  ``n_fft`` 512 (32 ms at
#: 16 kHz) is the speech setting recommended by noisereduce's docs; the mask is smoothed over
#: 500 Hz x 50 ms to limit musical noise.  noisereduce uses at most ``chunk_size`` samples
#: (37.5 s) of the noise sample.  Single job, no randomness: deterministic.
DENOISE_PARAMS: dict[str, Any] = {
    "stationary": True,
    "prop_decrease": 1.0,
    "n_std_thresh_stationary": 1.5,
    "n_fft": 512,
    "freq_mask_smooth_hz": 500,
    "time_mask_smooth_ms": 50,
    "chunk_size": 600_000,
    "padding": 30_000,
    "n_jobs": 1,
}

#: the noise sample given to noisereduce: the signal cut into NOISE_FRAME_S frames, the frames
#: whose energy is at or below the NOISE_QUANTILE quantile, in time order.  Estimating the profile
#: from the whole signal would count speech as noise (a voice present a large share of the time
#: raises the threshold at its own harmonics and gets gated away).
NOISE_FRAME_S = 0.1
NOISE_QUANTILE = 0.2

#: silero-VAD parameters (the package defaults, written down so they are recorded with the output)
VAD_PARAMS: dict[str, Any] = {
    "threshold": 0.5,
    "min_speech_duration_ms": 250,
    "min_silence_duration_ms": 100,
    "speech_pad_ms": 30,
}


# --------------------------------------------------------------------------------------------
# loading


def _read_audio(path: str | Path, target_sr: int = AUDIO_SR) -> tuple[np.ndarray, int, int]:
    """Read ``path`` -> (mono float32 at ``target_sr``, input sample rate, input channels)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "audio file not found")
    if p.stat().st_size == 0:
        raise InputError(p, "audio file is empty (0 bytes)")
    try:
        data, sr = sf.read(p, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise InputError(p, f"cannot read audio ({exc})") from exc
    if data.shape[0] == 0:
        raise InputError(p, "audio file holds no samples")
    if not np.isfinite(data).all():
        raise InputError(p, "audio holds NaN or infinite samples")
    channels = int(data.shape[1])
    mono = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float32)
    if int(sr) != int(target_sr):
        mono = soxr.resample(mono, int(sr), int(target_sr), quality="VHQ")
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr), channels


def load_audio(path: str | Path, target_sr: int = AUDIO_SR) -> np.ndarray:
    """Read an audio file as mono float32 at ``target_sr`` (default 16 kHz).

    Any sample rate, channel count and subtype soundfile reads is accepted: channels are averaged,
    the rate is converted with soxr (very high quality).  Raises :class:`InputError` naming the
    file when it is missing, empty, holds no samples, holds NaN/inf, or cannot be decoded.
    """
    return _read_audio(path, target_sr)[0]


# --------------------------------------------------------------------------------------------
# signal processing


def _as_signal(y: np.ndarray) -> np.ndarray:
    arr = np.asarray(y, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D mono signal, got shape {arr.shape}")
    return arr


def peak_dbfs(y: np.ndarray) -> float:
    """Peak level of ``y`` in dB relative to full scale (-inf for an all-zero or empty signal)."""
    arr = _as_signal(y)
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def denoise(y: np.ndarray, sr: int = AUDIO_SR) -> np.ndarray:
    """Stationary spectral gating with noisereduce (parameters: :data:`DENOISE_PARAMS`).

    The noise profile is estimated from the quietest frames of ``y`` itself
    (:func:`noise_sample`); the output has the length and dtype of the
    input and is deterministic.  An all-zero signal, or one shorter than one FFT window
    (``n_fft`` samples), has no noise profile to estimate and is returned unchanged (copied).
    """
    return _spectral_gate(_as_signal(y), sr)


@functools.cache
def _noisereduce() -> Any:
    """``noisereduce.reduce_noise``, imported once, without making it import torch.

    noisereduce imports torch whenever torch is installed, only for its streamed torch gate, which
    depsev does not use (``use_torch`` stays False).  In a fresh ``audio_clean`` job that import is
    ~1.6 s of a ~6 s job; so when torch is not loaded yet, it is hidden from noisereduce's import
    (``sys.modules["torch"] = None`` makes ``import torch`` raise ImportError, which noisereduce
    handles) and the entry removed again afterwards.  scipy, which looks ``torch`` up in
    ``sys.modules`` while importing, is imported before.  Where torch is already loaded nothing changes.
    """
    import sys

    import scipy.signal  # noqa: F401 - before torch is hidden (see above)

    if "torch" in sys.modules:
        import noisereduce
        return noisereduce.reduce_noise
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import noisereduce
    finally:
        if sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
    return noisereduce.reduce_noise


def _spectral_gate(arr: np.ndarray, sr: int) -> np.ndarray:
    if arr.size < DENOISE_PARAMS["n_fft"] or not np.any(arr):
        return arr.copy()
    reduce_noise = _noisereduce()
    out = reduce_noise(y=arr, sr=sr, y_noise=noise_sample(arr, sr), **DENOISE_PARAMS)
    out = np.asarray(out, dtype=np.float32).reshape(-1)
    if out.size != arr.size:  # noisereduce pads/truncates to the input length; make sure
        fixed = np.zeros_like(arr)
        n = min(out.size, arr.size)
        fixed[:n] = out[:n]
        out = fixed
    return out


def noise_sample(y: np.ndarray, sr: int = AUDIO_SR, frame_s: float = NOISE_FRAME_S,
                 quantile: float = NOISE_QUANTILE) -> np.ndarray:
    """The quietest frames of ``y`` (energy <= the ``quantile`` quantile), concatenated in order.

    A signal shorter than one frame is its own noise sample.
    """
    arr = _as_signal(y)
    n = max(1, int(round(frame_s * sr)))
    n_frames = arr.size // n
    if n_frames < 2:
        return arr.copy()
    frames = arr[: n_frames * n].reshape(n_frames, n)
    energy = np.mean(np.square(frames, dtype=np.float64), axis=1)
    quiet = energy <= np.quantile(energy, quantile)
    return np.ascontiguousarray(frames[quiet].reshape(-1))


def normalize_peak(y: np.ndarray, target_dbfs: float = NORMALIZE_PEAK_DBFS) -> tuple[np.ndarray, float]:
    """Scale ``y`` so its peak is ``target_dbfs``; returns (scaled signal, gain in dB).

    An all-zero or empty signal is returned unchanged with gain 0 dB.
    """
    arr = _as_signal(y)
    level = peak_dbfs(arr)
    if not math.isfinite(level):
        return arr.copy(), 0.0
    gain_db = float(target_dbfs) - level
    return (arr * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32), gain_db


# --------------------------------------------------------------------------------------------
# segmentation


def _empty_segments() -> pd.DataFrame:
    return pd.DataFrame({"start": pd.Series(dtype="float64"), "end": pd.Series(dtype="float64"),
                         "source": pd.Series(dtype="str")})


def _tidy_spans(starts: np.ndarray, ends: np.ndarray, duration_s: float, source: str,
                merge_gap_s: float) -> pd.DataFrame:
    """Clip spans to [0, duration], drop zero-length ones, sort and merge overlapping/adjacent."""
    s = np.clip(np.asarray(starts, dtype=np.float64), 0.0, duration_s)
    e = np.clip(np.asarray(ends, dtype=np.float64), 0.0, duration_s)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        out = _empty_segments()
        return out
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    merged: list[list[float]] = [[float(s[0]), float(e[0])]]
    for a, b in zip(s[1:], e[1:], strict=True):
        if a <= merged[-1][1] + merge_gap_s:
            merged[-1][1] = max(merged[-1][1], float(b))
        else:
            merged.append([float(a), float(b)])
    arr = np.asarray(merged, dtype=np.float64)
    return pd.DataFrame({"start": arr[:, 0], "end": arr[:, 1],
                         "source": pd.Series([source] * len(arr), dtype="str")})


def _is_participant(speaker: pd.Series) -> pd.Series:
    return speaker.astype("str").str.strip().str.lower().eq("participant")


def transcript_has_speakers(transcript: pd.DataFrame) -> bool:
    """True when a transcript holds rows of someone other than the participant (DAIC-WOZ style)."""
    if "speaker" not in transcript.columns:
        return False
    return bool((~_is_participant(transcript["speaker"])).any())


def _transcript_spans(transcript: pd.DataFrame, speaker_column: bool,
                      name: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Start/end times of the participant's transcript rows (validated)."""
    need = ["start", "end"] + (["speaker"] if speaker_column else [])
    missing = [c for c in need if c not in transcript.columns]
    if missing:
        raise InputError(name, f"transcript lacks column(s) {missing} (has {list(transcript.columns)})")
    rows = transcript
    if speaker_column:
        rows = transcript[_is_participant(transcript["speaker"])]
    elif transcript_has_speakers(transcript):
        others = sorted(set(transcript["speaker"].astype("str")) - {"participant"})
        raise InputError(name, f"transcript holds rows of other speakers {others}: segment it with "
                               "speaker_column=True to keep only the participant's turns")
    start = pd.to_numeric(rows["start"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    end = pd.to_numeric(rows["end"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(start) & np.isfinite(end))
    if bad.any():
        raise InputError(name, f"{int(bad.sum())} transcript row(s) have a missing or non-numeric "
                               f"start/end time (first: row {rows.index[np.argmax(bad)]!r})")
    back = end < start
    if back.any():
        i = int(np.argmax(back))
        raise InputError(name, f"{int(back.sum())} transcript row(s) end before they start (first: row "
                               f"{rows.index[i]!r}, {start[i]:.3f} -> {end[i]:.3f} s)")
    return start, end


@functools.lru_cache(maxsize=1)
def _silero() -> tuple[Any, Any]:
    """(silero-VAD model, ``get_speech_timestamps``), imported and loaded once.

    The model is the file shipped inside the silero_vad package (silero_vad/data/silero_vad.jit):
    ``load_silero_vad()`` opens it and downloads nothing.  ``import silero_vad`` calls
    ``torch.set_num_threads(1)``: the previous thread count is restored.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad

        with warnings.catch_warnings():  # its own importlib/jit deprecations; nothing for users
            warnings.simplefilter("ignore", DeprecationWarning)
            model = silero_vad.load_silero_vad()
    finally:
        torch.set_num_threads(threads)
    return model, silero_vad.get_speech_timestamps


def vad_spans(y: np.ndarray, sr: int = AUDIO_SR, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Speech spans (start, end arrays in seconds) found by silero-VAD in a 16 kHz mono signal.

    ``params`` override :data:`VAD_PARAMS` (silero's ``get_speech_timestamps`` keywords).
    """
    if sr != AUDIO_SR:
        raise ValueError(f"silero-VAD runs on {AUDIO_SR} Hz audio here, got {sr} Hz")
    arr = _as_signal(y)
    if arr.size == 0:
        return np.zeros(0), np.zeros(0)
    import torch

    model, get_speech_timestamps = _silero()
    with torch.no_grad():
        stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(arr)), model,
                                       sampling_rate=sr, return_seconds=False,
                                       **{**VAD_PARAMS, **params})
    start = np.array([t["start"] for t in stamps], dtype=np.float64) / sr
    end = np.array([t["end"] for t in stamps], dtype=np.float64) / sr
    return start, end


def segment_source(mode: str, transcript: pd.DataFrame | None, speaker_column: bool) -> str:
    """The ``source`` label that ``mode`` resolves to (``auto`` -> transcript when given, else VAD)."""
    if mode not in SEGMENTATION_MODES:
        raise ValueError(f"segmentation mode {mode!r} is not one of {SEGMENTATION_MODES}")
    if mode == "auto":
        mode = "transcript" if transcript is not None else "vad"
    if mode == "transcript":
        return "transcript_speaker" if speaker_column else "transcript"
    return mode


def participant_segments(duration_s: float, *, transcript: pd.DataFrame | None = None,
                         speaker_column: bool = False, vad_audio: np.ndarray | None = None,
                         mode: str = "auto", sr: int = AUDIO_SR, merge_gap_s: float = 0.0,
                         transcript_name: str | Path | None = None,
                         vad_params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Spans of the participant's speech on the session clock: DataFrame ``start, end, source``.

    ``mode``: ``transcript`` -- the rows of ``transcript`` (as returned by
    ``depsev.corpus.transcripts.read_transcript``); with ``speaker_column=False`` every row is the
    participant's (E-DAIC; source ``transcript``), with ``speaker_column=True`` only rows whose
    ``speaker`` is ``participant`` are kept (DAIC-WOZ; source ``transcript_speaker``).
    ``vad`` -- silero-VAD on ``vad_audio`` (16 kHz mono; source ``vad``).  ``none`` -- the whole
    file (source ``none``).  ``auto`` -- transcript when one is given, else VAD.

    Spans are clipped to ``[0, duration_s]``, zero-length ones dropped, and spans that overlap or
    are at most ``merge_gap_s`` apart merged; the result is sorted by start.  A bad transcript
    raises :class:`InputError` naming ``transcript_name``.
    """
    duration_s = float(duration_s)
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s!r}")
    source = segment_source(mode, transcript, speaker_column)
    if source == "none":
        return _tidy_spans(np.array([0.0]), np.array([duration_s]), duration_s, source, merge_gap_s)
    if source == "vad":
        if vad_audio is None:
            raise ValueError("segmentation 'vad' needs vad_audio (16 kHz mono signal)")
        start, end = vad_spans(vad_audio, sr, **(vad_params or {}))
    else:
        if transcript is None:
            raise ValueError("segmentation 'transcript' needs a transcript DataFrame")
        start, end = _transcript_spans(transcript, speaker_column, transcript_name)
    return _tidy_spans(start, end, duration_s, source, merge_gap_s)


# --------------------------------------------------------------------------------------------
# cutting and time mapping


def cut_segments(y: np.ndarray, sr: int, segments: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Concatenate the spans of ``segments`` (``start, end, source``) of ``y``.

    Returns the cleaned signal and the segments table with columns :data:`SEGMENT_COLUMNS`, the
    session times rounded to the sample grid so that every row's ``end - start`` equals its
    ``clean_end - clean_start`` exactly.  Spans that round to zero samples are dropped.
    """
    arr = _as_signal(y)
    i0 = np.rint(segments["start"].to_numpy(dtype=np.float64) * sr).astype(np.int64)
    i1 = np.rint(segments["end"].to_numpy(dtype=np.float64) * sr).astype(np.int64)
    i0, i1 = np.clip(i0, 0, arr.size), np.clip(i1, 0, arr.size)
    keep = i1 > i0
    i0, i1 = i0[keep], i1[keep]
    source = segments["source"].to_numpy()[keep] if len(segments) else np.array([], dtype=object)
    n = i1 - i0
    c1 = np.cumsum(n)
    c0 = c1 - n
    pieces = [arr[a:b] for a, b in zip(i0, i1, strict=True)]
    clean = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, dtype=np.float32)
    table = pd.DataFrame({
        "start": i0 / sr, "end": i1 / sr, "clean_start": c0 / sr, "clean_end": c1 / sr,
        "source": pd.Series(source, dtype="str"),
    }).astype({"start": "float64", "end": "float64", "clean_start": "float64", "clean_end": "float64"})
    return clean, table


def clean_to_session_time(t_clean: np.ndarray | Sequence[float], segments: pd.DataFrame) -> np.ndarray:
    """Map times on the cleaned wav's clock to the session clock, piecewise by segment.

    ``segments`` is a segments table (``start, end, clean_start, clean_end``, sorted).  A time on
    the boundary between two segments maps to the start of the later one; the end of the cleaned
    wav maps to the end of the last segment.  Times outside ``[0, total cleaned duration]`` or
    not finite raise ValueError.
    """
    t = np.asarray(t_clean, dtype=np.float64)
    need = ["start", "clean_start", "clean_end"]
    missing = [c for c in need if c not in segments.columns]
    if missing:
        raise ValueError(f"segments table lacks column(s) {missing}")
    if t.size == 0:
        return t.copy()
    if len(segments) == 0:
        raise ValueError("cannot map times: the segments table is empty (no cleaned audio)")
    cs = segments["clean_start"].to_numpy(dtype=np.float64)
    ce = segments["clean_end"].to_numpy(dtype=np.float64)
    st = segments["start"].to_numpy(dtype=np.float64)
    if np.any(np.diff(cs) < 0):
        raise ValueError("segments table is not sorted by clean_start")
    tol = 1e-9
    if not np.isfinite(t).all() or t.min() < -tol or t.max() > ce[-1] + tol:
        raise ValueError(f"times must lie in [0, {ce[-1]:.6f}] s (the cleaned audio), got "
                         f"[{np.nanmin(t):.6f}, {np.nanmax(t):.6f}]")
    k = np.clip(np.searchsorted(cs, t, side="right") - 1, 0, len(cs) - 1)
    return st[k] + (t - cs[k])


# --------------------------------------------------------------------------------------------
# the stage


def read_rttm(path: str | Path) -> pd.DataFrame:
    """Speaker turns of an RTTM file: DataFrame ``start, end, speaker`` (seconds), file order.

    Reads ``SPEAKER <file> <chan> <start> <dur> <NA> <NA> <speaker> <NA> <NA>`` lines; other
    record types and ``;;`` comments are not turns and are skipped.  Raises :class:`InputError` for
    a missing file, a malformed SPEAKER line or a file without any.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "RTTM file not found")
    rows: list[tuple[float, float, str]] = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise InputError(p, f"line {lineno}: SPEAKER line has {len(fields)} fields, expected 10")
        try:
            start, dur = float(fields[3]), float(fields[4])
        except ValueError as exc:
            raise InputError(p, f"line {lineno}: start/duration not numeric ({exc})") from exc
        if not (math.isfinite(start) and math.isfinite(dur)) or start < 0 or dur < 0:
            raise InputError(p, f"line {lineno}: invalid start {start} / duration {dur}")
        rows.append((start, start + dur, fields[7]))
    if not rows:
        raise InputError(p, "no SPEAKER lines")
    return pd.DataFrame({"start": [r[0] for r in rows], "end": [r[1] for r in rows],
                         "speaker": pd.Series([r[2] for r in rows], dtype="str")})


def _read_transcript(path: str | Path) -> pd.DataFrame:
    from depsev.corpus.transcripts import read_transcript  # lazy: this module imports without it

    return read_transcript(path)


def _write_wav(path: Path, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(y, -1.0, 1.0), AUDIO_SR, subtype="PCM_16", format="WAV")


def _write_segments(path: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    schema = pa.schema([("start", pa.float64()), ("end", pa.float64()), ("clean_start", pa.float64()),
                        ("clean_end", pa.float64()), ("source", pa.string())])
    data = pa.Table.from_pydict({c: table[c].tolist() for c in SEGMENT_COLUMNS}, schema=schema)
    data = data.replace_schema_metadata({"depsev": json.dumps(meta, default=str)})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path, compression="zstd")


def clean_session(audio_path: str | Path, out_wav: str | Path, out_segments: str | Path, *,
                  transcript_path: str | Path | None = None, segmentation: str = "auto",
                  denoise: bool = True, normalize: bool = True,
                  transcript: pd.DataFrame | None = None) -> dict[str, Any]:
    """Clean one session's audio and keep the participant's speech; returns a QC record.

    Steps: :func:`load_audio` -> :func:`denoise` (when ``denoise``) -> :func:`participant_segments`
    (``segmentation``; VAD listens to the un-denoised signal, on which silero was trained) ->
    :func:`cut_segments` -> :func:`normalize_peak` (when ``normalize``).  Writes ``out_wav`` (16 kHz
    mono PCM_16, the participant's segments concatenated in order) and ``out_segments`` (Parquet,
    :data:`SEGMENT_COLUMNS`, QC and parameters as JSON under metadata key ``depsev``).

    The transcript comes from ``transcript_path`` (read with
    ``depsev.corpus.transcripts.read_transcript``) or, already read, from ``transcript``; a
    DAIC-WOZ transcript (``attrs["transcript_format"] == "daicwoz"``, or any interviewer rows) is
    segmented by speaker.  It is ignored for ``vad``/``none``.

    Silent audio or no participant speech writes an empty wav and table and adds a flag
    (``silent audio``, ``no participant speech found``); a transcript running past the end of the
    audio adds ``transcript extends past audio end``.  Unreadable audio or transcript raises
    :class:`InputError`.
    """
    if segmentation not in SEGMENTATION_MODES:
        raise ValueError(f"segmentation {segmentation!r} is not one of {SEGMENTATION_MODES}")
    if transcript is not None and transcript_path is not None:
        raise ValueError("give transcript_path or transcript, not both")
    steps = Progress(f"audio clean {Path(audio_path).name}", 3, unit="steps")
    y, sr_in, channels = _read_audio(audio_path)
    duration = y.size / AUDIO_SR
    steps.update(note=f"read {duration:.1f} s of audio")
    flags: list[str] = []

    name: str | Path | None = transcript_path
    if segmentation in ("auto", "transcript"):
        if transcript_path is not None:
            transcript = _read_transcript(transcript_path)
    else:
        transcript, name = None, None
    if segmentation == "transcript" and transcript is None:
        raise InputError(audio_path, "segmentation 'transcript' needs a transcript, none given")
    speaker_column = transcript is not None and (
        transcript.attrs.get("transcript_format") == "daicwoz" or transcript_has_speakers(transcript))
    source = segment_source(segmentation, transcript, speaker_column)

    if transcript is not None and len(transcript):
        t_end = float(pd.to_numeric(transcript["end"], errors="coerce").max())
        if t_end > duration + TRANSCRIPT_END_TOLERANCE_S:
            flags.append(f"transcript extends past audio end ({t_end:.2f} s > {duration:.2f} s)")

    level = peak_dbfs(y)
    processed = y
    if level < SILENCE_PEAK_DBFS:
        flags.append(f"silent audio (peak {level:.1f} dBFS < {SILENCE_PEAK_DBFS:g} dBFS)")
        segs = _empty_segments()
    else:
        processed = _spectral_gate(y, AUDIO_SR) if denoise else y
        segs = participant_segments(duration, transcript=transcript, speaker_column=speaker_column,
                                    vad_audio=y, mode=segmentation, transcript_name=name)
    steps.update(note=f"{'denoised, ' if denoise else ''}{len(segs)} segments ({source})")
    clean, table = cut_segments(processed, AUDIO_SR, segs)
    steps.update(note=f"{clean.size / AUDIO_SR:.1f} s of participant speech kept")
    if len(table) == 0:
        flags.append("no participant speech found")
    gain_db: float | None = None
    if normalize:
        clean, gain_db = normalize_peak(clean)

    qc: dict[str, Any] = {
        "audio_path": str(audio_path),
        "transcript_path": None if name is None else str(name),
        "input_sample_rate": sr_in,
        "input_channels": channels,
        "duration_s": duration,
        "participant_seconds": clean.size / AUDIO_SR,
        "n_segments": int(len(table)),
        "segmentation_requested": segmentation,
        "segmentation": source,
        "denoise": bool(denoise),
        "normalize_gain_db": gain_db,
        "peak_dbfs": level if math.isfinite(level) else None,  # None: all-zero audio
        "flags": flags,
    }
    meta = {"stage": "audio_clean", "qc": qc, "sample_rate": AUDIO_SR,
            "denoise_params": DENOISE_PARAMS if denoise else None,
            "vad_params": VAD_PARAMS if source == "vad" else None,
            "normalize_peak_dbfs": NORMALIZE_PEAK_DBFS if normalize else None,
            "silence_peak_dbfs": SILENCE_PEAK_DBFS}
    _write_wav(Path(out_wav), clean)
    _write_segments(Path(out_segments), table, meta)
    steps.done()
    return qc
