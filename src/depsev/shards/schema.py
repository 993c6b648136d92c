"""Layout of the chunk shards ``results/shards/<modality>/<split>/part-*.parquet``.

One row per chunk.  A chunk's frame sequence is stored as ``list<fixed_size_list<float32>[d]>``:
the outer list holds the ``L`` steps of the chunk in time order, each step is one ``d``-dimensional
feature vector.  (A single flattened ``fixed_size_list[L*d]`` was not used: DuckDB and pandas read
the nested form directly and the step structure stays visible.)  Values are written as float32
and read back bit-exactly.  See :data:`SCHEMA_MARKDOWN` for the full description.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from depsev.errors import InputError
from depsev.features.io import FEATURE_META_KEY

#: bump when columns or their meaning change (3: the metadata carries the feature ``preparation``)
SCHEMA_VERSION = 3
#: key of the JSON provenance in every shard file's key-value metadata (the feature files' key)
METADATA_KEY = FEATURE_META_KEY
SHARD_MODALITIES = ("video", "audio", "fusion")
#: sequence / mask columns of each stream, per shard modality
STREAM_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "video": {"video": ("seq", "mask")},
    "audio": {"audio": ("seq", "mask")},
    "fusion": {"video": ("video_seq", "video_mask"), "audio": ("audio_seq", "audio_mask")},
}
#: per-chunk columns that are not sequences (the "labels" table of :func:`rows_to_arrays`)
LABEL_FIELDS: list[pa.Field] = [
    pa.field("participant_id", pa.int64(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("interviewer", pa.string(), nullable=False),
    pa.field("phq_score", pa.int64()),
    pa.field("band", pa.int64()),
    pa.field("chunk_index", pa.int32(), nullable=False),
    pa.field("start_time", pa.float64(), nullable=False),
    pa.field("end_time", pa.float64(), nullable=False),
    pa.field("valid_share", pa.float64(), nullable=False),
    pa.field("n_steps", pa.int32(), nullable=False),
]
#: extra per-chunk columns of fusion shards (the audio stream's share / real steps)
FUSION_FIELDS: list[pa.Field] = [
    pa.field("audio_valid_share", pa.float64(), nullable=False),
    pa.field("audio_n_steps", pa.int32(), nullable=False),
]


def sequence_type(dim: int) -> pa.DataType:
    """``list<fixed_size_list<float32>[dim]>``: steps x features of one chunk."""
    return pa.list_(pa.list_(pa.float32(), int(dim)))


def mask_type() -> pa.DataType:
    return pa.list_(pa.bool_())


def _check_modality(modality: str) -> None:
    if modality not in SHARD_MODALITIES:
        raise ValueError(f"modality must be one of {SHARD_MODALITIES}, got {modality!r}")


def shard_schema(modality: str, dims: int | Mapping[str, int]) -> pa.Schema:
    """Arrow schema of a shard of ``modality`` (``video | audio | fusion``).

    ``dims``: feature dimension per stream (``{"video": 49, "audio": 4096}``); an int is accepted
    for the single-stream modalities.
    """
    _check_modality(modality)
    streams = STREAM_COLUMNS[modality]
    if not isinstance(dims, Mapping):
        if len(streams) != 1:
            raise ValueError("fusion shards need dims for both streams: {'video': d_v, 'audio': d_a}")
        dims = {next(iter(streams)): int(dims)}
    missing = [s for s in streams if s not in dims]
    if missing:
        raise ValueError(f"dims lack the stream(s) {missing} of modality {modality}")
    fields = list(LABEL_FIELDS) + (list(FUSION_FIELDS) if modality == "fusion" else [])
    for stream, (seq_col, mask_col) in streams.items():
        if int(dims[stream]) < 1:
            raise ValueError(f"dimension of stream {stream} must be >= 1, got {dims[stream]}")
        fields.append(pa.field(seq_col, sequence_type(dims[stream]), nullable=False))
        fields.append(pa.field(mask_col, mask_type(), nullable=False))
    return pa.schema(fields)


def encode_metadata(meta: Mapping) -> dict[bytes, bytes]:
    return {METADATA_KEY: json.dumps(meta, sort_keys=True).encode()}


def decode_metadata(schema: pa.Schema, source: str | Path | None = None) -> dict:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise InputError(source, "no 'depsev' metadata: not a depsev shard file")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"'depsev' metadata is not valid JSON ({exc.msg})") from exc


def shard_files(dir_or_files: str | Path | Iterable[str | Path]) -> list[Path]:
    """The shard files named by a directory (its ``part-*.parquet``), one file, or a list of files."""
    if isinstance(dir_or_files, (str, Path)):
        path = Path(dir_or_files)
        if path.is_dir():
            files = sorted(path.glob("part-*.parquet"))
            if not files:
                raise InputError(path, "no part-*.parquet shard files in this directory")
            return files
        files = [path]
    else:
        files = [Path(p) for p in dir_or_files]
        if not files:
            raise InputError(None, "no shard files given")
    for f in files:
        if not f.is_file():
            raise InputError(f, "shard file not found")
    return files


def read_shards(dir_or_files: str | Path | Iterable[str | Path]) -> tuple[pa.Table, dict]:
    """Read shard files into one Arrow table (file order, then row order) and their metadata.

    Every file must carry the same ``depsev`` metadata (one shard set); a mix raises
    :class:`~depsev.errors.InputError`.  The returned table keeps the schema metadata.
    """
    files = shard_files(dir_or_files)
    tables, meta = [], None
    for f in files:
        try:
            table = pq.read_table(f)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f, f"cannot read Parquet shard ({exc})") from exc
        m = decode_metadata(table.schema, f)
        if meta is None:
            meta = m
        elif m != meta:
            raise InputError(f, f"metadata differs from {files[0].name}: files of different shard sets")
        if m.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f, f"schema_version {m.get('schema_version')!r}, this depsev reads "
                                f"{SCHEMA_VERSION}: rebuild the shards")
        tables.append(table)
    try:
        table = pa.concat_tables(tables)
    except pa.ArrowInvalid as exc:
        raise InputError(files[0], f"shard files have different columns ({exc})") from exc
    return table, meta


def _stacked(table: pa.Table, seq_col: str, mask_col: str) -> tuple[np.ndarray, np.ndarray]:
    n = table.num_rows
    seq_type = table.schema.field(seq_col).type
    if not (pa.types.is_list(seq_type) and pa.types.is_fixed_size_list(seq_type.value_type)):
        raise InputError(None, f"column {seq_col!r} is {seq_type}, expected list<fixed_size_list<float>>")
    d = seq_type.value_type.list_size
    seq = table.column(seq_col).combine_chunks()
    mask = table.column(mask_col).combine_chunks()
    lengths = seq.value_lengths().to_numpy(zero_copy_only=False)
    if n and not (lengths == lengths[0]).all():
        raise InputError(None, f"column {seq_col!r} mixes sequence lengths {sorted(set(lengths.tolist()))}")
    if not np.array_equal(mask.value_lengths().to_numpy(zero_copy_only=False), lengths):
        raise InputError(None, f"column {mask_col!r} does not match the lengths of {seq_col!r}")
    steps = int(lengths[0]) if n else 0
    values = seq.flatten().flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return (values.reshape(n, steps, d),
            mask.flatten().to_numpy(zero_copy_only=False).astype(bool).reshape(n, steps))


def rows_to_arrays(table: pa.Table, *, stream: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Shard rows -> ``(seq f32[N, L, d], mask bool[N, L], labels DataFrame)``.

    ``stream`` picks ``video`` or ``audio`` in fusion shards (``video_seq`` / ``audio_seq``); it may
    be left out for single-stream shards.  ``labels`` holds the non-sequence columns in row order
    (``participant_id, split, interviewer, phq_score, band, chunk_index, ...``).
    """
    names = table.column_names
    if stream is None:
        if "seq" not in names:
            raise ValueError("fusion shards hold two streams: pass stream='video' or stream='audio'")
        seq_col, mask_col = "seq", "mask"
    elif stream in ("video", "audio"):
        seq_col, mask_col = f"{stream}_seq", f"{stream}_mask"
        if seq_col not in names:
            modality = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}")).get("modality")
            if modality not in (None, stream):
                raise ValueError(f"these are {modality} shards, they hold no {stream} stream")
            seq_col, mask_col = "seq", "mask"
    else:
        raise ValueError(f"stream must be 'video', 'audio' or None, got {stream!r}")
    for col in (seq_col, mask_col):
        if col not in names:
            raise InputError(None, f"shard table has no column {col!r} (columns: {names})")
    seq, mask = _stacked(table, seq_col, mask_col)
    sequence_cols = {c for cols in STREAM_COLUMNS.values() for pair in cols.values() for c in pair}
    labels = table.select([c for c in names if c not in sequence_cols]).to_pandas()
    return seq, mask, labels


