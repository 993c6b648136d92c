"""A new session's chunks through the model: the used streams normalized with the training run's
statistics (:func:`session_streams`, by the shard stage's own :func:`depsev.shards.session.load_stream`),
the chunks as one model batch (:func:`chunk_batch`) and the model's outputs (:func:`run_model`,
through :func:`depsev.inference.predict_batches`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from depsev.constants import STREAM_KEYS
from depsev.hashing import file_sha256
from depsev.inference import predict_batches
from depsev.predict.bundle import ModelBundle
from depsev.predict.features import SessionFeatures
from depsev.shards.session import SessionChunks, Stream, load_stream


def session_streams(bundle: ModelBundle, feats: SessionFeatures, used: Sequence[str]) -> dict[str, Stream]:
    """The used streams of the session, normalized with the training run's statistics."""
    return {s: load_stream(feats.files[s], s, bundle.stats[s],
                           normalization_sha256=file_sha256(bundle.stats_files[s])) for s in used}


def chunk_batch(plan: SessionChunks, z: int) -> dict[str, torch.Tensor]:
    """Model batch of every chunk: ``xa/ma``, ``xv/mv`` of the used streams, ``z``, ``index``."""
    batch: dict[str, torch.Tensor] = {}
    n = len(plan.entries)
    for s in plan.entries[0] if n else ():
        kx, km = STREAM_KEYS[s]
        batch[kx] = torch.from_numpy(np.stack([e[s].seq for e in plan.entries]))
        batch[km] = torch.from_numpy(np.stack([e[s].mask for e in plan.entries]))
    batch["z"] = torch.full((n,), int(z), dtype=torch.int64)
    batch["index"] = torch.arange(n, dtype=torch.int64)
    return batch


def run_model(model: torch.nn.Module, batch: dict[str, torch.Tensor], batch_size: int = 16
              ) -> dict[str, np.ndarray]:
    """Model outputs (:func:`depsev.inference.predict_batches`) for every chunk of ``batch``, in
    slices of ``batch_size``."""
    n = int(batch["z"].shape[0])
    return predict_batches(model, ({k: v[start:start + batch_size] for k, v in batch.items()}
                                   for start in range(0, n, batch_size)))
