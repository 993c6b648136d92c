"""Speed and memory benchmarks (not tests): ``depsev bench vggish``.

:func:`bench_vggish` times, in one process on the same audio, (a) the plain torchvggish path as its
README uses it (``vggish_input.waveform_to_examples`` then ``model.forward`` with default settings,
autograd on) and (b) depsev's :func:`depsev.features.vggish.embed_wav`, in fp32 and bf16, and measures
the fc2 cosine similarity of bf16 to fp32 on real speech (bf16 counts only if the minimum is >= 0.99).
:func:`bench_vggish_memory` measures the peak RSS of embedding a long file in a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from depsev.features import vggish as vg

#: bf16 fc2 must keep at least this cosine similarity to fp32 (every example) to count
COSINE_MIN = 0.999
#: the speed goal: depsev's stage against torchvggish's path under torch.inference_mode, same run
SPEEDUP_GOAL = 1.6


def vggish_flops_per_example(model: torch.nn.Module) -> float:
    """Floating-point operations (2 per multiply-add) of one VGGish example up to fc2, from the
    network's own layers (3x3 convolutions at their feature-map sizes, then FC1 and FC2)."""
    macs, h, w = 0, 96, 64
    for layer in model.features:
        if isinstance(layer, torch.nn.Conv2d):
            kh, kw = layer.kernel_size
            macs += h * w * layer.out_channels * layer.in_channels * kh * kw
        elif isinstance(layer, torch.nn.MaxPool2d):
            h, w = h // 2, w // 2
    for layer in list(model.embeddings)[:4]:
        if isinstance(layer, torch.nn.Linear):
            macs += layer.in_features * layer.out_features
    return 2.0 * macs


def measured_fp32_peak(threads: int, repeats: int = 5, gemm_size: int = 4096) -> dict:
    """This CPU's fp32 throughput on ``threads`` torch threads, measured (GFLOP/s, best of
    ``repeats``): a ``gemm_size``^3 matrix product (4096: ~1.4 s a product on one core), and VGGish's
    largest convolution (512 -> 512 channels, 3x3, 12x8 maps, 64 examples, channels-last) -- the peak
    reported is the larger of the two."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        n = int(gemm_size)
        a, b = torch.randn(n, n), torch.randn(n, n)
        x = torch.randn(64, 512, 12, 8).contiguous(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(512, 512, 3, padding=1).eval().to(memory_format=torch.channels_last)
        cases = {f"sgemm_{n}": (lambda: a @ b, 2.0 * n ** 3),
                 "vggish_conv4b": (lambda: conv(x), 2.0 * 64 * 12 * 8 * 512 * 512 * 9)}
        out = {}
        with torch.inference_mode():
            for name, (fn, flops) in cases.items():
                fn()
                best = min(_seconds(fn) for _ in range(repeats))
                out[name] = flops / best / 1e9
    finally:
        torch.set_num_threads(before)
    return {"gflops": out, "peak_gflops": max(out.values()), "threads": threads}


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def synthetic_speech(seconds: float, sr: int = vg.SR, seed: int = 0) -> np.ndarray:
    """Deterministic speech-like float32 signal: voiced harmonic 'syllables' (gliding f0 90-220 Hz,
    three moving formant-like resonances, ~4 syllables/s) separated by pauses, over low noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.3 * t) + 20 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formants = [(500 + 200 * np.sin(2 * np.pi * 0.7 * t), 1.0),
                (1500 + 400 * np.sin(2 * np.pi * 0.5 * t), 0.5),
                (2500 + 300 * np.sin(2 * np.pi * 0.9 * t), 0.25)]
    y = np.zeros(n)
    for h in range(1, 30):
        fh = h * f0
        gain = sum(a * np.exp(-0.5 * ((fh - fc) / 120.0) ** 2) for fc, a in formants) / h ** 0.5
        y += gain * np.sin(h * phase)
    syllable = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 0.5
    pauses = (np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 2 * np.pi)) > -0.6).astype(float)
    y = y * syllable * pauses + 0.003 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def _write_synthetic_wav(path: Path, seconds: float, period_s: float = 60.0) -> None:
    """Write ``seconds`` of synthetic speech as a 16 kHz PCM_16 wav: a ``period_s`` signal repeated
    (cheap and bounded in memory for hour-long files)."""
    period = synthetic_speech(min(seconds, period_s))
    total = int(round(seconds * vg.SR))
    with sf.SoundFile(path, "w", samplerate=vg.SR, channels=1, subtype="PCM_16") as fh:
        done = 0
        while done < total:
            chunk = period[: total - done]
            fh.write(chunk)
            done += chunk.size


