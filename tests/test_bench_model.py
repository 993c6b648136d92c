"""`depsev bench model`: what the model-alone latency benchmark feeds the model and reports.

Timings themselves are not asserted (speed goals live in the benchmark, not in tests)."""

from __future__ import annotations

import pytest

from depsev.models import ModelConfig
from depsev.predict.bench import PAPER_MS_PER_BATCH, bench_model, model_input_steps


def test_model_input_steps_follow_the_chunk_settings():
    # the paper's chunk sizes as config.yaml ships them: 300 VGGish frames, 5000 face frames kept 1 in 5
    assert model_input_steps() == {"audio": 300, "video": 1000}
    assert model_input_steps({"video_frames": 900, "audio_frames": 32, "video_downsample": 5}) == \
        {"audio": 32, "video": 180}
    assert model_input_steps({"video_frames": 5000, "video_downsample": 3}) == {"audio": 300, "video": 1667}


def test_bench_model_reports_every_batch_size_and_the_encoder_steps():
    res = bench_model(batch_sizes=(1, 2), threads=1, repeats=2, onnx=False,
                      steps={"audio": 40, "video": 100}, model_cfg={"encoder_steps": 25})
    assert res["steps"] == {"audio": 40, "video": 100}
    assert res["encoder_lstm_steps"] == {"audio": 25, "video": 25}
    assert res["model"] == ModelConfig(encoder_steps=25).to_dict()
    times = res["ms_per_batch"]["torch_fp32"]
    assert sorted(times) == [1, 2]
    for b, t in times.items():
        assert 0 < t["min"] <= t["median"] <= t["p90"]
        assert t["per_chunk"] == pytest.approx(t["median"] / b)
        assert res["meets_paper"]["torch_fp32"][b] == (t["median"] < PAPER_MS_PER_BATCH)
    assert res["peak_rss_mib"] >= res["rss_before_model_mib"] > 0
    # without pooling the encoders run over every frame
    res0 = bench_model(batch_sizes=(1,), threads=1, repeats=1, onnx=False,
                       steps={"audio": 40, "video": 100}, model_cfg={"encoder_steps": 0})
    assert res0["encoder_lstm_steps"] == {"audio": 40, "video": 100}


def test_bench_model_command_line_rejects_a_missing_config(tmp_path, capsys):
    from depsev.cli import main

    assert main(["bench", "model", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "not found" in err
    assert "Traceback" not in err
