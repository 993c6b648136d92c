"""VGGish stage: log-mel parity with torchvggish, fc2/embedding parity, streaming, weights checks,
the Parquet output and its metadata, empty audio. Real speech fixtures only (16 kHz and 48 kHz)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch
from torchvggish import vggish_input

from depsev.errors import InputError
from depsev.features import vggish as vg
from depsev.features.audio import load_audio

CMU = "cmu_arctic_a0007_16k.wav"
ALSA48 = "alsa_Front_Center_48k.wav"
#: float32 vs the reference's float64 log-mel: observed max |diff| ~6e-5 (FFT rounding, relative
#: ~1e-7 of a frame's energy, largest in the weakest bins); 5e-4 in log units = 0.05 % in mel energy
LOGMEL_ATOL = 5e-4


@pytest.fixture(scope="module")
def model():
    m, meta = vg.load_vggish("random", None, allow_random=True)
    return m


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, model) -> Path:
    path = tmp_path_factory.mktemp("weights") / "vggish-test.pth"
    torch.save(model.state_dict(), path)
    return path


def _segments(path: Path, spans: list[tuple[float, float, float]], meta: dict | None = None) -> Path:
    """Segments table from (session start, clean start, duration) triples (``meta``: its ``depsev``
    metadata, as audio_clean writes it)."""
    df = pd.DataFrame({"start": [s for s, _, _ in spans], "end": [s + d for s, _, d in spans],
                       "clean_start": [c for _, c, _ in spans], "clean_end": [c + d for _, c, d in spans],
                       "source": "transcript"})
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        table = table.replace_schema_metadata({**table.schema.metadata, b"depsev": json.dumps(meta).encode()})
    pq.write_table(table, path)
    return path


def _reference_examples(wav: Path) -> torch.Tensor:
    """torchvggish's own input path (wavfile_to_examples) on a 16 kHz int16 wav."""
    return vggish_input.wavfile_to_examples(str(wav)).detach()


def test_logmel_matches_torchvggish(speech_fixtures):
    wav = speech_fixtures / "pyannote_sample_2speakers_16k.wav"
    ref = _reference_examples(wav)
    y = sf.read(wav, dtype="float32")[0]
    mine = vg.LogMel().examples(torch.from_numpy(y))
    assert mine.shape == ref.shape == (31, 1, 96, 64)
    assert mine.dtype == torch.float32
    diff = (mine - ref).abs().max().item()
    assert diff < LOGMEL_ATOL, diff
    # example count: floor(duration / 0.96), minus one when the last example lacks its last 15 ms
    n = len(y)
    assert vg.LogMel.n_examples(n) == ref.shape[0]
    assert vg.LogMel.n_examples(n) in (math.floor(n / 16000 / 0.96), math.floor(n / 16000 / 0.96) - 1)
    assert vg.LogMel.n_examples(15600) == 1 and vg.LogMel.n_examples(15599) == 0
    assert vg.LogMel.n_examples(2 * 15360 + 239) == 1 and vg.LogMel.n_examples(2 * 15360 + 240) == 2


def test_fc2_and_embedding_equal_reference_activations(speech_fixtures, model):
    wav = speech_fixtures / CMU
    ref_in = _reference_examples(wav)
    captured = {}
    hook = model.embeddings[3].register_forward_hook(lambda m, i, o: captured.__setitem__("fc2", o.clone()))
    try:
        with torch.inference_mode():
            ref_emb = model(ref_in)  # torchvggish's VGG.forward (no postprocessor)
            fc2_same_input, emb_same_input = vg._forward(model, ref_in)
    finally:
        hook.remove()
    # identical input: identical activations (same ops on the same tensors)
    assert torch.allclose(fc2_same_input, captured["fc2"], rtol=0, atol=1e-7)
    assert torch.allclose(emb_same_input, ref_emb, rtol=0, atol=1e-7)
    # the whole depsev path (own log-mel, streamed) against the reference path
    t, fc2, emb = vg.embed_wav(wav, model)
    ref_fc2 = captured["fc2"].numpy()
    assert fc2.shape == (ref_in.shape[0], 4096) and emb.shape == (ref_in.shape[0], 128)
    assert fc2.dtype == np.float32 and emb.dtype == np.float32
    scale = np.abs(ref_fc2).max()
    assert scale > 0
    assert np.abs(fc2 - ref_fc2).max() < 1e-3 * scale
    assert np.abs(emb - ref_emb.numpy()).max() < 1e-3 * np.abs(ref_emb.numpy()).max()
    np.testing.assert_allclose(t, np.arange(len(t)) * 0.96)


