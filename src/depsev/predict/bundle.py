"""The model folder of ``depsev predict``: a torch checkpoint with the training run's normalization
statistics (:class:`ModelBundle`), the streams asked of it, and its chunk configuration.

A checkpoint records how its training features were prepared under one key,
``config.json["features"]["preparation"]`` (:attr:`ModelBundle.preparation`); checkpoints without
it (older shard schema versions are refused by :func:`depsev.checkpoint.load_checkpoint`) are refused.
The contract between the model and a session's features is checked by :mod:`depsev.predict.contract`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from depsev.checkpoint import MODEL_FILE, load_checkpoint
from depsev.errors import InputError
from depsev.hashing import file_sha256
from depsev.models import model_streams
from depsev.shards.chunks import ChunkConfig
from depsev.shards.normalize import load_stats
from depsev.shards.preparation import PREPARATION_KEY


@dataclass
class ModelBundle:
    """A loaded model with what is needed to prepare its inputs."""

    model: torch.nn.Module
    config: dict
    directory: Path
    streams: tuple[str, ...]
    stats: dict[str, dict] = field(default_factory=dict)
    stats_files: dict[str, Path] = field(default_factory=dict)
    model_sha256: str = ""

    @property
    def stream_info(self) -> dict[str, dict]:
        """Shard metadata per stream (feature set, dim, chunk_frames, steps, downsample, normalization)."""
        return self.config.get("features", {}).get("streams", {})

    @property
    def preparation(self) -> dict[str, Any]:
        """How the training features were prepared: ``config.json["features"]["preparation"]``."""
        return self.config["features"][PREPARATION_KEY]


def default_normalize_dir(config: dict) -> Path:
    """``<shard_root>/../normalize``: where the training run wrote its statistics."""
    return Path(config.get("data", {}).get("shard_root", "results/shards")).parent / "normalize"


def load_model_bundle(model_dir: str | Path, normalize_dir: str | Path | None = None) -> ModelBundle:
    """Load a torch checkpoint folder and the training run's normalization statistics of its streams."""
    model_dir = Path(model_dir)
    model, config = load_checkpoint(model_dir)
    if not isinstance(model, torch.nn.Module):
        raise InputError(model_dir, f"kind {config.get('kind')!r} is not a torch model; depsev predict "
                                    "runs the neural models (fusion, moe, expert, lstm, resnet)")
    streams = model_streams(config["modality"])
    infos = config.get("features", {}).get("streams", {})
    missing = [s for s in streams if s not in infos]
    if missing:
        raise InputError(model_dir / "config.json", f"no feature provenance for stream(s) {missing}")
    if not isinstance(config.get("features", {}).get(PREPARATION_KEY), dict):
        raise InputError(model_dir / "config.json", f"no feature preparation recorded (features."
                                                    f"{PREPARATION_KEY}): retrain the model with this depsev")
    ndir = Path(normalize_dir) if normalize_dir is not None else default_normalize_dir(config)
    bundle = ModelBundle(model=model, config=config, directory=model_dir, streams=streams,
                         model_sha256=file_sha256(model_dir / MODEL_FILE))
    for s in streams:
        name = (infos[s].get("normalization") or {}).get("file") or f"{s}.json"
        path = ndir / name
        if not path.is_file():
            raise InputError(path, f"the {s} normalization statistics of the model's training run are "
                                   "not here; pass the run's results/normalize folder (normalize_dir / "
                                   "--normalize)")
        bundle.stats[s], bundle.stats_files[s] = load_stats(path), path
    return bundle


def requested_streams(bundle: ModelBundle, modalities: Sequence[str] | None) -> tuple[str, ...]:
    """The streams to predict from: ``modalities`` (a non-empty subset of the model's streams, in the
    model's order) or, when ``None``, every stream the model reads."""
    if modalities is None:
        return bundle.streams
    bad = [m for m in modalities if m not in ("audio", "video")]
    if bad or not modalities:
        raise InputError(None, "modalities must be a non-empty subset of ('audio', 'video'), got "
                               f"{list(modalities)}")
    unknown = [m for m in modalities if m not in bundle.streams]
    if unknown:
        raise InputError(bundle.directory, f"the model ({bundle.config['kind']}/{bundle.config['modality']}) "
                                           f"does not read {unknown}")
    return tuple(s for s in bundle.streams if s in modalities)


def model_chunk_config(bundle: ModelBundle, min_coverage: float) -> ChunkConfig:
    """The chunk configuration of the model's training shards (``config.json`` features
    ``chunk_config``), with ``min_coverage`` as asked for."""
    recorded = bundle.config.get("features", {}).get("chunk_config")
    if not recorded:
        raise InputError(bundle.directory / "config.json", "no chunk_config in the features provenance: "
                                                           "retrain the model with this depsev")
    return ChunkConfig.coerce({**recorded, "min_coverage": float(min_coverage)})
