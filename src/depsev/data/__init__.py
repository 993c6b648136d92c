"""Torch datasets over the chunk shards (no model knowledge).

See :mod:`depsev.data.dataset`: :class:`ChunkDataset` (one split of one shard modality as
tensors), :func:`balanced_sampler` (class-balanced sampling of training chunks) and
:func:`data_fingerprint` (sha256 of the shard files a model was trained on).  The test split is
refused whenever a dataset is opened for training (``purpose="train"``).
"""

from depsev.data.dataset import (
    BATCH_KEYS,
    PURPOSES,
    ChunkDataset,
    TestSplitRefused,
    balanced_sampler,
    data_fingerprint,
    interviewer_code,
)

__all__ = ["BATCH_KEYS", "PURPOSES", "ChunkDataset", "TestSplitRefused", "balanced_sampler",
           "data_fingerprint", "interviewer_code"]
