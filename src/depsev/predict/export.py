"""``depsev export``: a trained depsev model as ONNX (fp32) plus a dynamically quantized int8 variant.

:func:`export_model` writes into ``out_dir``:

``model.onnx``
    the torch model exported with ``torch.onnx.export`` (the torch.export-based exporter, one file,
    no external data).  Inputs: the streams the model reads, ``xa`` f32 ``[B, La, 4096]`` + ``ma``
    bool ``[B, La]`` and/or ``xv`` f32 ``[B, Lv, 49]`` + ``mv`` bool ``[B, Lv]``, and ``z`` int64
    ``[B]`` (0 = woz, 1 = ai); outputs ``mu``, ``var``, ``probs`` (softmax of the band logits) and,
    where the model has them, ``gate`` ``[B, 2]`` (woz, ai) and ``alpha`` ``[B, 2]`` (audio, video).
    ``B`` and the sequence lengths are FIXED (the model's chunk steps; ``batch_size``): the models'
    batch-consistency checks do not trace with a symbolic batch, so :class:`OnnxPredictor` pads the
    last batch.  A missing stream of a fusion model is given as zeros with an all-False mask (the
    model's gate is then 0, exactly as when the stream is absent in torch).
    The interviewer value check (``z`` in {0, 1}) is data-dependent and cannot be exported; it is
    replaced by a shape-only check during the export and done by :class:`OnnxPredictor` instead.
``model.int8.onnx``
    ``onnxruntime.quantization.quantize_dynamic`` (int8 weights of MatMul/Gemm/LSTM, activations
    quantized at run time);
``export.json``
    input/output names and shapes, file sizes and sha256, the source checkpoint's sha256, versions,
    and the parity check of both files against PyTorch on random inputs of the model's shapes.

:func:`compare_on_shards` runs torch, fp32 ONNX and int8 ONNX on a split of chunk shards and reports
the max absolute differences and the participant-level MAE of each (the int8 metric change).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from depsev.checkpoint import MODEL_FILE, load_checkpoint
from depsev.constants import STREAM_KEYS
from depsev.errors import InputError
from depsev.models import model_streams
from depsev.quiet import known_warnings_silenced

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
EXPORT_JSON = "export.json"
OPSET = 18
#: parity tolerance of fp32 ONNX against PyTorch (max absolute difference of every output)
FP32_TOLERANCE = 1e-4
OPTIONAL_OUTPUTS = ("gate", "alpha")


class ExportWrapper(torch.nn.Module):
    """Positional tensors in (stream inputs, then ``z``), a tuple of output tensors out."""

    def __init__(self, model: torch.nn.Module, streams: tuple[str, ...], outputs: tuple[str, ...]):
        super().__init__()
        self.model, self.streams, self.outputs = model, streams, outputs

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch: dict[str, torch.Tensor] = {}
        for i, s in enumerate(self.streams):
            kx, km = STREAM_KEYS[s]
            batch[kx], batch[km] = args[2 * i], args[2 * i + 1]
        batch["z"] = args[-1]
        pred = self.model(batch)
        values = {"mu": pred.mu, "var": pred.var, "probs": torch.softmax(pred.logits.float(), dim=-1),
                  "gate": pred.gate, "alpha": pred.alpha}
        return tuple(values[k] for k in self.outputs)


def input_names(streams: tuple[str, ...]) -> list[str]:
    return [k for s in streams for k in STREAM_KEYS[s]] + ["z"]


def stream_shapes(config: dict) -> dict[str, tuple[int, int]]:
    """``{stream: (steps, dim)}`` of a checkpoint (from its shard provenance)."""
    infos = config.get("features", {}).get("streams", {})
    out = {}
    for s in model_streams(config["modality"]):
        if s not in infos:
            raise InputError(None, f"checkpoint config has no provenance of the {s} stream")
        out[s] = (int(infos[s]["steps"]), int(infos[s]["dim"]))
    return out


def example_inputs(shapes: dict[str, tuple[int, int]], batch_size: int, seed: int = 0
                   ) -> dict[str, torch.Tensor]:
    """Random inputs of the model's shapes, with some padded steps, one empty row and both ``z``."""
    g = torch.Generator().manual_seed(seed)
    batch: dict[str, torch.Tensor] = {}
    for s, (steps, dim) in shapes.items():
        kx, km = STREAM_KEYS[s]
        batch[kx] = torch.randn(batch_size, steps, dim, generator=g)
        lengths = torch.randint(1, steps + 1, (batch_size,), generator=g)
        batch[km] = torch.arange(steps)[None, :] < lengths[:, None]
    if batch_size > 2 and len(shapes) == 2:
        batch["ma"][1] = False  # a row without audio: the missing-modality path
    batch["z"] = torch.arange(batch_size, dtype=torch.int64) % 2
    return batch


