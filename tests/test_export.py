"""``depsev export``: ONNX (fp32) and dynamic int8 files of trained models, parity with PyTorch on
the shared tiny run's shards (conftest.demo_run), int8 size and metric change
(depsev.predict.export)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from depsev.errors import InputError


@pytest.fixture(scope="module")
def fusion_export(demo_run, tmp_path_factory) -> tuple[Path, dict]:
    from depsev.predict.export import export_model

    out = tmp_path_factory.mktemp("onnx-fusion")
    return out, export_model(demo_run["fusion"], out, batch_size=4)


def test_fusion_onnx_matches_pytorch_on_demo_shards(demo_run, fusion_export):
    from depsev.predict.export import compare_on_shards

    out, info = fusion_export
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()
    assert json.loads((out / "export.json").read_text())["files"] == info["files"]
    # the tiny run's chunks: 20 VGGish frames; 600 face frames, every 5th (35 AU features: face.features au)
    assert info["inputs"]["xa"] == [4, 20, 4096] and info["inputs"]["xv"] == [4, 120, 35]
    assert info["outputs"] == ["mu", "var", "probs", "gate", "alpha"]
    assert info["parity_random_inputs"]["fp32"]["max_abs_diff"] <= 1e-4
    report = compare_on_shards(demo_run["fusion"], out, demo_run["shards"], "dev")
    assert report["chunks"] > 4  # more than one (padded) batch
    assert max(report["fp32"]["max_abs_diff"].values()) <= 1e-4
    assert report["fp32"]["participant_mae"] == pytest.approx(report["torch"]["participant_mae"], abs=1e-4)
    # int8: smaller file, close outputs; its metric change is reported
    assert report["int8"]["bytes"] < 0.8 * report["fp32"]["bytes"]
    assert report["int8"]["max_abs_diff"]["mu"] < 0.5
    assert abs(report["int8_mae_change"]) < 0.5
    print(json.dumps({k: report[k] for k in ("torch", "fp32", "int8", "int8_mae_change")}))


def test_onnx_missing_stream_equals_pytorch_without_it(demo_run, fusion_export):
    from depsev.checkpoint import load_checkpoint
    from depsev.data.dataset import ChunkDataset
    from depsev.predict.export import OnnxPredictor

    model, _ = load_checkpoint(demo_run["fusion"])
    ds = ChunkDataset.from_shards(demo_run["shards"], "fusion", "dev", purpose="evaluate")
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("xv", "mv", "z")}
    with torch.no_grad():
        ref = model(batch)
    got = OnnxPredictor(fusion_export[0] / "model.onnx")({k: v.numpy() for k, v in batch.items()})
    np.testing.assert_allclose(got["mu"], ref.mu.numpy(), atol=1e-4)
    np.testing.assert_allclose(got["alpha"][:, 0], 0.0)
    with pytest.raises(InputError, match="z values"):
        OnnxPredictor(fusion_export[0] / "model.onnx")({**{k: v.numpy() for k, v in batch.items()},
                                                         "z": np.full(len(ds), 2)})


def test_single_stream_model_export(demo_run, tmp_path):
    from depsev.predict.export import compare_on_shards, export_model

    info = export_model(demo_run["audio"], tmp_path, batch_size=2)
    assert info["outputs"] == ["mu", "var", "probs"] and list(info["inputs"]) == ["xa", "ma", "z"]
    report = compare_on_shards(demo_run["audio"], tmp_path, demo_run["shards"], "dev")
    assert max(report["fp32"]["max_abs_diff"].values()) <= 1e-4
    assert report["int8"]["bytes"] < report["fp32"]["bytes"]


def test_export_refuses_what_it_cannot_export(tmp_path):
    from depsev.predict.export import export_model

    with pytest.raises(InputError, match="config.json"):
        export_model(tmp_path / "missing", tmp_path / "out")


def test_export_prints_its_result_without_the_known_harmless_warnings(demo_run, tmp_path):
    """`depsev export` in a fresh process (the exporter's messages come once per process): stdout is the
    JSON result and stderr holds none of the messages depsev.quiet drops."""
    import subprocess
    import sys

    from depsev.quiet import KNOWN_LOG_RECORDS, KNOWN_WARNINGS

    res = subprocess.run([sys.executable, "-m", "depsev", "export", "--model", str(demo_run["audio"]),
                          "--out", str(tmp_path / "onnx"), "--batch-size", "2", "--no-int8"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["outputs"] == ["mu", "var", "probs"]
    for _, pattern, _ in KNOWN_WARNINGS + KNOWN_LOG_RECORDS:
        assert not re.search(pattern, res.stderr), (pattern, res.stderr[-2000:])


def test_only_the_known_messages_are_silenced(caplog):
    import logging
    import warnings

    from depsev.quiet import known_warnings_silenced

    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with known_warnings_silenced():
            warnings.warn("The tensor attributes a._flat_weights[0] were assigned during export", UserWarning,
                          stacklevel=1)
            warnings.warn("something else went wrong", UserWarning, stacklevel=1)
            registration.warning("torchvision is not installed. Skipping %s", "torchvision::nms")
            registration.warning("a real problem")
            logging.warning("Please consider to run pre-processing before quantization.")
        registration.warning("torchvision is not installed. Skipping %s", "after the block")
    assert [str(w.message) for w in seen] == ["something else went wrong"]
    assert [r.getMessage() for r in caplog.records] == [
        "a real problem", "torchvision is not installed. Skipping after the block"]
