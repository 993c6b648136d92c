"""How light a model is (the paper's Table 4): size, FLOPs and CPU latency, measured, with the device named.

:func:`lightweight_row` measures one torch model:

- ``parameters``: :func:`depsev.models.count_parameters` (trainable);
- ``size_mb``: bytes of the state dict serialised with ``torch.save`` (floating tensors as fp32),
  divided by 10^6;
- ``params_mb_fp32`` / ``params_mb_int8``: the parameters' payload (:func:`parameter_megabytes`): 4 bytes
  each (torchinfo's "Params size", the paper's 0.52 MB for 128,905), and with the weight matrices of
  the Linear and LSTM layers as int8 (dynamic quantization, as ``depsev export`` writes it);
- ``flops_analytic``: :func:`depsev.models.flops.fusion_flops` for the fusion model (the analytic count
  exists only for it; NaN for the other models), ``macs_ptflops`` / ``flops_ptflops`` (= 2 MACs):
  ptflops' count for any torch model, as a cross-check.  Both per chunk pair (batch 1);
- ``latency_batch_s``: median wall time of ``repeats`` forward passes of one batch of ``batch_size``
  random chunks, after ``warmup`` passes, in ``torch.inference_mode`` and eval mode, with the number
  of torch CPU threads stated (``torch_threads``);
- ``latency_session_s``: the chunks a ``session_minutes`` session gives (same rule as the shard stage:
  full chunks, plus the last partial one when it covers at least ``min_coverage``) x the per-chunk time
  (``latency_batch_s / batch_size``);
- ``device``: the CPU model (``/proc/cpuinfo`` "model name", else ``platform.processor()``).

:func:`lightweight_table` puts the rows beside the paper's own Table 4 (:data:`PUBLISHED_TABLE4`,
measured by its authors on an RTX 4090 D), in a separate row labelled "published, RTX 4090 D".

:func:`sized_model_row` measures an UNTRAINED fusion model built from a configuration (weights do not
change size, FLOPs or speed) at that configuration's chunk sizes for a real corpus -- the paper's 5000
face frames / 300 VGGish frames -- so that config.yaml's model and the paper preset's
(``workflow/presets/paper.yaml``) are counted the same way, whatever chunk sizes the run itself used.
"""

from __future__ import annotations

import io
import math
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from depsev.errors import InputError
from depsev.models import FusionModel, ModelConfig, build_model, count_parameters
from depsev.models.flops import example_batch, fusion_flops, ptflops_macs
from depsev.shards.chunks import ChunkConfig
from depsev.workflow import torch_threads

