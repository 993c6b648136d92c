"""The result of ``depsev predict``: the chunk predictions combined into the participant-level
estimate (:func:`depsev.evaluate.aggregate.aggregate_participants`, also on every prefix of the
session: the running estimate), the headline fields (:func:`summarize`), the QC and provenance
records, one readable line (:func:`summary_line`) and the JSON file (:func:`write_result`).

This is a research measurement, not a diagnosis (:data:`STATEMENT`, in every result).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from scipy.stats import norm

from depsev import __version__
from depsev.constants import BAND_LABELS, BINARY_THRESHOLD, INTERVIEWERS, P_BAND_COLUMNS, PHQ_MAX, PHQ_MIN
from depsev.evaluate.aggregate import DEFAULT_WEIGHTING, aggregate_participants
from depsev.hashing import file_sha256
from depsev.predict.bundle import ModelBundle
from depsev.predict.features import SessionFeatures
from depsev.predict.inputs import SessionInput
from depsev.shards.preparation import vggish_weights
from depsev.shards.session import SessionChunks, Stream

STATEMENT = ("Research measurement, not a diagnosis: this number comes from a model of speech and facial "
             "behaviour trained on a research corpus; it is not a clinical assessment and must not be "
             "used to make decisions about a person's care.")
#: two-sided 90 % interval: mu +- Z90 sigma
Z90 = float(norm.ppf(0.95))


def running_estimates(chunks: pd.DataFrame, interviewer: str,
                      weighting: str = DEFAULT_WEIGHTING) -> pd.DataFrame:
    """Participant-level estimate after each chunk (:func:`aggregate_participants` on every prefix,
    chunks combined by ``weighting``); the last row is the session's estimate.

    ``aggregate_participants`` also carries the truth columns of a labelled corpus; a new session
    has none, so they are filled with neutral values here and dropped from the result.
    """
    n = len(chunks)
    parts = []
    for k in range(n):
        prefix = chunks.iloc[:k + 1][["mu", "var", *P_BAND_COLUMNS]].copy()
        prefix["participant_id"] = k
        parts.append(prefix)
    table = pd.concat(parts, ignore_index=True)
    table = table.assign(phq_score=0, interviewer=interviewer, gender="", split="dev")
    agg = aggregate_participants(table, weighting=weighting)
    return agg.drop(columns=["split", "interviewer", "gender", "phq_score", "band"]).rename(
        columns={"participant_id": "after_chunk"})


def _interval(mu: float, sigma: float) -> list[float]:
    return [max(float(PHQ_MIN), mu - Z90 * sigma), min(float(PHQ_MAX), mu + Z90 * sigma)]


def _chunk_records(plan: SessionChunks, df: pd.DataFrame, running: pd.DataFrame) -> list[dict]:
    records = []
    for i, entry in enumerate(plan.entries):
        c = entry["video"] if "video" in entry else entry["audio"]
        row, run = df.iloc[i], running.iloc[i]
        rmu, rsig = float(run["mu"]), math.sqrt(float(run["var"]))
        rec: dict[str, Any] = {
            "index": int(c.index), "start_s": round(float(c.start_time), 3),
            "end_s": round(float(c.end_time), 3),
            "mu": float(row["mu"]), "sigma": math.sqrt(float(row["var"])),
            "band_probabilities": [float(row[p]) for p in P_BAND_COLUMNS],
            "valid_share": {s: float(ch.valid_share) for s, ch in entry.items()},
            "running": {"mu": rmu, "sigma": rsig, "interval90": _interval(rmu, rsig)}}
        if "gate_woz" in row:
            rec["expert_weights"] = {w: float(row[f"gate_{w}"]) for w in INTERVIEWERS}
        if "alpha_audio" in row:
            rec["modality_gates"] = {s: float(row[f"alpha_{s}"]) for s in ("audio", "video")}
        records.append(rec)
    return records


def summarize(df: pd.DataFrame, running: pd.DataFrame, plan: SessionChunks, used: tuple[str, ...],
              bundle: ModelBundle, interviewer: str, flags: list[str], notes: list[str]) -> dict[str, Any]:
    """The headline fields of the result from the chunk table and the running estimates."""
    final = running.iloc[-1]
    mu, sigma = float(final["mu"]), math.sqrt(float(final["var"]))
    probs = [float(final[p]) for p in P_BAND_COLUMNS]
    band = int(final["pred_band"])
    synthetic = bool(bundle.config.get("synthetic"))
    if synthetic:
        notes.append("the model was trained on a SYNTHETIC demo cohort: the number says nothing "
                     "about a person")
    if "audio" in used and bundle.preparation.get("vggish_weights_mode") == "random":
        notes.append("VGGish features with RANDOM weights (synthetic demo only)")
    res: dict[str, Any] = {
        "statement": STATEMENT,
        "low_confidence": bool(flags), "flags": list(flags), "notes": list(notes),
        "phq8": {"estimate": mu, "sigma": sigma, "interval90": _interval(mu, sigma),
                 "interval_variance": "mixture"},
        "band": {"index": band, "label": BAND_LABELS[band],
                 "probabilities": dict(zip(BAND_LABELS, probs, strict=True))},
        "binary": {"threshold": BINARY_THRESHOLD, "at_risk": bool(mu >= BINARY_THRESHOLD),
                   "p_from_bands": float(sum(probs[2:])),
                   "p_from_gaussian": float(norm.sf((BINARY_THRESHOLD - mu) / sigma))},
        "interviewer": interviewer,
        "modalities_used": list(used), "modalities_missing": [s for s in bundle.streams if s not in used],
        "n_chunks": len(df),
        "chunks": _chunk_records(plan, df, running),
    }
    if "gate_woz" in df:
        res["expert_weights"] = {w: float(df[f"gate_{w}"].mean()) for w in INTERVIEWERS}
    if "alpha_audio" in df:
        res["modality_gates"] = {s: float(df[f"alpha_{s}"].mean()) for s in ("audio", "video")}
    return res


def qc_record(inputs: SessionInput, feats: SessionFeatures, plan: SessionChunks,
              streams: dict[str, Stream]) -> dict:
    """The result's ``qc``: chunking, audio / face QC of the session, NaN values zeroed."""
    qc: dict[str, Any] = {"n_chunks": len(plan.entries), "chunking": plan.rule,
                          **{k: v for k, v in plan.qc.items() if v not in ("", None)}}
    if "audio" in feats.qc:
        a = feats.qc["audio"]
        qc.update(audio_duration_s=a["duration_s"], participant_speech_s=a["participant_seconds"],
                  segmentation=a["segmentation"], audio_flags=a["flags"],
                  vggish_examples=feats.qc["vggish"]["n_examples"])
    if "face" in feats.qc:
        f = feats.qc["face"]
        qc.update(face_frames=f["n_frames"], face_valid_share=f["n_valid"] / max(1, f["n_frames"]),
                  face_fps=f["fps_median"], face_flags=f["flags"])
    qc["nan_values_zeroed"] = sum(s.nan_zeroed for s in streams.values())
    return qc


