"""Cut normalized sessions into fixed-length masked chunks and write them as Parquet shards.

The paper cuts the face stream into chunks of 5000 frames and the audio stream into chunks of 300
frames (VGGish examples), then downsamples.  Rules implemented here (also in
:data:`depsev.shards.schema.SCHEMA_MARKDOWN`):

- chunk ``i`` holds frames ``[i*size, (i+1)*size)``; inside it every ``downsample``-th frame is
  kept, so every chunk has ``L = ceil(size / downsample)`` steps;
- the last, partial chunk is zero-padded (mask False) when its frames cover at least
  ``min_coverage * size``; otherwise it is dropped and counted (``dropped_partial``).  A session
  shorter than that yields no chunk and the reason ``shorter than one chunk``;
- invalid frames (face ``valid == False``, audio rows with non-finite values) keep their step but
  are zeroed and masked; ``valid_share = mask.mean()``.  A chunk with ``valid_share == 0`` carries
  no data and is dropped and counted (``dropped_no_valid``); a session that loses every chunk this
  way gets the reason ``no valid frames``;
- fusion chunks are the video chunks; each is paired BY TIMESTAMP with the audio examples whose
  session time lies in the chunk's ``[start_time, end_time)`` span (``end_time`` is the time of
  the first frame of the next chunk; for the last chunk its last frame + its median frame
  interval), and every example goes to the audio slot at its time's relative position on the video
  chunk's time axis (``fusion_audio_steps = ceil(fusion_audio_frames / audio_downsample)`` slots;
  examples sharing a slot are averaged; see :mod:`depsev.shards.session`, shard schema version 2).
  A fusion chunk is dropped only when neither stream has a valid step;
- NaN feature values inside valid frames (features absent from a session) become 0 (the train
  mean after normalization) and are counted per participant (``nan_values_zeroed``);
- optional class balancing (``balance_train``) of TRAINING chunks only: per severity band at most
  the median band's chunk count is kept (seeded random choice), recorded in the metadata.

Reading a session's feature files and planning its chunks live in :mod:`depsev.shards.session`
(:func:`~depsev.shards.session.load_stream`, :func:`~depsev.shards.session.plan_chunks`), shared
with ``depsev predict``; this module holds the chunking rules and the shard writer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.constants import FACE_FEATURES, N_BANDS, face_feature_set_name
from depsev.errors import InputError
from depsev.hashing import file_sha256
from depsev.shards.schema import (
    SCHEMA_VERSION,
    SHARD_MODALITIES,
    STREAM_COLUMNS,
    encode_metadata,
    shard_schema,
)

#: feature files per stream: sub-folder of the feature directory, time column, feature set name
STREAM_SOURCES = {
    # video: the feature set follows the normalization statistics (face.features), see _metadata
    "video": {"folder": "face", "time": "timestamp", "feature_set": "openface2_pose_gaze_au49"},
    "audio": {"folder": "vggish", "time": "time", "feature_set": "vggish_fc2"},
}
REASON_NO_FRAMES = "no frames"
REASON_SHORT = "shorter than one chunk"
REASON_NO_VALID = "no valid frames"
REASON_BALANCED = "all chunks removed by balance_train"


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class ChunkConfig:
    """Chunking parameters (``config.yaml`` section ``chunks``; demo overrides applied by
    :meth:`from_config`)."""

    video_frames: int = 5000
    audio_frames: int = 300
    video_downsample: int = 1
    audio_downsample: int = 1
    min_coverage: float = 0.5
    balance_train: bool = False
    #: seed of the class-balancing choice
    balance_seed: int = 0
    #: audio examples per fusion chunk before downsampling (None: ``audio_frames``)
    fusion_audio_frames: int | None = None
    #: ``dataset.kind`` (demo | edaic | daic-woz); recorded in the metadata
    dataset_kind: str | None = None

    def __post_init__(self) -> None:
        for name in ("video_frames", "audio_frames", "video_downsample", "audio_downsample"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"chunks.{name} must be >= 1, got {getattr(self, name)}")
        if self.fusion_audio_frames is not None and self.fusion_audio_frames < 1:
            raise ValueError(f"fusion_audio_frames must be >= 1, got {self.fusion_audio_frames}")
        if not 0.0 <= float(self.min_coverage) <= 1.0:
            raise ValueError(f"chunks.min_coverage must be in [0, 1], got {self.min_coverage}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ChunkConfig:
        """From the whole workflow config: ``chunks`` + ``demo.chunks`` when ``dataset.kind == demo``."""
        kind = config.get("dataset", {}).get("kind")
        values = dict(config.get("chunks", {}))
        if kind == "demo":
            values.update(config.get("demo", {}).get("chunks", {}))
        return cls.coerce({**values, "dataset_kind": kind})

    @classmethod
    def coerce(cls, cfg: ChunkConfig | Mapping[str, Any]) -> ChunkConfig:
        """A :class:`ChunkConfig` from itself, a ``chunks`` mapping, or the whole config."""
        if isinstance(cfg, ChunkConfig):
            return cfg
        if "chunks" in cfg or "dataset" in cfg:
            return cls.from_config(cfg)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown chunk settings {unknown} (known: {sorted(known)})")
        return cls(**cfg)

    @property
    def fusion_audio_steps(self) -> int:
        frames = self.fusion_audio_frames or self.audio_frames
        return math.ceil(frames / self.audio_downsample)


# ---------------------------------------------------------------- chunking
@dataclass
class Chunk:
    """One chunk of a session: ``seq`` f32[L, d], ``mask`` bool[L] (False: padding or invalid)."""

    index: int
    start_time: float
    end_time: float
    seq: np.ndarray
    mask: np.ndarray
    valid_share: float
    #: steps holding a real frame (valid or not); the rest is padding
    n_steps: int
    #: session time of each real step (``n_steps`` values; video chunks: where the audio is placed)
    step_times: np.ndarray | None = None
    #: typical interval between two steps (s): the span of the last real step
    step_dt: float = 0.0


class ChunkList(list):
    """``list[Chunk]`` that also says what was dropped and, when empty, why."""

    def __init__(self, chunks: list[Chunk] | None = None, *, n_frames: int = 0, dropped_partial: int = 0,
                 dropped_no_valid: int = 0, reason: str = ""):
        super().__init__(chunks or [])
        self.n_frames = n_frames
        self.dropped_partial = dropped_partial
        self.dropped_no_valid = dropped_no_valid
        self.reason = reason


def _frame_interval(times: np.ndarray) -> float:
    return float(np.median(np.diff(times))) if len(times) > 1 else 0.0


def check_frames(x: np.ndarray, valid: np.ndarray, times: np.ndarray) -> None:
    """ValueError unless ``x`` is frames x features with one ``valid`` flag and one finite,
    non-decreasing time per frame, and no non-finite value in a valid frame."""
    if x.ndim != 2:
        raise ValueError(f"x must be frames x features, got shape {x.shape}")
    if valid.shape != (len(x),) or times.shape != (len(x),):
        raise ValueError(f"valid {valid.shape} and times {times.shape} need one entry per frame ({len(x)})")
    if not np.isfinite(times).all() or (np.diff(times) < 0).any():
        raise ValueError("times must be finite and non-decreasing")
    if not np.isfinite(x[valid]).all():
        raise ValueError("x has non-finite values in valid frames: fill or mask them first")


def _check_inputs(x: np.ndarray, valid: np.ndarray, times: np.ndarray, size: int, downsample: int,
                  min_coverage: float) -> None:
    if size < 1 or downsample < 1:
        raise ValueError(f"size and downsample must be >= 1, got {size}, {downsample}")
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    check_frames(x, valid, times)


def no_chunk_reason(n: int, size: int, min_coverage: float, dropped_partial: int,
                     dropped_no_valid: int) -> str:
    if n == 0:
        return REASON_NO_FRAMES
    if dropped_no_valid == 0:
        return f"{REASON_SHORT} ({n} frames < min_coverage {min_coverage} x {size})"
    if dropped_partial:
        return f"{REASON_NO_VALID} in the full chunks; last partial chunk below min_coverage"
    return REASON_NO_VALID


def chunk_sequence(x: np.ndarray, valid: np.ndarray, times: np.ndarray, *, size: int, downsample: int = 1,
                   min_coverage: float = 0.5, keep_empty: bool = False) -> ChunkList:
    """Cut one session (``x`` f32[n, d], ``valid`` bool[n], ``times`` f64[n]) into chunks.

    Returns a :class:`ChunkList` (a ``list[Chunk]``) with the counts ``dropped_partial``,
    ``dropped_no_valid`` and, when no chunk is left, ``reason``.  ``keep_empty`` keeps chunks without
    a valid step (fusion decides with the audio stream).  See the module docstring for the rules.
    """
    x = np.asarray(x, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    times = np.asarray(times, dtype=np.float64)
    _check_inputs(x, valid, times, size, downsample, min_coverage)
    n, d = x.shape
    steps = math.ceil(size / downsample)
    dt = _frame_interval(times)
    out = ChunkList(n_frames=n)
    for i in range(math.ceil(n / size)):
        lo, hi = i * size, min((i + 1) * size, n)
        if hi - lo < size and (hi - lo) < min_coverage * size:
            out.dropped_partial += 1
            continue
        idx = np.arange(lo, hi, downsample)
        keep = valid[idx]
        seq = np.zeros((steps, d), dtype=np.float32)
        mask = np.zeros(steps, dtype=bool)
        seq[:len(idx)][keep] = x[idx[keep]]
        mask[:len(idx)] = keep
        share = float(mask.mean())
        if share == 0.0 and not keep_empty:
            out.dropped_no_valid += 1
            continue
        if hi < n:
            end = float(times[hi])
        else:  # last chunk: its own median frame interval (irregular fps), else the session's
            end = float(times[hi - 1]) + (_frame_interval(times[lo:hi]) if hi - lo > 1 else dt)
        step_dt = downsample * (_frame_interval(times[lo:hi]) if hi - lo > 1 else dt)
        out.append(Chunk(index=i, start_time=float(times[lo]), end_time=end, seq=seq, mask=mask,
                         valid_share=share, n_steps=len(idx), step_times=times[idx], step_dt=step_dt))
    if not out:
        out.reason = no_chunk_reason(n, size, min_coverage, out.dropped_partial, out.dropped_no_valid)
    return out


# ---------------------------------------------------------------- class balancing
def balance_chunks(keys: list[tuple[int, int, int]], *, split: str, seed: int) -> tuple[set, dict]:
    """Class-balancing downsampling of TRAINING chunks.

    ``keys``: ``(participant_id, chunk_index, band)`` of every chunk.  Per band at most the median
    band count (median over bands that have chunks, rounded down) is kept, chosen at random with
    ``seed``.  Returns the kept ``(participant_id, chunk_index)`` pairs and a record for the
    metadata.  Refused (ValueError) for any split but ``train``: dev and test are never resampled.
    """
    if split != "train":
        raise ValueError(f"class balancing applies to training chunks only, not to split {split!r}")
    by_band: dict[int, list[tuple[int, int]]] = {}
    for pid, idx, band in keys:
        by_band.setdefault(int(band), []).append((int(pid), int(idx)))
    counts = {b: len(v) for b, v in sorted(by_band.items())}
    target = int(np.median(list(counts.values()))) if counts else 0
    rng = np.random.default_rng(seed)
    kept: set[tuple[int, int]] = set()
    for _band, items in sorted(by_band.items()):
        if len(items) > target:
            pick = rng.choice(len(items), size=target, replace=False)
            items = [items[j] for j in sorted(pick)]
        kept.update(items)
    after = {b: min(c, target) for b, c in counts.items()}
    return kept, {"seed": seed, "target": target, "rule": "per band at most the median band's count",
                  "before": {str(b): c for b, c in counts.items()},
                  "after": {str(b): c for b, c in after.items()}}


# ---------------------------------------------------------------- the streams of a shard set
@dataclass
class _StreamSource:
    """What is known about one stream before any session is read."""

    name: str
    folder: Path
    stats: Mapping
    feature_names: list[str]
    normalization: dict


def _stats_and_normalization(spec: Any, stream: str) -> tuple[Mapping, dict]:
    from depsev.shards.normalize import load_stats

    if isinstance(spec, (str, Path)):
        path = Path(spec)
        stats = load_stats(path)
        return stats, {"file": path.name, "sha256": file_sha256(path)}
    if isinstance(spec, Mapping):
        return spec, {"file": None, "sha256": None, "note": "statistics passed in memory"}
    raise TypeError(f"stats for {stream} must be a path to results/normalize/{stream}.json or a dict")


def _stream_source(stream: str, feature_dir: Path | Mapping[str, Path],
                   stats_by_modality: Mapping[str, Any]) -> _StreamSource:
    if stream not in stats_by_modality:
        raise ValueError(f"stats_by_modality has no '{stream}' statistics (keys: {list(stats_by_modality)})")
    stats, normalization = _stats_and_normalization(stats_by_modality[stream], stream)
    names = [str(n) for n in stats["feature_names"]]
    unknown = sorted(set(names) - set(FACE_FEATURES)) if stream == "video" else []
    if unknown:
        raise InputError(normalization.get("file"), f"unknown face features {unknown[:5]} in the statistics")
    folder = (Path(feature_dir[stream]) if isinstance(feature_dir, Mapping)
              else Path(feature_dir) / STREAM_SOURCES[stream]["folder"])
    return _StreamSource(stream, folder, stats, names, normalization)


def _preparation(sources: dict[str, _StreamSource], pids: list[int], cfg: ChunkConfig) -> dict:
    """The feature preparation recorded in the sessions' feature files (every stream), plus this
    stage's ``min_coverage`` (:mod:`depsev.shards.preparation`); sessions that disagree are refused."""
    from depsev.shards.preparation import PreparationCollector
    from depsev.shards.session import feature_file_meta

    collector = PreparationCollector()
    for stream, source in sources.items():
        for pid in pids:
            path = source.folder / f"{pid}.parquet"
            if path.is_file():
                collector.add(pid, stream, feature_file_meta(path), path)
    return collector.preparation(cfg.min_coverage)