SCHEMA_MARKDOWN = f"""\
### Chunk shards (`results/shards/<modality>/<split>/part-NNNNN.parquet`)

Parquet (zstd), schema version {SCHEMA_VERSION}, one row per chunk, rows ordered by manifest order
of participants, then `chunk_index`. `<modality>` is `video`, `audio` or `fusion`.

| column | type | meaning |
|---|---|---|
| `participant_id` | int64 | participant |
| `split` | string | train / dev / test |
| `interviewer` | string | `woz` or `ai` |
| `phq_score`, `band` | int64 (nullable) | PHQ-8 score 0-24 and severity band 0-4 |
| `chunk_index` | int32 | position of the chunk in the session (gaps = dropped chunks) |
| `start_time`, `end_time` | float64 | chunk span `[start, end)` in seconds on the session clock |
| `valid_share` | float64 | share of the `L` steps that hold a valid frame (`mask.mean()`) |
| `n_steps` | int32 | steps holding a real frame (valid or not); the rest is padding |
| `seq` | list<fixed_size_list<float32>[d]> | `L` steps x `d` normalized features (video, audio) |
| `mask` | list<bool> | `L` entries: True = valid frame; padding / invalid frames: False, rows 0 |
| `video_seq`, `video_mask`, `audio_seq`, `audio_mask` | as `seq`, `mask` | fusion: replace `seq`, `mask` |
| `audio_valid_share`, `audio_n_steps` | float64, int32 | fusion: the audio stream's share / real steps |

Chunking: a session is cut into consecutive chunks of `chunk_frames` frames (video 5000, audio 300
VGGish examples in the paper); inside a chunk every `downsample`-th frame is kept, so
`L = ceil(chunk_frames / downsample)`. The last partial chunk is zero-padded (mask False) when its
frames cover at least `min_coverage` of `chunk_frames`, otherwise dropped and counted in the QC
table; a chunk without any valid step is dropped and counted too. Fusion chunks follow the video
chunks; each one gets the audio examples whose session time falls inside its `[start, end)` span
(paired by timestamp, never by index), each placed in the slot at the same relative position of
the chunk's time axis as the face frame of that instant: `slot = floor(p / L_v * L_a)` with `p` the
example's fractional video step (`fusion_audio_steps = L_a` slots; examples sharing a slot are
averaged and counted; slots without an example -- interviewer turns, silence -- are masked). So audio
and video of the same moment reach the same fusion step. A fusion chunk is dropped only when neither
stream has a valid step. (Schema version 1 packed the examples into the first slots whatever their
time; version 2 did not carry the feature preparation; such shards are refused.)

Key-value metadata `depsev` (JSON): `schema_version`, `modality`, `split`, `streams` (per stream:
columns, `feature_set`, `feature_names`, `dim`, `steps`, `chunk_frames`, `downsample`,
`normalization` file + sha256; fusion audio: `pairing`, `fusion_audio_frames`), `chunk_config` (the
chunking settings), `min_coverage`,
`balance_train` plus `balance` (seed, target, chunks per band before/after; null when not
balanced), `preparation` (how the features were prepared, read from the feature files' metadata:
`segmentation`, `denoise`, `normalize_audio`, `vggish_weights_mode` / `_file` / `_sha256` / `_path`,
`confidence_threshold`, `openface_image` / `_binary`, plus this stage's `min_coverage`;
`segmentation_used` and `sessions` count sessions; see `depsev.shards.preparation`), `dataset_kind`,
`synthetic`.
Read with `depsev.shards.schema.read_shards` and `rows_to_arrays`, or directly with pyarrow, pandas
or DuckDB (`select count(*) from 'results/shards/video/train/*.parquet'`).
"""