def provenance(bundle: ModelBundle, feats: SessionFeatures, inputs: SessionInput,
               preparation: dict | None = None, aggregation: dict | None = None) -> dict:
    """The result's ``provenance``: model, feature sets, VGGish weights, normalization files,
    training dataset, the feature preparation used (``preparation``: the record of
    :func:`depsev.predict.contract.resolve_preparation`), inputs, versions."""
    cfg = bundle.config
    synthetic, kind = bool(cfg.get("synthetic")), cfg.get("dataset_kind")
    return {
        "model_dir": str(bundle.directory), "model_file_sha256": bundle.model_sha256,
        "model": {"kind": cfg.get("kind"), "modality": cfg.get("modality"), "seed": cfg.get("seed"),
                  "dev_participant_mae": cfg.get("result", {}).get("dev_participant_mae")},
        "feature_set": {s: bundle.stream_info[s].get("feature_set") for s in bundle.streams},
        "vggish_weights": feats.weights if feats.weights is not None else vggish_weights(bundle.preparation),
        "normalization": {s: {"file": str(p), "sha256": file_sha256(p)}
                          for s, p in bundle.stats_files.items()},
        "training_dataset": {"kind": kind, "synthetic": synthetic,
                             "description": ("SYNTHETIC demo cohort" if synthetic
                                             else f"real corpus ({kind})")},
        "preparation": preparation or {},
        "chunk_weighting": aggregation or {},
        "inputs": {k: (str(v) if v is not None else None) for k, v in vars(inputs).items()},
        "depsev_version": __version__, "torch_version": torch.__version__,
    }


def summary_line(result: dict[str, Any]) -> str:
    """One line a researcher can read: estimate, interval, band, risk, modalities, confidence."""
    p, b, r = result["phq8"], result["band"], result["binary"]
    lo, hi = p["interval90"]
    parts = [f"PHQ-8 {p['estimate']:.1f} +/- {p['sigma']:.1f} (90% {lo:.1f}-{hi:.1f})",
             f"band {b['label']} (p={b['probabilities'][b['label']]:.2f})",
             f"PHQ>={r['threshold']}: {'yes' if r['at_risk'] else 'no'} (p={r['p_from_bands']:.2f})",
             f"used {'+'.join(result['modalities_used'])}"]
    if "expert_weights" in result:
        parts.append("experts " + "/".join(f"{k} {v:.2f}" for k, v in result["expert_weights"].items()))
    if "modality_gates" in result:
        parts.append("gates " + "/".join(f"{k} {v:.2f}" for k, v in result["modality_gates"].items()))
    parts.append(f"{result['n_chunks']} chunk(s)")
    if result["low_confidence"]:
        parts.append("LOW CONFIDENCE: " + "; ".join(result["flags"]))
    if result["provenance"]["training_dataset"]["synthetic"]:
        parts.append("SYNTHETIC-trained model")
    return " | ".join(parts) + " | research measurement, not a diagnosis"


def write_result(result: dict[str, Any], path: str | Path) -> Path:
    """Write the result as JSON (indented)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