def _interleaved_rates(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, list[float]]:
    """Examples/s of each run (a callable returning its number of examples), ``repeats`` times,
    interleaved round-robin so that load from other processes hits every contender alike."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            n = fn()
            rates[name].append(n / (time.perf_counter() - t0))
    return rates


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0)
    cos = np.ones(a.shape[0])  # two all-zero rows (all ReLUs off) are identical
    cos[ok] = (a[ok] * b[ok]).sum(1) / (na[ok] * nb[ok])
    cos[(na > 0) != (nb > 0)] = 0.0
    return cos


def bf16_cosine(model: torch.nn.Module, wavs: Sequence[Path]) -> dict:
    """Per-example cosine similarity of bf16 vs fp32 fc2 features over ``wavs``: min, mean, n."""
    cos = []
    for wav in wavs:
        _, f32, _ = vg.embed_wav(wav, model, precision="fp32")
        _, b16, _ = vg.embed_wav(wav, model, precision="bf16")
        cos.append(_cosines(f32.astype(np.float64), b16.astype(np.float64)))
    allc = np.concatenate(cos) if cos else np.zeros(0)
    return {"files": [Path(w).name for w in wavs], "n_examples": int(allc.size),
            "min": float(allc.min()) if allc.size else float("nan"),
            "mean": float(allc.mean()) if allc.size else float("nan")}


def bench_vggish(wav: Path | None = None, seconds: float = 60.0, threads: int = 2,
                 weights: str | Path = "random", *, sha256: str | None = None, repeats: int = 3,
                 batch_size: int = 32, speech_wavs: Sequence[Path] | None = None,
                 peak_gemm_size: int = 4096) -> dict:
    """Examples/s of the torchvggish README path vs depsev's ``embed_wav`` (fp32 and bf16) on the same
    ``seconds`` of audio (``wav`` or a deterministic synthetic speech-like signal), with ``threads``
    torch threads; plus bf16-vs-fp32 fc2 cosine on real speech (``speech_wavs``, e.g. ``depsev bench
    vggish --speech DIR``; else the benchmark audio: nothing is read from outside the paths given);
    and this CPU's fp32 peak (:func:`measured_fp32_peak`, with a ``peak_gemm_size`` matrix product).
    Prints a summary, returns a plain dict.
    """
    from torchvggish import vggish_input

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, wmeta = vg.load_vggish(weights, sha256, allow_random=True)
        with tempfile.TemporaryDirectory() as tmp:
            audio = Path(tmp) / "bench.wav"
            if wav is None:
                _write_synthetic_wav(audio, seconds)
                source = f"synthetic speech-like signal, {seconds:g} s"
            else:
                from depsev.features.audio import load_audio

                y16 = load_audio(wav)[: int(round(seconds * vg.SR))]
                sf.write(audio, y16, vg.SR, subtype="FLOAT")
                source = f"{Path(wav).name}, first {len(y16) / vg.SR:g} s"
            samples, sr = sf.read(audio, dtype="float64")
            ref_model = vg._vgg(postprocess=False)  # the README's model: fresh module, same weights
            ref_model.load_state_dict(model.state_dict())
            ref_model.eval()

            def reference() -> int:
                examples = vggish_input.waveform_to_examples(samples, sr)
                ref_model.forward(examples)
                return int(examples.shape[0])

            def depsev(precision: str) -> Callable[[], int]:
                return lambda: vg.embed_wav(audio, model, batch_size=batch_size,
                                            precision=precision)[0].size

            def reference_inference() -> int:
                with torch.inference_mode():
                    return reference()

            runs = {"reference": reference, "reference_inference_mode": reference_inference,
                    "depsev_fp32": depsev("fp32"), "depsev_bf16": depsev("bf16")}
            for fn in runs.values():  # warm-up (oneDNN primitive creation, allocator)
                fn()
            all_rates = _interleaved_rates(runs, repeats)
            rates = {name: (statistics.median(r), r) for name, r in all_rates.items()}
            n_examples = reference()
            wavs = list(speech_wavs or [])
            if wavs:
                cos = bf16_cosine(model, wavs)
            else:
                cos = {**bf16_cosine(model, [audio]),
                       "note": "no real speech given (--speech DIR): benchmark audio"}
    finally:
        torch.set_num_threads(before)
    ref = rates["reference"][0]
    ref_im = rates["reference_inference_mode"][0]
    peak = measured_fp32_peak(threads, repeats=max(2, min(5, repeats + 2)), gemm_size=peak_gemm_size)
    flops = vggish_flops_per_example(model)
    share = {k: v[0] * flops / 1e9 / peak["peak_gflops"] for k, v in rates.items()}
    cos_ok = bool(cos.get("min", 0.0) >= COSINE_MIN)
    goal = {"fp32": rates["depsev_fp32"][0] / ref_im >= SPEEDUP_GOAL,
            "bf16": rates["depsev_bf16"][0] / ref_im >= SPEEDUP_GOAL and cos_ok}
    result = {
        "audio": source, "n_examples": n_examples, "threads": threads, "repeats": repeats,
        "batch_size": batch_size, "weights": wmeta["weights"], "weights_mode": wmeta["mode"],
        "torch_version": torch.__version__, "cpu_count": os.cpu_count(),
        "examples_per_s": {k: v[0] for k, v in rates.items()},
        "examples_per_s_all_runs": {k: v[1] for k, v in rates.items()},
        "ratio_fp32_vs_reference": rates["depsev_fp32"][0] / ref,
        "ratio_bf16_vs_reference": rates["depsev_bf16"][0] / ref,
        "ratio_fp32_vs_reference_inference_mode": rates["depsev_fp32"][0] / ref_im,
        "ratio_bf16_vs_reference_inference_mode": rates["depsev_bf16"][0] / ref_im,
        "bf16_cosine_fc2": cos,
        "bf16_counts": cos_ok,
        "gflop_per_example": flops / 1e9,
        "fp32_peak": peak,
        "share_of_fp32_peak": share,
        "speedup_goal": SPEEDUP_GOAL,
        "goal_met": goal,
    }
    _print_bench(result)
    return result


def _print_bench(r: dict) -> None:
    eps = r["examples_per_s"]
    print(f"VGGish benchmark: {r['audio']} ({r['n_examples']} examples), {r['threads']} threads, "
          f"weights {r['weights_mode']}, torch {r['torch_version']}")
    peak = r["fp32_peak"]
    print(f"  this CPU's fp32 peak, measured: {peak['peak_gflops']:.0f} GFLOP/s on {peak['threads']} threads "
          f"({', '.join(f'{k} {v:.0f}' for k, v in peak['gflops'].items())}); VGGish to fc2: "
          f"{r['gflop_per_example']:.2f} GFLOP per example")
    for name, rate in eps.items():
        print(f"  {name:28s} {rate:8.1f} examples/s = {r['share_of_fp32_peak'][name]:6.1%} of the fp32 peak")
    print(f"  depsev fp32 / reference      {r['ratio_fp32_vs_reference']:8.2f}x "
          f"(vs reference under inference_mode: {r['ratio_fp32_vs_reference_inference_mode']:.2f}x)")
    c = r["bf16_cosine_fc2"]
    print(f"  depsev bf16 / reference      {r['ratio_bf16_vs_reference']:8.2f}x; fc2 cosine bf16 vs fp32 "
          f"min {c.get('min', float('nan')):.5f} mean {c.get('mean', float('nan')):.5f} over "
          f"{c.get('n_examples', 0)} examples of {', '.join(c['files'])} -> "
          f"{'counts' if r['bf16_counts'] else 'does NOT count'} (needs min >= {COSINE_MIN})")
    met = [k for k, ok in r["goal_met"].items() if ok]
    verdict = "met by " + " and ".join(met) if met else "NOT met"
    print(f"  goal >= {r['speedup_goal']}x vs the reference under inference_mode: fp32 "
          f"{r['ratio_fp32_vs_reference_inference_mode']:.2f}x, bf16 "
          f"{r['ratio_bf16_vs_reference_inference_mode']:.2f}x -> {verdict}")


_MEMORY_CHILD = """
import json, resource, sys, torch
from depsev.features import vggish as vg
wav, weights, threads, precision = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
model, meta = vg.load_vggish(weights, None, allow_random=True)
rss_model_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import time
t0 = time.perf_counter()
t, fc2, emb = vg.embed_wav(wav, model, precision=precision)
dt = time.perf_counter() - t0
print(json.dumps({"n_examples": int(t.size), "seconds": dt,
                  "peak_rss_after_model_kib": rss_model_kib,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def bench_vggish_memory(minutes: float = 60.0, threads: int = 2, weights: str | Path = "random",
                        precision: str = "fp32") -> dict:
    """Peak RSS (ru_maxrss) of embedding a ``minutes``-long synthetic 16 kHz wav in a fresh process.

    Returns ``{"minutes", "n_examples", "seconds", "examples_per_s", "peak_rss_mib",
    "peak_rss_after_model_mib", "under_2_gib"}`` (the RSS includes the model and torch itself).
    """
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        _write_synthetic_wav(wav, minutes * 60.0)
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(wav), str(weights), str(threads),
                               precision], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{proc.stderr[-4000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = child["peak_rss_kib"] / 1024
    result = {"minutes": minutes, "threads": threads, "precision": precision,
              "n_examples": child["n_examples"], "seconds": child["seconds"],
              "examples_per_s": child["n_examples"] / child["seconds"],
              "peak_rss_mib": peak, "peak_rss_after_model_mib": child["peak_rss_after_model_kib"] / 1024,
              "under_2_gib": peak < 2048}
    print(f"VGGish memory: {minutes:g} min -> {result['n_examples']} examples in {result['seconds']:.1f} s "
          f"({result['examples_per_s']:.1f}/s), peak RSS {peak:.0f} MiB "
          f"(after model load {result['peak_rss_after_model_mib']:.0f} MiB)")
    return result
