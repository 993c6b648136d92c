"""``depsev bench predict``: end-to-end latency of :func:`depsev.predict.session.predict_session` and
model-alone latency; also the missing-modality cost of a trained model on a split of its shards.

:func:`bench_predict`
    one SYNTHETIC session (default 15 min, made by the demo cohort's session generator) predicted end
    to end on ``threads`` CPU threads: seconds per stage (audio cleaning, VGGish, openSMILE, face
    frames, chunking, model), total wall time and real-time factor (wall / session duration).
:func:`bench_model`
    the fusion model alone, fed what it gets at the paper's chunk sizes (300 VGGish frames; 5000 face
    frames kept 1 in 5 = 1000 steps, config.yaml's downsampling), for batches of 1 and 16 chunk pairs:
    ms per batch for PyTorch and, when onnxruntime is installed, the exported fp32 and int8 ONNX files;
    peak memory measured in a fresh process (``VmHWM``).  The weights are untrained: latency does not
    depend on their values.
:func:`modality_costs`
    participant-level MAE of a fusion checkpoint on a split with both streams, audio only and face
    only (the other stream removed from every batch: its gate is forced to 0).
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depsev.constants import STREAM_KEYS
from depsev.models import ModelConfig, build_model
from depsev.models.flops import encoder_length
from depsev.predict.export import example_inputs

#: the paper's chunk sizes (face frames, VGGish frames) and latency batch
PAPER_STEPS = {"video": 5000, "audio": 300}
PAPER_MS_PER_BATCH = 1.655


def synthetic_session(out_dir: str | Path, minutes: float = 15.0, seed: int = 0, *,
                      interviewer: str = "woz") -> Path:
    """Write one SYNTHETIC session (wav, transcript, OpenFace CSV; E-DAIC layout) with the demo
    cohort's generator; returns its ``<ID>_P`` folder."""
    import pandas as pd

    from depsev.corpus.synthetic import draw_participants, generate_session

    cohort = draw_participants(10, np.random.default_rng(seed))
    row: pd.Series = cohort[cohort["interviewer"] == interviewer].iloc[0]
    generate_session(Path(out_dir), row, minutes, seed)
    return Path(out_dir) / "data" / f"{int(row['participant_id'])}_P"


def bench_predict(model_dir: str | Path, *, normalize_dir: str | Path | None = None, minutes: float = 15.0,
                  threads: int = 2, seed: int = 0, session_dir: str | Path | None = None,
                  vggish_weights: str | Path | None = None, denoise: bool | None = None,
                  with_egemaps: bool = True) -> dict[str, Any]:
    """Time :func:`~depsev.predict.session.predict_session` on one session (a synthetic one of
    ``minutes`` unless ``session_dir`` is given), torch limited to ``threads`` threads."""
    from depsev.corpus.sessions import audio_info
    from depsev.predict.inputs import find_session_inputs
    from depsev.predict.session import predict_session

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="depsev-bench-") as tmp:
            t0 = time.perf_counter()
            sdir = (Path(session_dir) if session_dir
                    else synthetic_session(Path(tmp) / "cohort", minutes, seed))
            make_s = time.perf_counter() - t0
            inputs = find_session_inputs(sdir, kind="demo")
            duration = float(audio_info(inputs.audio)["duration_s"]) if inputs.audio else float("nan")
            result = predict_session(model_dir, sdir, kind="demo", normalize_dir=normalize_dir,
                                     vggish_weights=vggish_weights, threads=threads, denoise=denoise,
                                     with_egemaps=with_egemaps)
    finally:
        torch.set_num_threads(old)
    t = result["timings_s"]
    return {"session_seconds": duration, "threads": threads, "stages_s": t, "wall_s": t["total"],
            "real_time_factor": t["total"] / duration, "n_chunks": result["n_chunks"],
            "session_generation_s": make_s, "synthetic": session_dir is None,
            "egemaps_included": with_egemaps, "summary": result["phq8"]}


