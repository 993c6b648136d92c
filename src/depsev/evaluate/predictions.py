"""Predictions of trained checkpoints on a labelled split of the chunk shards (rule ``evaluate``).

THE ONLY CODE THAT OPENS THE TEST SPLIT.  :func:`open_split` is the one place in depsev that opens a
:class:`~depsev.data.ChunkDataset` with ``purpose="evaluate"`` (true labels, every split, ``test``
included); training opens its data with ``purpose="train"``, which refuses ``test``
(:class:`~depsev.data.TestSplitRefused`), and never imports this module (``tests/test_layers.py``
checks both).  ``depsev export`` and ``depsev bench predict`` open the split they compare on through
:func:`open_split` too.

:func:`predict_split` loads a checkpoint (:func:`depsev.checkpoint.load_checkpoint`), checks that the
shards were prepared as its training data was (:func:`depsev.checkpoint.check_features_match`) and
predicts every chunk (:func:`depsev.inference.predict_dataset`), with gender joined from the manifest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from depsev.checkpoint import check_features_match, load_checkpoint
from depsev.data.dataset import ChunkDataset
from depsev.errors import InputError
from depsev.inference import predict_dataset


def open_split(shard_root: str | Path, modality: str, split: str) -> ChunkDataset:
    """The :class:`~depsev.data.ChunkDataset` of ``<shard_root>/<modality>/<split>`` with its true
    labels (``purpose="evaluate"``; any split, ``test`` included)."""
    return ChunkDataset.from_shards(shard_root, modality, split, purpose="evaluate")


def split_dataset(shard_dir: str | Path) -> ChunkDataset:
    """The dataset of the shard folder ``results/shards/<modality>/<split>`` (:func:`open_split`), to
    predict several checkpoints on one read."""
    shard_dir = Path(shard_dir)
    return open_split(shard_dir.parents[1], shard_dir.parent.name, shard_dir.name)


def predict_split(model_dir: str | Path, shard_dir: str | Path, manifest: pd.DataFrame | None = None,
                  dataset: ChunkDataset | None = None) -> pd.DataFrame:
    """Chunk predictions of the checkpoint in ``model_dir`` on the shards in ``shard_dir``
    (``results/shards/<modality>/<split>``), with gender joined from the manifest.  ``dataset``: that
    folder's :func:`split_dataset`, when the caller has read it already."""
    shard_dir = Path(shard_dir)
    model, config = load_checkpoint(model_dir)
    split, modality = shard_dir.name, shard_dir.parent.name
    if modality != config.get("shard_modality", modality):
        raise InputError(shard_dir, f"model {model_dir} reads {config['shard_modality']} shards, "
                                    f"not {modality}")
    if dataset is None:
        dataset = split_dataset(shard_dir)
    elif (dataset.modality, dataset.split) != (modality, split):
        raise ValueError(f"dataset of {dataset.modality}/{dataset.split} given for {shard_dir}")
    check_features_match(config, dataset.provenance(), shard_dir)
    df = predict_dataset(model, config, dataset)
    if manifest is not None and len(df):
        gender = dict(zip(manifest["participant_id"].astype(int), manifest["gender"].astype(str),
                          strict=True))
        df["gender"] = df["participant_id"].astype(int).map(gender).fillna("")
    return df
