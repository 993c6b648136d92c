"""`depsev bench vggish`: examples/s against torchvggish's path (and under inference_mode), the share of
this CPU's measured fp32 peak, and the speed goal judged with the bf16 cosine (a short run here; the
measurement itself is the benchmark's, not a test's)."""

from __future__ import annotations

import pytest

from depsev import bench
from depsev.features import vggish as vg

#: VGGish up to fc2, multiply-adds by hand: six 3x3 convolutions at 96x64, 48x32, 24x16 (2), 12x8 (2)
#: feature maps, then FC1 (12288 -> 4096) and FC2 (4096 -> 4096)
MACS = (96 * 64 * 64 * 1 * 9 + 48 * 32 * 128 * 64 * 9 + 24 * 16 * 256 * 128 * 9 + 24 * 16 * 256 * 256 * 9
        + 12 * 8 * 512 * 256 * 9 + 12 * 8 * 512 * 512 * 9 + 12288 * 4096 + 4096 * 4096)


def test_flops_per_example_count_the_network():
    model, _ = vg.load_vggish("random", None, allow_random=True)
    assert bench.vggish_flops_per_example(model) == 2 * MACS == pytest.approx(1.727e9, rel=1e-3)


def test_bench_reports_rates_peak_share_and_the_goal(capsys):
    r = bench.bench_vggish(seconds=3.0, repeats=1, threads=1, peak_gemm_size=1024)
    assert r["n_examples"] == 3 and r["threads"] == 1
    peak = r["fp32_peak"]
    assert set(peak["gflops"]) == {"sgemm_1024", "vggish_conv4b"}
    assert peak["peak_gflops"] == max(peak["gflops"].values()) > 0
    for name, rate in r["examples_per_s"].items():
        assert r["share_of_fp32_peak"][name] == pytest.approx(
            rate * r["gflop_per_example"] / peak["peak_gflops"])
    assert r["ratio_bf16_vs_reference_inference_mode"] == pytest.approx(
        r["examples_per_s"]["depsev_bf16"] / r["examples_per_s"]["reference_inference_mode"])
    cos = r["bf16_cosine_fc2"]
    assert r["bf16_counts"] == (cos["min"] >= bench.COSINE_MIN == 0.999)
    assert r["goal_met"]["fp32"] == (r["ratio_fp32_vs_reference_inference_mode"] >= bench.SPEEDUP_GOAL)
    assert r["goal_met"]["bf16"] == (r["ratio_bf16_vs_reference_inference_mode"] >= bench.SPEEDUP_GOAL
                                     and r["bf16_counts"])
    out = capsys.readouterr().out
    assert "of the fp32 peak" in out and "goal >= 1.6x vs the reference under inference_mode" in out