# ---------------------------------------------------------------- the model alone
def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _time_calls(fn: Any, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def model_input_steps(chunks: Any = None) -> dict[str, int]:
    """Steps per chunk the fusion model is fed (audio, video) under the chunk settings ``chunks``
    (a :class:`~depsev.shards.chunks.ChunkConfig`, a ``chunks`` mapping, or None for the paper's
    sizes as config.yaml ships them: 300 VGGish frames, 5000 face frames kept 1 in 5)."""
    from depsev.shards.chunks import ChunkConfig

    c = ChunkConfig.coerce(chunks) if chunks is not None else ChunkConfig(video_downsample=5)
    return {"audio": c.fusion_audio_steps, "video": -(-c.video_frames // c.video_downsample)}


def _model_worker(args: dict[str, Any], queue: Any) -> None:
    """In a fresh process: build, (export,) time every batch size, and report peak memory."""
    torch.set_num_threads(args["threads"])
    base = _vm_kib("VmRSS")
    cfg = ModelConfig.from_dict(args["model_cfg"])
    shapes = {s: (args["steps"][s], d) for s, d in (("audio", cfg.audio_dim), ("video", cfg.video_dim))}
    model = build_model("fusion", "fusion", cfg, seed=0).eval()
    ms: dict[str, list[float]] = {}
    batches = {b: example_inputs(shapes, b, seed=0) for b in args["batch_sizes"]}
    with torch.inference_mode():
        for b, batch in batches.items():
            ms[f"torch_fp32@{b}"] = _time_calls(lambda bt=batch: model(bt), args["repeats"])
    peak_torch = _vm_kib("VmHWM")
    onnx_bytes: dict[str, int] = {}
    if args["onnx"]:
        from depsev.predict.export import OnnxPredictor, export_module

        for b, batch in batches.items():
            with tempfile.TemporaryDirectory(prefix="depsev-bench-onnx-") as tmp:
                info = export_module(model, "fusion", shapes, tmp, batch_size=b)
                feed = {k: v.numpy() for k, v in batch.items()}
                for variant, name in (("onnx_fp32", "model.onnx"), ("onnx_int8", "model.int8.onnx")):
                    pred = OnnxPredictor(Path(tmp) / name, threads=args["threads"])
                    ms[f"{variant}@{b}"] = _time_calls(lambda p=pred, f=feed: p(f), args["repeats"])
                onnx_bytes = {k: v["bytes"] for k, v in info["files"].items()}
    queue.put({"ms": ms, "rss_before_model_mib": base / 1024, "peak_rss_torch_mib": peak_torch / 1024,
               "peak_rss_mib": _vm_kib("VmHWM") / 1024, "onnx_bytes": onnx_bytes})


def bench_model(*, batch_sizes: tuple[int, ...] = (1, 16), threads: int = 2, repeats: int = 50,
                onnx: bool = True, steps: dict[str, int] | None = None,
                model_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fusion model alone: ms per batch (median, p90, min over ``repeats`` calls after warm-up)
    for each of ``batch_sizes`` chunk pairs, PyTorch and ONNX (fp32, int8), and the peak RSS of a
    fresh process running it.

    ``steps``: steps per chunk fed to the model (default :func:`model_input_steps`: the paper's chunk
    sizes after config.yaml's downsampling); ``model_cfg``: the ``model`` section to build it with
    (default: :class:`ModelConfig` defaults, which config.yaml ships).  The weights are untrained:
    latency does not depend on their values.  ``meets_paper[variant][batch]`` compares each runtime's
    median per batch (PyTorch, ONNX fp32, ONNX int8) with the paper's 1.655 ms (measured there on
    an RTX 4090 D GPU, batch size not stated).
    """
    args = {"batch_sizes": tuple(batch_sizes), "threads": threads, "repeats": repeats, "onnx": onnx,
            "steps": steps or model_input_steps(), "model_cfg": dict(model_cfg or {})}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_model_worker, args=(args, queue))
    proc.start()
    res = queue.get(timeout=1800)
    proc.join()
    cfg = ModelConfig.from_dict(args["model_cfg"])
    out: dict[str, Any] = {"batch_sizes": list(batch_sizes), "threads": threads, "repeats": repeats,
                           "steps": args["steps"], "model": cfg.to_dict(),
                           "encoder_lstm_steps": {s: encoder_length(cfg, n)
                                                  for s, n in args["steps"].items()},
                           "paper_ms_per_batch": PAPER_MS_PER_BATCH, "paper_device": "RTX 4090 D (GPU)",
                           "device": _cpu_label(threads),
                           **{k: v for k, v in res.items() if k != "ms"}}
    for key, v in res["ms"].items():
        variant, b = key.split("@")
        out.setdefault("ms_per_batch", {}).setdefault(variant, {})[int(b)] = {
            "median": statistics.median(v), "p90": float(np.percentile(v, 90)), "min": min(v),
            "per_chunk": statistics.median(v) / int(b)}
    out["meets_paper"] = {variant: {b: r["median"] < PAPER_MS_PER_BATCH for b, r in per_b.items()}
                          for variant, per_b in out["ms_per_batch"].items()}
    return out


def _cpu_label(threads: int) -> str:
    from depsev.evaluate.lightweight import cpu_model

    return f"{cpu_model()} (CPU), {threads} torch thread(s)"


# ---------------------------------------------------------------- missing-modality cost
def modality_costs(model_dir: str | Path, shard_root: str | Path, split: str = "dev", *,
                   batch_size: int = 64) -> dict[str, Any]:
    """Participant-level MAE of a fusion checkpoint on ``split`` with both streams, audio only and
    face only (the other stream's inputs removed from every batch), and the training-mean MAE."""
    from depsev.checkpoint import load_checkpoint
    from depsev.evaluate.aggregate import aggregate_participants
    from depsev.evaluate.predictions import open_split
    from depsev.inference import chunk_table, dataset_batches, predict_batches

    model, config = load_checkpoint(model_dir)
    ds = open_split(shard_root, config.get("shard_modality", "fusion"), split)
    keys = (*STREAM_KEYS["audio"], *STREAM_KEYS["video"], "z", "index")
    out: dict[str, Any] = {"split": split, "chunks": len(ds), "model_dir": str(model_dir),
                           "synthetic": config.get("synthetic")}
    variants = (("both", ()), ("audio_only", STREAM_KEYS["video"]), ("face_only", STREAM_KEYS["audio"]))
    for name, drop in variants:
        arrays = predict_batches(model, dataset_batches(ds, batch_size, [k for k in keys if k not in drop]))
        people = aggregate_participants(chunk_table(ds, arrays))
        out[name] = float(np.mean(np.abs(people["mu"] - people["phq_score"])))
        out["participants"] = len(people)
    train_mean = config.get("result", {}).get("train_mean")
    if train_mean is not None:
        out["train_mean_mae"] = float(np.mean(np.abs(people["phq_score"] - train_mean)))
    out["cost_audio_only"] = out["audio_only"] - out["both"]
    out["cost_face_only"] = out["face_only"] - out["both"]
    return out