@contextmanager
def _exportable_interviewer_check() -> Iterator[None]:
    """Swap the models' data-dependent ``z`` value check for a shape-only one during the export."""
    import depsev.models.moe as moe_mod

    def shape_only(batch: dict[str, torch.Tensor], batch_size: int) -> torch.Tensor:
        z = batch["z"]
        if tuple(z.shape) != (batch_size,):
            raise InputError(None, f"batch['z'] must be [{batch_size}], got {list(z.shape)}")
        return z.long()

    saved = {m: m.check_interviewer for m in (moe_mod,)}
    try:
        for m in saved:
            m.check_interviewer = shape_only
        yield
    finally:
        for m, f in saved.items():
            m.check_interviewer = f


def _outputs_of(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[str, ...]:
    with torch.no_grad():
        pred = model(batch)
    return ("mu", "var", "probs", *(k for k in OPTIONAL_OUTPUTS if getattr(pred, k, None) is not None))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_model(model_dir: str | Path, out_dir: str | Path, *, batch_size: int = 16, int8: bool = True,
                 opset: int = OPSET) -> dict[str, Any]:
    """Export the checkpoint in ``model_dir`` (see the module docstring); returns ``export.json``'s dict.

    Raises :class:`InputError` for a non-torch checkpoint and when the fp32 file differs from
    PyTorch by more than :data:`FP32_TOLERANCE` on random inputs.
    """
    model_dir = Path(model_dir)
    model, config = load_checkpoint(model_dir)
    if not isinstance(model, torch.nn.Module):
        raise InputError(model_dir, f"kind {config.get('kind')!r} is not a torch model: nothing to export")
    source = {"model_dir": str(model_dir), "model_sha256": _sha256(model_dir / MODEL_FILE),
              "kind": config.get("kind"), "modality": config.get("modality"),
              "synthetic": config.get("synthetic")}
    return export_module(model, config["modality"], stream_shapes(config), out_dir, batch_size=batch_size,
                         int8=int8, opset=opset, source=source)


def export_module(model: torch.nn.Module, modality: str, shapes: dict[str, tuple[int, int]],
                  out_dir: str | Path, *, batch_size: int = 16, int8: bool = True, opset: int = OPSET,
                  source: dict | None = None) -> dict[str, Any]:
    """Export a torch model reading ``modality`` with stream ``shapes`` ``{stream: (steps, dim)}``."""
    import onnx
    import onnxruntime

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = Path(out_dir)
    model.eval()
    streams = model_streams(modality)
    example = example_inputs(shapes, batch_size)
    outputs = _outputs_of(model, example)
    wrapper = ExportWrapper(model, streams, outputs).eval()
    names = input_names(streams)
    args = tuple(example[k] for k in names)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / ONNX_FILE
    # the exporter's and the quantizer's known-harmless messages are dropped (depsev.quiet says why)
    with known_warnings_silenced():
        with _exportable_interviewer_check(), torch.no_grad():
            torch.onnx.export(wrapper, args, str(fp32), input_names=names, output_names=list(outputs),
                              opset_version=opset, dynamo=True, external_data=False, verbose=False)
        onnx.checker.check_model(str(fp32))
        files = {"fp32": fp32}
        if int8:
            files["int8"] = quantize_int8(fp32, out / INT8_FILE)
    parity = {k: parity_check(model, p, streams, shapes, batch_size, seed=1) for k, p in files.items()}
    if parity["fp32"]["max_abs_diff"] > FP32_TOLERANCE:
        raise InputError(fp32, f"fp32 ONNX differs from PyTorch by {parity['fp32']['max_abs_diff']:.2e} "
                               f"(> {FP32_TOLERANCE:g})")
    info = {
        "source": source or {}, "batch_size": batch_size, "opset": opset,
        "inputs": {k: list(v.shape) for k, v in zip(names, args, strict=True)}, "outputs": list(outputs),
        "streams": list(streams),
        "files": {k: {"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)}
                  for k, p in files.items()},
        "parity_random_inputs": parity,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__},
        "note": "fixed batch and sequence lengths; pad the last batch (OnnxPredictor does)",
    }
    (out / EXPORT_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return info


def quantize_int8(fp32: Path, dest: Path) -> Path:
    """Dynamic int8 quantization (weights int8, activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8)
    return dest


# ---------------------------------------------------------------- running the ONNX files
class OnnxPredictor:
    """An exported file as a callable on depsev batches (dict of tensors), padding to the fixed batch."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i.shape for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.batch_size = int(self.inputs["z"][0])

    def _feed(self, batch: dict[str, Any], start: int, n: int) -> dict[str, np.ndarray]:
        feed = {}
        for name, shape in self.inputs.items():
            if name in batch:
                v = np.asarray(batch[name])[start:start + n]
            elif name.startswith("m"):  # absent stream: all-False mask
                v = np.zeros((n, *shape[1:]), dtype=bool)
            else:
                v = np.zeros((n, *shape[1:]), dtype=np.float32)
            pad = self.batch_size - n
            if pad:
                v = np.concatenate([v, np.zeros((pad, *v.shape[1:]), dtype=v.dtype)])
            feed[name] = v.astype(np.int64 if name == "z" else (bool if name.startswith("m") else np.float32),
                                  copy=False)  # no copy of the (large) audio frames when already float32
        return feed

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        z = np.asarray(batch["z"])
        if z.size and not np.isin(z, (0, 1)).all():
            raise InputError(self.path, f"z values must be 0 (woz) or 1 (ai), got {sorted(set(z.tolist()))}")
        total = len(z)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in self.outputs}
        for start in range(0, total, self.batch_size):
            n = min(self.batch_size, total - start)
            res = self.session.run(self.outputs, self._feed(batch, start, n))
            for k, v in zip(self.outputs, res, strict=True):
                parts[k].append(v[:n])
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def torch_outputs(model: torch.nn.Module, batch: dict[str, torch.Tensor], outputs: list[str]
                  ) -> dict[str, np.ndarray]:
    """The same outputs from the PyTorch model."""
    with torch.no_grad():
        pred = model(batch)
    values = {"mu": pred.mu, "var": pred.var, "probs": torch.softmax(pred.logits.float(), dim=-1),
              "gate": pred.gate, "alpha": pred.alpha}
    return {k: values[k].float().numpy() for k in outputs}


def _max_diffs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a}