def test_streaming_blocks_do_not_change_features(speech_fixtures, model):
    wav = speech_fixtures / "pyannote_sample_2speakers_16k.wav"
    t1, fc2_1, emb_1 = vg.embed_wav(wav, model, block_seconds=2.0, batch_size=4)
    t2, fc2_2, emb_2 = vg.embed_wav(wav, model, block_seconds=600.0, batch_size=32)
    assert len(t1) == len(t2) == 31
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_allclose(fc2_1, fc2_2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(emb_1, emb_2, rtol=1e-4, atol=1e-6)


def test_progress_lines_count_the_examples(speech_fixtures, model, caplog, monkeypatch):
    """Progress lines through logging (no carriage return; here one per batch: ``every`` 0) and a final
    100% line; the header's promise (the total) is the number of examples embedded, at 16 and 48 kHz.
    With the default rate (one line per 10 s at most) these short files write none."""
    import depsev.progress

    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        vg.embed_wav(speech_fixtures / ALSA48, model, batch_size=4)
    assert not [r for r in caplog.records if r.name == "depsev.progress"]
    monkeypatch.setattr(depsev.progress, "DEFAULT_EVERY", 0.0)
    for name in ("pyannote_sample_2speakers_16k.wav", ALSA48):
        wav = speech_fixtures / name
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="depsev.progress"):
            t, _, _ = vg.embed_wav(wav, model, batch_size=4)
        lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
        assert lines[0].startswith(f"vggish {name} {min(4, len(t))}/{len(t)} examples (")
        assert lines[-1].startswith(f"vggish {name} {len(t)}/{len(t)} examples (100%), ")
        assert len(lines) == -(-len(t) // 4) + 1 and not any("\r" in line for line in lines)


def test_session_16k_writes_contract_parquet(speech_fixtures, tmp_path, weights_file):
    wav = speech_fixtures / CMU
    n_samples = sf.info(str(wav)).frames
    d = n_samples / 16000
    # cleaned wav = two participant segments of the session: [10, 12) and [20, 20 + d - 2)
    clean = {"stage": "audio_clean", "normalize_peak_dbfs": -1.0,
             "qc": {"segmentation_requested": "auto", "segmentation": "transcript", "denoise": True}}
    seg = _segments(tmp_path / "seg.parquet", [(10.0, 0.0, 2.0), (20.0, 2.0, d - 2.0)], meta=clean)
    out = tmp_path / "vggish" / "321.parquet"
    res = vg.vggish_session(wav, seg, out, weights=weights_file, sha256=None, allow_random=False,
                            batch_size=32)
    n = vg.LogMel.n_examples(n_samples)
    assert n == math.floor(d / 0.96) == 4
    assert res["n_examples"] == n and res["empty"] is False and res["participant_id"] == 321
    assert res["mode"] == "pretrained" and res["weights"] == weights_file.name

    table = pq.read_table(out)
    assert table.schema.field("fc2").type.list_size == 4096
    assert str(table.schema.field("fc2").type.value_type) == "float"
    assert table.schema.field("embedding").type.list_size == 128
    assert table.schema.field("time").type == "double" and table.schema.field("clean_time").type == "double"
    assert pq.ParquetFile(out).metadata.row_group(0).column(2).compression == "ZSTD"
    meta = json.loads(pq.read_schema(out).metadata[b"depsev"])
    assert meta["weights_mode"] == "pretrained" and meta["weights_file"] == weights_file.name
    assert meta["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert meta["torch_version"] == torch.__version__
    assert meta["example_seconds"] == 0.96 and meta["n_examples"] == n
    # carried forward to the shards: the audio_clean settings of the segments table, the weights' path
    assert meta["audio_clean"] == {"segmentation": "auto", "segmentation_used": "transcript", "denoise": True,
                                   "normalize_audio": True}
    assert meta["weights_path"] == str(weights_file)

    df = pd.read_parquet(out)
    clean = df["clean_time"].to_numpy()
    np.testing.assert_allclose(clean, np.arange(n) * 0.96)
    expected_time = np.where(clean < 2.0, 10.0 + clean, 18.0 + clean)
    np.testing.assert_allclose(df["time"].to_numpy(), expected_time)
    fc2 = np.stack(df["fc2"].to_numpy())
    assert fc2.shape == (n, 4096) and np.isfinite(fc2).all() and (fc2 >= 0).all()
    assert np.isfinite(np.stack(df["embedding"].to_numpy())).all()


def test_session_48k_fixture(speech_fixtures, tmp_path):
    src = speech_fixtures / ALSA48
    assert sf.info(str(src)).samplerate == 48000
    y16 = load_audio(src)  # the audio stage's reader: mono 16 kHz float32
    wav = tmp_path / "clean.wav"
    sf.write(wav, y16, 16000, subtype="FLOAT")
    d = len(y16) / 16000
    seg = _segments(tmp_path / "seg.parquet", [(3.5, 0.0, d)])
    out = tmp_path / "7.parquet"
    res = vg.vggish_session(wav, seg, out, weights="random", sha256=None, allow_random=True, batch_size=8)
    assert res["n_examples"] == math.floor(d / 0.96) == 1
    df = pd.read_parquet(out)
    assert df["time"].tolist() == [3.5]
    meta = json.loads(pq.read_schema(out).metadata[b"depsev"])
    assert meta["weights_mode"] == "random" and "RANDOM" in meta["warning"]
    # embedding the 48 kHz file directly (streaming soxr resampling) gives the same features
    m, _ = vg.load_vggish("random", None, allow_random=True)
    _, fc2_direct, _ = vg.embed_wav(src, m)
    fc2_file = np.stack(df["fc2"].to_numpy())
    cos = (fc2_direct * fc2_file).sum() / np.linalg.norm(fc2_direct) / np.linalg.norm(fc2_file)
    assert cos > 0.999


def test_one_loaded_network_for_many_sessions(speech_fixtures, tmp_path, weights_file, model):
    """``loaded=`` (many sessions, one load): the same file as loading per session, one bf16 copy for
    all sessions; a network that is not the one ``weights`` names, or random weights where they are not
    allowed, is refused."""
    y16 = load_audio(speech_fixtures / ALSA48)
    wav = tmp_path / "clean.wav"
    sf.write(wav, y16, 16000, subtype="FLOAT")
    seg = _segments(tmp_path / "seg.parquet", [(0.0, 0.0, len(y16) / 16000)])
    loaded = vg.load_vggish("random", None, allow_random=True)
    for precision in ("fp32", "bf16"):
        a, b = tmp_path / f"own-{precision}.parquet", tmp_path / f"loaded-{precision}.parquet"
        vg.vggish_session(wav, seg, a, weights="random", allow_random=True, precision=precision)
        for _ in range(2):
            vg.vggish_session(wav, seg, b, weights="random", allow_random=True, precision=precision,
                              loaded=loaded)
        assert pq.read_table(a).equals(pq.read_table(b))
        assert pq.read_schema(a).metadata == pq.read_schema(b).metadata
    assert list(vg._BF16_CACHE.keys()).count(loaded[0]) == 1  # made once, reused by the second session
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    pretrained = vg.load_vggish(weights_file, digest, allow_random=False)
    vg.vggish_session(wav, seg, tmp_path / "p.parquet", weights=weights_file, sha256=digest[:8],
                      loaded=pretrained)
    with pytest.raises(ValueError, match="not the one asked for"):
        vg.vggish_session(wav, seg, tmp_path / "x.parquet", weights=weights_file, loaded=loaded)
    with pytest.raises(ValueError, match="not the one asked for"):
        vg.vggish_session(wav, seg, tmp_path / "x.parquet", weights="random", allow_random=True,
                          loaded=pretrained)
    with pytest.raises(ValueError, match="not the one asked for"):
        vg.vggish_session(wav, seg, tmp_path / "x.parquet", weights=weights_file, sha256="0" * 8,
                          loaded=pretrained)
    with pytest.raises(InputError, match="only allowed for the synthetic demo"):
        vg.vggish_session(wav, seg, tmp_path / "x.parquet", weights="random", loaded=loaded)
    assert not (tmp_path / "x.parquet").exists()


def test_empty_and_too_short_audio_write_empty_table(tmp_path):
    empty_wav = tmp_path / "empty.wav"
    sf.write(empty_wav, np.zeros(0, np.float32), 16000)
    short_wav = tmp_path / "short.wav"
    sf.write(short_wav, np.zeros(8000, np.float32), 16000)  # 0.5 s < one example
    for wav, seg_rows in ((empty_wav, []), (short_wav, [(1.0, 0.0, 0.5)])):
        seg = _segments(tmp_path / f"{wav.stem}_seg.parquet", seg_rows)
        out = tmp_path / f"{wav.stem}.parquet"
        res = vg.vggish_session(wav, seg, out, weights="random", sha256=None, allow_random=True,
                                batch_size=32)
        assert res["empty"] is True and res["n_examples"] == 0
        table = pq.read_table(out)
        assert table.num_rows == 0
        assert table.schema.remove_metadata() == vg.vggish_schema()
        assert json.loads(table.schema.metadata[b"depsev"])["empty"] is True


def test_weights_checks(tmp_path, weights_file, model):
    with pytest.raises(InputError, match="only allowed for the synthetic demo"):
        vg.load_vggish("random", None, allow_random=False)
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    m, meta = vg.load_vggish(weights_file, digest, allow_random=False)
    assert meta == {"weights": weights_file.name, "sha256": digest, "mode": "pretrained"}
    for a, b in zip(m.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert vg.load_vggish(weights_file, digest[:8].upper(), allow_random=False)[1]["sha256"] == digest
    with pytest.raises(InputError, match="sha256 mismatch") as err:
        vg.load_vggish(weights_file, "0" * 64, allow_random=False)
    assert str(weights_file) in str(err.value)
    with pytest.raises(InputError, match="not found"):
        vg.load_vggish(tmp_path / "absent.pth", None, allow_random=False)
    foreign = tmp_path / "foreign.pth"
    torch.save({"conv.weight": torch.zeros(3)}, foreign)
    with pytest.raises(InputError, match="not a torchvggish VGGish state dict"):
        vg.load_vggish(foreign, None, allow_random=False)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="cannot read"):
        vg.load_vggish(garbage, None, allow_random=False)
    # random init is seeded: the same fingerprint every time
    assert vg.load_vggish("random", None, allow_random=True)[1]["sha256"] == \
        vg.load_vggish("random", None, allow_random=True)[1]["sha256"]


def test_download_checksum_and_network_error(tmp_path):
    assert vg.expected_sha256_prefix(vg.VGGISH_WEIGHTS_NAME) == "10086976"
    # an already-present file that matches its name's prefix is accepted without any download
    payload = b"pretend weights"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    name = f"vggish-{prefix}.pth"
    (tmp_path / name).write_bytes(payload)
    url = f"http://127.0.0.1:9/{name}"  # discard port on localhost: refused, never the internet
    assert vg.download_vggish_weights(tmp_path, url=url) == tmp_path / name
    # a present file with the wrong content is refused, naming it
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / name).write_bytes(b"corrupt")
    with pytest.raises(InputError, match="does not start with") as err:
        vg.download_vggish_weights(bad_dir, url=url)
    assert name in str(err.value)
    # no file and no network: a clear error, no partial file left behind
    empty_dir = tmp_path / "empty"
    with pytest.raises(InputError, match="download failed"):
        vg.download_vggish_weights(empty_dir, url=url, timeout=5)
    assert list(empty_dir.iterdir()) == []


def test_bad_inputs(tmp_path, speech_fixtures):
    seg = _segments(tmp_path / "seg.parquet", [(0.0, 0.0, 1.0)])
    with pytest.raises(InputError, match="audio file not found"):
        vg.vggish_session(tmp_path / "none.wav", seg, tmp_path / "o.parquet", weights="random",
                          allow_random=True)
    with pytest.raises(InputError, match="segments table not found"):
        vg.vggish_session(speech_fixtures / CMU, tmp_path / "none.parquet", tmp_path / "o.parquet",
                          weights="random", allow_random=True)
    # a segments table shorter than the wav cannot place the later examples on the session clock
    with pytest.raises(InputError, match="seg.parquet: cannot map"):
        vg.vggish_session(speech_fixtures / CMU, seg, tmp_path / "o.parquet", weights="random",
                          allow_random=True)
    assert not (tmp_path / "o.parquet").exists()


def test_random_weights_made_once_per_process_and_copied(monkeypatch):
    """The seeded random init is made once per process; every call gets its own copy (a caller that
    changes its model in place changes no other), equal to a fresh seeded init in a new process."""
    import subprocess
    import sys

    monkeypatch.setattr(vg, "_RANDOM_STATE", {})
    first, meta = vg.load_vggish("random", None, allow_random=True)
    reference = {k: v.clone() for k, v in first.state_dict().items()}
    with torch.no_grad():
        for p in first.parameters():
            p.zero_()
    second, meta2 = vg.load_vggish("random", None, allow_random=True)
    assert meta2 == meta and vg._sha256_params(second) == meta["sha256"]
    for name, value in second.state_dict().items():
        assert torch.equal(value, reference[name]), name
    fresh = subprocess.run([sys.executable, "-c", "from depsev.features.vggish import load_vggish; "
                            "print(load_vggish('random', None, allow_random=True)[1]['sha256'])"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.split()[-1] == meta["sha256"]


def test_precision_is_recorded_and_sessions_of_two_precisions_are_not_mixed(speech_fixtures, tmp_path):
    """``audio.vggish.precision`` reaches the feature file, the shard preparation (where sessions of
    another precision are refused) and so the checkpoint that ``depsev predict`` follows."""
    from depsev.errors import InputError
    from depsev.features.io import read_feature_meta
    from depsev.shards.preparation import PreparationCollector, session_preparation

    y16 = load_audio(speech_fixtures / ALSA48)
    wav = tmp_path / "clean.wav"
    sf.write(wav, y16, 16000, subtype="FLOAT")
    seg = _segments(tmp_path / "seg.parquet", [(0.0, 0.0, len(y16) / 16000)])
    metas = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.parquet"
        vg.vggish_session(wav, seg, out, weights="random", allow_random=True, precision=precision)
        metas[precision] = read_feature_meta(out)
        assert metas[precision]["precision"] == precision
        assert session_preparation("audio", metas[precision])[0]["vggish_precision"] == precision
    fc2 = {p: np.stack(pd.read_parquet(tmp_path / f"{p}.parquet")["fc2"].to_numpy()) for p in metas}
    cos = (fc2["fp32"] * fc2["bf16"]).sum() / np.linalg.norm(fc2["fp32"]) / np.linalg.norm(fc2["bf16"])
    assert 0.99 < cos < 1.0  # close, not the same numbers
    collector = PreparationCollector()
    collector.add(1, "audio", metas["fp32"], tmp_path / "fp32.parquet")
    with pytest.raises(InputError, match="vggish_precision is 'bf16' here but 'fp32'"):
        collector.add(2, "audio", metas["bf16"], tmp_path / "bf16.parquet")
    with pytest.raises(ValueError, match="audio.vggish.precision must be one of fp32, bf16"):
        from depsev.settings import VGGishSettings

        VGGishSettings(precision="fp16")