def _metadata(modality: str, split: str, cfg: ChunkConfig, sources: dict[str, _StreamSource],
              balance: dict | None, dataset_kind: str, preparation: dict) -> dict:
    streams = {}
    for name, src in sources.items():
        seq_col, mask_col = STREAM_COLUMNS[modality][name]
        frames = cfg.video_frames if name == "video" else cfg.audio_frames
        down = cfg.video_downsample if name == "video" else cfg.audio_downsample
        feature_set = (face_feature_set_name(src.feature_names) if name == "video"
                       else STREAM_SOURCES[name]["feature_set"])
        info = {"columns": [seq_col, mask_col], "feature_set": feature_set,
                "feature_names": src.feature_names, "dim": len(src.feature_names),
                "chunk_frames": frames, "downsample": down, "steps": math.ceil(frames / down),
                "normalization": src.normalization}
        if modality == "fusion" and name == "audio":
            info.update(chunk_frames=None, pairing=PAIRING,
                        fusion_audio_frames=cfg.fusion_audio_frames or cfg.audio_frames,
                        steps=cfg.fusion_audio_steps)
        streams[name] = info
    return {"schema_version": SCHEMA_VERSION, "modality": modality, "split": split, "streams": streams,
            "chunk_config": {k: v for k, v in asdict(cfg).items() if k != "dataset_kind"},
            "min_coverage": cfg.min_coverage, "balance_train": cfg.balance_train, "balance": balance,
            "preparation": preparation,
            "dataset_kind": dataset_kind, "synthetic": dataset_kind == "demo",
            "seq_layout": "list<fixed_size_list<float32>[dim]>: steps in time order, one feature vector each"}


