"""Shard schema, reader and array conversion (depsev.shards.schema)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from depsev.errors import InputError
from depsev.shards.schema import (
    LABEL_FIELDS,
    SCHEMA_MARKDOWN,
    SCHEMA_VERSION,
    encode_metadata,
    read_shards,
    rows_to_arrays,
    sequence_type,
    shard_schema,
)

L, D = 3, 2


def _table(modality: str, n: int, seed: int = 0, meta: dict | None = None) -> tuple[pa.Table, dict]:
    """A shard table of ``n`` rows with random sequences, built with plain pyarrow."""
    rng = np.random.default_rng(seed)
    dims = {"video": D, "audio": D + 1}
    schema = shard_schema(modality, dims if modality == "fusion" else dims[modality])
    arrays = {}
    cols: dict[str, list] = {
        "participant_id": list(range(300, 300 + n)), "split": ["dev"] * n, "interviewer": ["woz"] * n,
        "phq_score": [None] + [7] * (n - 1), "band": [None] + [1] * (n - 1), "chunk_index": [0] * n,
        "start_time": [0.5] * n, "end_time": [1.5] * n, "valid_share": [1.0] * n, "n_steps": [L] * n,
        "audio_valid_share": [0.5] * n, "audio_n_steps": [1] * n}
    for f in schema:
        if f.name in cols:
            continue
        if f.name.endswith("seq"):
            d = f.type.value_type.list_size
            arrays[f.name] = rng.standard_normal((n, L, d)).astype(np.float32)
            cols[f.name] = [a.tolist() for a in arrays[f.name]]
        else:
            arrays[f.name] = rng.random((n, L)) > 0.3
            cols[f.name] = [m.tolist() for m in arrays[f.name]]
    table = pa.Table.from_pydict({f.name: cols[f.name] for f in schema}, schema=schema)
    meta = meta or {"schema_version": SCHEMA_VERSION, "modality": modality, "split": "dev"}
    return table.replace_schema_metadata(encode_metadata(meta)), arrays


@pytest.mark.parametrize("modality", ["video", "audio"])
def test_single_stream_schema(modality):
    schema = shard_schema(modality, 49)
    assert schema.names == [f.name for f in LABEL_FIELDS] + ["seq", "mask"]
    assert schema.field("seq").type == sequence_type(49)
    assert pa.types.is_fixed_size_list(schema.field("seq").type.value_type)
    assert schema.field("mask").type == pa.list_(pa.bool_())


def test_fusion_schema_needs_both_dims():
    schema = shard_schema("fusion", {"video": 49, "audio": 4096})
    for col in ("video_seq", "video_mask", "audio_seq", "audio_mask", "audio_valid_share", "audio_n_steps"):
        assert col in schema.names
    assert "seq" not in schema.names
    assert schema.field("audio_seq").type.value_type.list_size == 4096
    with pytest.raises(ValueError, match="both streams"):
        shard_schema("fusion", 49)
    with pytest.raises(ValueError, match="audio"):
        shard_schema("fusion", {"video": 49})
    with pytest.raises(ValueError, match="modality"):
        shard_schema("text", 3)


def test_round_trip_exact_pyarrow_pandas_duckdb(tmp_path):
    table, arrays = _table("video", 4)
    out = tmp_path / "video" / "dev"
    out.mkdir(parents=True)
    pq.write_table(table.slice(0, 3), out / "part-00000.parquet", compression="zstd")
    pq.write_table(table.slice(3), out / "part-00001.parquet", compression="zstd")
    back, meta = read_shards(out)
    assert meta == {"schema_version": SCHEMA_VERSION, "modality": "video", "split": "dev"}
    seq, mask, labels = rows_to_arrays(back)
    assert seq.dtype == np.float32 and seq.shape == (4, L, D)
    np.testing.assert_array_equal(seq, arrays["seq"])
    np.testing.assert_array_equal(mask, arrays["mask"])
    assert labels.columns.tolist() == [f.name for f in LABEL_FIELDS]
    assert labels["phq_score"].isna().tolist() == [True, False, False, False]
    df = pd.read_parquet(out)
    np.testing.assert_array_equal(np.stack([np.stack(s) for s in df["seq"]]), arrays["seq"])
    got = duckdb.sql(f"select participant_id, seq[1][2] from '{out}/*.parquet' order by participant_id")
    rows = got.fetchall()
    assert [r[0] for r in rows] == [300, 301, 302, 303]
    assert [r[1] for r in rows] == arrays["seq"][:, 0, 1].tolist()  # float32 values, exact


def test_fusion_rows_to_arrays_streams(tmp_path):
    table, arrays = _table("fusion", 2)
    v_seq, v_mask, labels = rows_to_arrays(table, stream="video")
    a_seq, a_mask, _ = rows_to_arrays(table, stream="audio")
    np.testing.assert_array_equal(v_seq, arrays["video_seq"])
    np.testing.assert_array_equal(a_mask, arrays["audio_mask"])
    assert a_seq.shape == (2, L, D + 1)
    assert "audio_n_steps" in labels.columns and "video_seq" not in labels.columns
    with pytest.raises(ValueError, match="stream="):
        rows_to_arrays(table)
    with pytest.raises(ValueError, match="stream must be"):
        rows_to_arrays(table, stream="text")
    video, _ = _table("video", 1)
    with pytest.raises(ValueError, match="no audio stream"):
        rows_to_arrays(video, stream="audio")


def test_read_shards_rejects_mixed_or_foreign_files(tmp_path):
    with pytest.raises(InputError, match="no part-"):
        read_shards(tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_shards([tmp_path / "part-00000.parquet"])
    a, _ = _table("video", 1)
    b, _ = _table("video", 1, meta={"schema_version": SCHEMA_VERSION, "modality": "video", "split": "test"})
    pq.write_table(a, tmp_path / "part-00000.parquet")
    pq.write_table(b, tmp_path / "part-00001.parquet")
    with pytest.raises(InputError, match="different shard sets"):
        read_shards(tmp_path)
    table, meta = read_shards([tmp_path / "part-00001.parquet"])
    assert meta["split"] == "test" and table.num_rows == 1
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1]}), plain)
    with pytest.raises(InputError, match="not a depsev shard"):
        read_shards(plain)
    old = tmp_path / "old" / "part-00000.parquet"
    old.parent.mkdir()
    c, _ = _table("video", 1, meta={"schema_version": 0, "modality": "video", "split": "dev"})
    pq.write_table(c, old)
    with pytest.raises(InputError, match="schema_version"):
        read_shards(old.parent)


def test_rows_to_arrays_rejects_ragged_sequences():
    seq = pa.array([[[1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]], type=sequence_type(2))
    table = pa.table({"seq": seq, "mask": pa.array([[True], [True, False]], pa.list_(pa.bool_()))})
    with pytest.raises(InputError, match="mixes sequence lengths"):
        rows_to_arrays(table)
    even = pa.array([[[1.0, 2.0]], [[3.0, 4.0]]], type=sequence_type(2))
    bad_mask = pa.table({"seq": even, "mask": pa.array([[True], [True, False]], pa.list_(pa.bool_()))})
    with pytest.raises(InputError, match="does not match"):
        rows_to_arrays(bad_mask)


def test_schema_markdown_names_every_column():
    names = set(shard_schema("fusion", {"video": 1, "audio": 1}).names) | {"seq", "mask"}
    for name in names:
        assert f"`{name}`" in SCHEMA_MARKDOWN, name
    assert "list<fixed_size_list<float32>[d]>" in SCHEMA_MARKDOWN