#: seconds between VGGish example starts (one audio frame)
AUDIO_FRAME_SECONDS = 0.96
#: OpenFace frame rate of the corpus videos
VIDEO_FPS = 30.0
ORIGIN_OURS = "depsev, measured here (CPU)"
ORIGIN_PUBLISHED = "published, RTX 4090 D"
#: the paper's Table 4 (device from its Table 3); NaN where the paper gives nothing
PUBLISHED_TABLE4: dict[str, Any] = {
    "origin": ORIGIN_PUBLISHED, "config": "paper (published)", "model": "proposed multimodal model (paper)",
    "modality": "fusion",
    "parameters": 128905, "size_mb": 0.52, "params_mb_fp32": 0.52, "params_mb_int8": math.nan,
    "flops_analytic": 0.468e9, "macs_ptflops": math.nan,
    "flops_ptflops": math.nan, "latency_batch_s": 0.001655, "batch_size": math.nan,
    "latency_per_chunk_s": math.nan, "chunks_per_session": math.nan, "latency_session_s": math.nan,
    "device": "NVIDIA GeForce RTX 4090 D + AMD Ryzen 7 7700 8-Core (paper Table 3)",
    "torch_threads": math.nan, "torch_version": "PyTorch (CUDA 12.1)",
    "source": "Zhang et al. 2025, Table 4 (FLOPs 0.468 G, 0.001655 s per batch, 128,905 params, params "
              "size 0.52 MB, total mult-adds 642.00 M, memory footprint 0.49 MB) and Table 3 (device)",
    "note": "batch size and session length not stated; 'Total mult-adds 642.00 M' disagrees with "
            "0.468 GFLOPs; params size 0.52 MB = 128,905 x 4 B; its 'Input size 0.34 MB' = 85,000 fp32 "
            "values = 5000 x 17, one 5000-frame chunk of the 17 AU intensities (no 4096-d audio, no "
            "down-sampling)",
}
COLUMNS = ["origin", "config", "model", "modality", "parameters", "size_mb", "params_mb_fp32",
           "params_mb_int8", "flops_analytic", "macs_ptflops",
           "flops_ptflops", "la", "lv", "batch_size", "repeats", "latency_batch_s", "latency_per_chunk_s",
           "chunks_per_session", "session_minutes", "latency_session_s", "device", "torch_threads",
           "torch_version", "source", "note"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``, else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def state_dict_megabytes(model: nn.Module) -> float:
    """Size of the model's state dict serialised with ``torch.save`` (floats as fp32), in MB (10^6 B)."""
    state = {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu()
             for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes / 1e6


#: bytes of the scale and zero point of one dynamically int8-quantized weight matrix
INT8_MATRIX_OVERHEAD = 5


def parameter_megabytes(model: nn.Module) -> tuple[float, float]:
    """The parameters' payload in MB (10^6 B): fp32 (4 bytes each) and dynamic int8.

    int8: every weight matrix of an ``nn.Linear`` / ``nn.LSTM`` (``weight``, ``weight_ih_*``,
    ``weight_hh_*``) 1 byte per value plus :data:`INT8_MATRIX_OVERHEAD` (one fp32 scale, one int8 zero
    point), every other parameter (biases, ...) 4 bytes -- what dynamic quantization of MatMul / Gemm /
    LSTM weights stores.  A count, not a file size (file formats add headers).
    """
    fp32 = int8 = 0
    for module in model.modules():
        quantized = isinstance(module, (nn.Linear, nn.LSTM))
        for name, param in module.named_parameters(recurse=False):
            n = param.numel()
            fp32 += 4 * n
            int8 += n + INT8_MATRIX_OVERHEAD if quantized and name.startswith("weight") else 4 * n
    return fp32 / 1e6, int8 / 1e6


def model_streams(model: nn.Module) -> tuple[str, ...]:
    """Streams (``audio``, ``video``) a depsev model reads (its ``modalities``, ``streams`` or ``stream``)."""
    for attr in ("modalities", "streams"):
        value = getattr(model, attr, None)
        if value:
            return tuple(value)
    stream = getattr(model, "stream", None)
    if stream:
        return (stream,)
    raise InputError(None, f"cannot tell which streams a {type(model).__name__} reads: give modality=")


def chunks_per_session(minutes: float, modality: str, chunks: ChunkConfig, *,
                       video_fps: float = VIDEO_FPS) -> int:
    """Chunks a continuous session of ``minutes`` gives (the shard stage's rule, every frame valid).

    Video and fusion chunks are video chunks (``video_frames`` frames at ``video_fps``); audio chunks
    are ``audio_frames`` VGGish examples of 0.96 s.  The last partial chunk counts when it covers at
    least ``min_coverage`` of a chunk.
    """
    if minutes <= 0:
        raise InputError(None, f"session_minutes must be > 0, got {minutes}")
    if modality == "audio":
        frames, size = math.floor(minutes * 60 / AUDIO_FRAME_SECONDS), chunks.audio_frames
    elif modality in ("video", "fusion"):
        frames, size = math.floor(minutes * 60 * video_fps), chunks.video_frames
    else:
        raise InputError(None, f"modality must be audio, video or fusion, got {modality!r}")
    full, rest = divmod(frames, size)
    return full + int(rest > 0 and rest >= chunks.min_coverage * size)


def _chunk_config(chunks: ChunkConfig | None, modality: str, la: int, lv: int) -> ChunkConfig:
    """``chunks``, checked against the step counts, or one whose chunks are ``la`` / ``lv`` frames long."""
    if chunks is None:
        return ChunkConfig(video_frames=lv, audio_frames=la)
    video_steps = math.ceil(chunks.video_frames / chunks.video_downsample)
    audio_steps = chunks.fusion_audio_steps if modality == "fusion" else math.ceil(
        chunks.audio_frames / chunks.audio_downsample)
    if (modality != "audio" and video_steps != lv) or (modality != "video" and audio_steps != la):
        raise InputError(None, f"chunk config gives {audio_steps} audio / {video_steps} video steps per "
                               f"chunk, but la={la}, lv={lv}")
    return chunks


def median_latency(model: nn.Module, batch: dict[str, torch.Tensor], *, repeats: int,
                   warmup: int = 3) -> float:
    """Median wall time (s) of ``repeats`` forward passes after ``warmup`` (eval, inference mode)."""
    if repeats < 1 or warmup < 0:
        raise InputError(None, f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                model(batch)
            for _ in range(repeats):
                start = time.perf_counter()
                model(batch)
                times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return float(statistics.median(times))


def lightweight_row(model: nn.Module, cfg: ModelConfig, la: int, lv: int, *, batch_size: int,
                    session_minutes: float = 15.0, repeats: int = 20, warmup: int = 3,
                    name: str | None = None, modality: str | None = None,
                    chunks: ChunkConfig | None = None, video_fps: float = VIDEO_FPS,
                    threads: int | None = None, count_ptflops: bool = True,
                    config_name: str = "") -> dict[str, Any]:
    """Size, FLOPs and CPU latency of ``model`` (columns :data:`COLUMNS`; see the module docstring).

    ``la`` / ``lv``: audio / video steps per chunk the model is fed; ``chunks``: the chunk settings
    (default: chunks of ``la`` / ``lv`` frames, no downsampling, min_coverage 0.5);
    ``threads``: torch CPU threads during timing (default: the current setting, restored after);
    ``modality``: ``audio | video | fusion`` (default: from the model's streams);
    ``config_name``: the configuration the model comes from (``config`` column).
    """
    if batch_size < 1 or la < 1 or lv < 1:
        raise InputError(None, f"batch_size, la and lv must be >= 1, got {batch_size}, {la}, {lv}")
    if modality is None:
        streams = model_streams(model)
        modality = "fusion" if len(streams) == 2 else streams[0]
    chunk_cfg = _chunk_config(chunks, modality, la, lv)
    analytic = (fusion_flops(cfg, la, lv).flops
                if isinstance(model, FusionModel) and len(model.modalities) == 2 else math.nan)
    macs = ptflops_macs(model, cfg, la, lv) if count_ptflops else math.nan
    with torch_threads(threads):
        used_threads = torch.get_num_threads()
        latency = median_latency(model, example_batch(cfg, la, lv, batch_size), repeats=repeats,
                                 warmup=warmup)
    n_chunks = chunks_per_session(session_minutes, modality, chunk_cfg, video_fps=video_fps)
    per_chunk = latency / batch_size
    mb_fp32, mb_int8 = parameter_megabytes(model)
    return {"origin": ORIGIN_OURS, "config": config_name, "model": name or type(model).__name__,
            "modality": modality, "parameters": count_parameters(model),
            "size_mb": state_dict_megabytes(model),
            "params_mb_fp32": mb_fp32, "params_mb_int8": mb_int8,
            "flops_analytic": analytic, "macs_ptflops": macs,
            "flops_ptflops": 2 * macs if count_ptflops else math.nan,
            "la": la, "lv": lv, "batch_size": batch_size, "repeats": repeats,
            "latency_batch_s": latency, "latency_per_chunk_s": per_chunk, "chunks_per_session": n_chunks,
            "session_minutes": session_minutes, "latency_session_s": n_chunks * per_chunk,
            "device": f"{cpu_model()} (CPU, {platform.machine()})", "torch_threads": used_threads,
            "torch_version": torch.__version__,
            "source": "measured by depsev.evaluate.lightweight on random inputs",
            "note": "" if math.isfinite(analytic) else "analytic FLOPs exist only for the fusion model"}


def lightweight_table(rows: Sequence[dict[str, Any]], *, dataset: str | None = None,
                      include_published: bool = True) -> pd.DataFrame:
    """Our :func:`lightweight_row` rows, then the paper's Table 4 as a separate labelled row.

    ``dataset``: the dataset label of the run the models come from (weights do not change size or
    speed; written in the ``dataset`` column of our rows); the published row says E-DAIC.
    """
    ours = pd.DataFrame(list(rows), columns=COLUMNS)
    ours.insert(1, "dataset", dataset or "n/a (size and speed do not depend on the data)")
    if not include_published:
        return ours
    published = pd.DataFrame([PUBLISHED_TABLE4], columns=COLUMNS)
    published.insert(1, "dataset", "published, on E-DAIC")
    return pd.concat([ours, published], ignore_index=True)


def chunk_steps(chunks: ChunkConfig, modality: str = "fusion") -> tuple[int, int]:
    """``(la, lv)``: audio and video steps per chunk a model of ``modality`` is fed."""
    lv = math.ceil(chunks.video_frames / chunks.video_downsample)
    la = (chunks.fusion_audio_steps if modality == "fusion"
          else math.ceil(chunks.audio_frames / chunks.audio_downsample))
    return la, lv


def sized_model_row(config_name: str, model_cfg: ModelConfig, chunks: ChunkConfig, *, batch_size: int,
                    repeats: int = 20, session_minutes: float = 15.0, name: str | None = None,
                    threads: int | None = None) -> dict[str, Any]:
    """:func:`lightweight_row` of an untrained fusion model (seed 0) built from ``model_cfg``, fed
    chunks of ``chunks`` (a configuration's settings for a real corpus: the paper's sizes)."""
    la, lv = chunk_steps(chunks)
    model = build_model("fusion", "fusion", model_cfg, seed=0)
    row = lightweight_row(model, model_cfg, la, lv, batch_size=batch_size, repeats=repeats,
                          session_minutes=session_minutes, modality="fusion", chunks=chunks,
                          threads=threads, config_name=config_name,
                          name=name or f"fusion model of config {config_name!r} (untrained)")
    row["source"] = ("measured by depsev.evaluate.lightweight on random inputs, untrained model at the "
                     "configuration's chunk sizes for a real corpus")
    row["note"] = (f"{chunks.video_frames} face frames / {chunks.video_downsample} = {lv} video steps, "
                   f"{la} VGGish steps per chunk pair; encoder_steps {model_cfg.encoder_steps} "
                   f"({'LSTM over every step' if not model_cfg.encoder_steps else 'pooled before the LSTM'})")
    return row


def lightweight_from_checkpoints(model_dirs: Sequence[str | Path], *, chunks: Mapping[str, Any],
                                 dataset_kind: str, batch_size: int, repeats: int = 20,
                                 session_minutes: float = 15.0, config_name: str = "",
                                 sized: Sequence[tuple[str, ModelConfig, ChunkConfig]] = ()
                                 ) -> pd.DataFrame:
    """Table 4 for trained checkpoints (``results/models/<name>/seed<k>``), one row per torch model,
    then one row per ``sized`` configuration ``(config_name, model config, chunk settings)``
    (:func:`sized_model_row`: this run's fusion model and the paper preset's, at the paper's chunk sizes).

    The random forest has no FLOPs or torch latency in this sense and is listed with a note.  The
    checkpoints' chunk sizes are the run's (the demo's are smaller than the paper's); the published
    row is the paper's.
    """
    from depsev.checkpoint import checkpoint_model_config, load_checkpoint
    from depsev.evaluate.tables import dataset_label

    cfg_chunks = ChunkConfig.coerce({**chunks, "dataset_kind": dataset_kind})
    rows = []
    for d in model_dirs:
        d = Path(d)
        name = d.parent.name
        model, config = load_checkpoint(d)
        modality = config["modality"]
        if config["kind"] == "rf":
            rows.append({"config": config_name, "model": name, "modality": modality,
                         "note": "random forest: not a neural network; no FLOPs/latency measured"})
            continue
        mcfg = checkpoint_model_config(config)
        la, lv = chunk_steps(cfg_chunks, modality)
        rows.append(lightweight_row(model, mcfg, la, lv, batch_size=batch_size, repeats=repeats,
                                    session_minutes=session_minutes, name=name, modality=modality,
                                    chunks=cfg_chunks, config_name=config_name))
    for sized_name, model_cfg, sized_chunks in sized:
        rows.append(sized_model_row(sized_name, model_cfg, sized_chunks, batch_size=batch_size,
                                    repeats=repeats, session_minutes=session_minutes))
    return lightweight_table(rows, dataset=dataset_label(dataset_kind))