#: how fusion shards place the audio (recorded in their metadata)
PAIRING = ("time: examples with time in the video chunk's [start_time, end_time), each in slot "
           "floor(p / L_v * L_a) of its fractional video step p; examples sharing a slot averaged")


# ---------------------------------------------------------------- one participant
@dataclass
class _Participant:
    qc: dict
    rows: list[dict]


def _chunks_of(pid: int, sources: dict[str, _StreamSource], cfg: ChunkConfig, qc: dict,
               modality: str) -> list[dict[str, Chunk]]:
    """Chunks of one participant, as ``{stream: Chunk}`` per chunk; fills ``qc``."""
    from depsev.shards.session import load_stream, plan_chunks

    paths = {s: src.folder / f"{pid}.parquet" for s, src in sources.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        qc["reason"] = f"missing feature file {', '.join(missing)}"
        return []
    data = {s: load_stream(paths[s], s, src.stats, normalization_sha256=src.normalization.get("sha256"))
            for s, src in sources.items()}
    qc["nan_values_zeroed"] = sum(d.nan_zeroed for d in data.values())
    plan = plan_chunks(data, cfg, modality=modality)
    qc.update({k: v for k, v in plan.qc.items() if k in qc or k.startswith("audio_frames")})
    return plan.entries


def _row(entry: dict[str, Chunk], labels: dict, modality: str) -> dict:
    lead = entry.get("video") or entry["audio"]
    row = {**labels, "chunk_index": lead.index, "start_time": lead.start_time, "end_time": lead.end_time,
           "valid_share": lead.valid_share, "n_steps": lead.n_steps}
    if modality == "fusion":
        row.update(audio_valid_share=entry["audio"].valid_share, audio_n_steps=entry["audio"].n_steps)
    for stream, (seq_col, mask_col) in STREAM_COLUMNS[modality].items():
        row[seq_col], row[mask_col] = entry[stream].seq, entry[stream].mask
    return row


# ---------------------------------------------------------------- writing
class _ShardWriter:
    """Buffers rows and writes ``part-00000.parquet``, ``part-00001.parquet`` ... (zstd)."""

    def __init__(self, out: Path, schema: pa.Schema, meta: dict, shard_rows: int):
        self.out, self.schema, self.shard_rows = out, schema.with_metadata(encode_metadata(meta)), shard_rows
        self.buffer: list[dict] = []
        self.files: list[str] = []
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("part-*.parquet"):
            stale.unlink()

    def add(self, rows: list[dict]) -> None:
        self.buffer.extend(rows)
        while len(self.buffer) >= self.shard_rows:
            self._flush(self.buffer[:self.shard_rows])
            self.buffer = self.buffer[self.shard_rows:]

    def close(self) -> list[str]:
        if self.buffer or not self.files:  # an empty split still gets one file with schema + metadata
            self._flush(self.buffer)
            self.buffer = []
        return self.files

    def _column(self, rows: list[dict], f: pa.Field) -> pa.Array:
        if pa.types.is_list(f.type):
            arrays = [r[f.name] for r in rows]
            offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
            offsets[1:] = np.cumsum([len(a) for a in arrays])
            if pa.types.is_fixed_size_list(f.type.value_type):
                d = f.type.value_type.list_size
                flat = (np.concatenate([a.reshape(-1) for a in arrays]) if arrays
                        else np.zeros(0, np.float32))
                values = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), d)
            else:
                values = pa.array(np.concatenate(arrays) if arrays else np.zeros(0, bool), pa.bool_())
            return pa.ListArray.from_arrays(pa.array(offsets), values, type=f.type)
        return pa.array([r[f.name] for r in rows], type=f.type)

    def _flush(self, rows: list[dict]) -> None:
        table = pa.Table.from_arrays([self._column(rows, f) for f in self.schema], schema=self.schema)
        name = f"part-{len(self.files):05d}.parquet"
        pq.write_table(table, self.out / name, compression="zstd")
        self.files.append(name)