def parity_check(model: torch.nn.Module, path: Path, streams: tuple[str, ...],
                 shapes: dict[str, tuple[int, int]], batch_size: int, seed: int = 1) -> dict[str, Any]:
    """Max abs difference per output between PyTorch and an ONNX file on random inputs."""
    pred = OnnxPredictor(path)
    batch = example_inputs(shapes, batch_size + 3, seed=seed)  # > one batch: the padding path too
    onnx_out = pred({k: v.numpy() for k, v in batch.items()})
    diffs = _max_diffs(onnx_out, torch_outputs(model, batch, pred.outputs))
    return {"max_abs_diff": max(diffs.values()), "per_output": diffs, "rows": batch_size + 3}


def compare_on_shards(model_dir: str | Path, export_dir: str | Path, shard_root: str | Path,
                      split: str = "dev", threads: int | None = None) -> dict[str, Any]:
    """Torch vs fp32 ONNX vs int8 ONNX on ``<shard_root>/<shard modality>/<split>`` shards: max abs
    differences, participant-level MAE of each, and the file sizes."""
    from depsev.evaluate.aggregate import aggregate_participants
    from depsev.evaluate.predictions import open_split
    from depsev.inference import chunk_table

    model, config = load_checkpoint(model_dir)
    sm = config.get("shard_modality", config["modality"])
    ds = open_split(shard_root, sm, split)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in (*input_names(model_streams(
        config["modality"]))[:-1], "z", "index")}
    export_dir = Path(export_dir)
    files = {"fp32": export_dir / ONNX_FILE, "int8": export_dir / INT8_FILE}
    results: dict[str, dict[str, np.ndarray]] = {}
    first = OnnxPredictor(files["fp32"], threads)
    results["torch"] = torch_outputs(model, {k: v for k, v in batch.items() if k != "index"}, first.outputs)
    for k, p in files.items():
        if p.is_file():
            results[k] = (first if k == "fp32" else OnnxPredictor(p, threads))(
                {n: v.numpy() for n, v in batch.items() if n != "index"})
    report: dict[str, Any] = {"split": split, "chunks": len(ds), "shard_modality": sm}
    for k, out in results.items():
        table = chunk_table(ds, {**out, "index": batch["index"].numpy()})
        people = aggregate_participants(table)
        report[k] = {"participant_mae": float(np.mean(np.abs(people["mu"] - people["phq_score"]))),
                     "participants": len(people)}
        if k != "torch":
            report[k]["max_abs_diff"] = _max_diffs(out, results["torch"])
            report[k]["bytes"] = files[k].stat().st_size
    if "int8" in report:
        report["int8_mae_change"] = report["int8"]["participant_mae"] - report["torch"]["participant_mae"]
    return report


def participant_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per variant (torch, fp32, int8): participant MAE, bytes, max |mu diff|."""
    rows = []
    for k in ("torch", "fp32", "int8"):
        if k in report:
            r = report[k]
            rows.append({"variant": k, "participant_mae": r["participant_mae"], "bytes": r.get("bytes"),
                         "max_abs_diff_mu": r.get("max_abs_diff", {}).get("mu", 0.0)})
    return pd.DataFrame(rows)


__all__ = ["export_model", "export_module", "quantize_int8", "OnnxPredictor", "parity_check",
           "compare_on_shards",
           "participant_frame", "example_inputs", "stream_shapes"]