# ---------------------------------------------------------------- public entry point
def _participants(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    need = ["participant_id", "split", "status", "interviewer", "phq_score", "band"]
    missing = [c for c in need if c not in manifest.columns]
    if missing:
        raise InputError(None, f"manifest lacks columns {missing}")
    return manifest[(manifest["split"] == split) & (manifest["status"] == "ok")]


def _labels(row: pd.Series) -> dict:
    def _int(v: Any) -> int | None:
        return None if pd.isna(v) else int(v)

    band = _int(row["band"])
    if band is not None and not 0 <= band < N_BANDS:
        raise InputError(None, f"participant {row['participant_id']}: band {band} outside 0..{N_BANDS - 1}")
    return {"participant_id": int(row["participant_id"]), "split": str(row["split"]),
            "interviewer": str(row["interviewer"]), "phq_score": _int(row["phq_score"]), "band": band}


def _process(participants: pd.DataFrame, sources: dict[str, _StreamSource], cfg: ChunkConfig,
             modality: str) -> Iterator[_Participant]:
    for _, mrow in participants.iterrows():
        labels = _labels(mrow)
        qc = {"participant_id": labels["participant_id"], "band": labels["band"], "n_frames": 0,
              "n_chunks": 0, "dropped_partial": 0, "dropped_no_valid": 0, "dropped_balance": 0,
              "nan_values_zeroed": 0, "reason": ""}
        if modality == "fusion":
            qc.update(audio_frames=0, audio_frames_merged=0, audio_frames_unpaired=0)
        entries = _chunks_of(labels["participant_id"], sources, cfg, qc, modality)
        yield _Participant(qc, [_row(e, labels, modality) for e in entries])


def build_shards(manifest: pd.DataFrame, feature_dir: str | Path | Mapping[str, str | Path],
                 stats_by_modality: Mapping[str, Any],
                 out_dir: str | Path, *, modality: str, split: str, cfg: ChunkConfig | Mapping[str, Any],
                 shard_rows: int = 32, dataset_kind: str | None = None) -> dict:
    """Chunk every ``status == "ok"`` participant of ``split`` and write the shards.

    ``feature_dir`` holds ``face/<ID>.parquet`` and ``vggish/<ID>.parquet`` (or is a mapping
    ``{"video": folder, "audio": folder}`` of the folders holding ``<ID>.parquet``); ``stats_by_modality``
    maps ``video`` / ``audio`` to the TRAIN normalization statistics (path of
    ``results/normalize/<modality>.json``, whose sha256 is recorded, or a loaded stats dict); they
    are applied, never refitted (feature files already normalized with the same file are used as
    they are).  Writes ``out_dir/<modality>/<split>/part-NNNNN.parquet`` with at most
    ``shard_rows`` chunks each (at least one file, possibly empty).  ``dataset_kind`` defaults to
    ``cfg.dataset_kind``.  The feature preparation recorded in the feature files' metadata (audio
    cleaning, VGGish weights, face confidence threshold, OpenFace image) is written, with
    ``min_coverage``, into the shard metadata under ``preparation`` (:mod:`depsev.shards.preparation`);
    sessions whose files record different settings are refused.

    Returns QC: ``participants_in`` (= ``with_chunks`` + ``flagged``), ``chunks``, ``files``,
    ``balance`` and ``participants`` (one dict per participant: ``n_chunks``, dropped counts,
    ``reason`` when it has no chunk).
    """
    if modality not in SHARD_MODALITIES:
        raise ValueError(f"modality must be one of {SHARD_MODALITIES}, got {modality!r}")
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    cfg = ChunkConfig.coerce(cfg)
    kind = dataset_kind or cfg.dataset_kind
    if not kind:
        raise ValueError("dataset kind unknown: pass dataset_kind= or a cfg made by ChunkConfig.from_config")
    participants = _participants(manifest, split)
    pids = [int(p) for p in participants["participant_id"]]
    fdir = feature_dir if isinstance(feature_dir, Mapping) else Path(feature_dir)
    sources = {s: _stream_source(s, fdir, stats_by_modality) for s in STREAM_COLUMNS[modality]}
    balance, kept = None, None
    if cfg.balance_train and split == "train":
        keys = [(p.qc["participant_id"], r["chunk_index"], p.qc["band"])
                for p in _process(participants, sources, cfg, modality) for r in p.rows]
        if any(k[2] is None for k in keys):
            raise InputError(None, "class balancing needs a band for every training participant")
        kept, balance = balance_chunks(keys, split=split, seed=cfg.balance_seed)
    meta = _metadata(modality, split, cfg, sources, balance, kind, _preparation(sources, pids, cfg))
    dims = {s: len(src.feature_names) for s, src in sources.items()}
    writer = _ShardWriter(Path(out_dir) / modality / split, shard_schema(modality, dims), meta, shard_rows)
    qc_rows: list[dict] = []
    for part in _process(participants, sources, cfg, modality):
        rows = part.rows
        if kept is not None:
            rows = [r for r in rows if (r["participant_id"], r["chunk_index"]) in kept]
            part.qc["dropped_balance"] = len(part.rows) - len(rows)
            if part.rows and not rows:
                part.qc["reason"] = REASON_BALANCED
        part.qc["n_chunks"] = len(rows)
        writer.add(rows)
        qc_rows.append(part.qc)
    files = writer.close()
    with_chunks = sum(1 for q in qc_rows if q["n_chunks"] > 0)
    return {"modality": modality, "split": split, "participants_in": len(qc_rows),
            "with_chunks": with_chunks, "flagged": len(qc_rows) - with_chunks,
            "chunks": sum(q["n_chunks"] for q in qc_rows), "files": files, "balance": balance,
            "metadata": {k: v for k, v in meta.items() if k != "streams"}, "participants": qc_rows,
            "config": asdict(cfg)}
