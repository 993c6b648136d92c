"""Model-agnostic training loop: Adam + weight decay, gradient accumulation, class-balanced
sampling, participant-level dev evaluation every epoch, early stopping on dev participant MAE.

The :class:`Trainer` knows nothing about a model except that ``model(batch)`` returns a
:class:`depsev.models.Prediction` (``mu``, ``var``, ``logits``; optional ``gate`` / ``alpha``) and
that ``loss(pred, score, band)`` returns a scalar tensor or an object with a ``total`` tensor
(:class:`depsev.train.losses.CombinedLoss`).

Every epoch, the DEV chunks are predicted, aggregated per participant with
:func:`depsev.evaluate.aggregate.aggregate_participants` (its default ``capped`` weighting of the
chunk ``mu``: no chunk counts more than one of the participant's median variance) and scored by
participant MAE / RMSE; the epoch with the lowest dev participant MAE is the chosen checkpoint, and
training stops after ``patience`` epochs without improvement.  It only ever
sees the datasets it is given -- the training entry point (:mod:`depsev.train.run`) opens train and
dev only, with ``purpose="train"``, which refuses the test split.

Modality dropout (``TrainConfig.modality_dropout`` = p > 0, two-stream batches only): each training
batch goes through :func:`modality_dropout`, which hides the audio stream of a chunk with
probability p and its video stream with probability p, never both, by setting the stream's mask
row to all False (and its frames to 0) -- exactly what a missing stream looks like at predict time,
so the fusion gate and heads learn to work with one stream.  Dev evaluation always sees both.

Determinism: for a seed, training on CPU is bit-reproducible -- ``torch.manual_seed(seed)`` at the
start of :meth:`Trainer.fit` (dropout), a seeded generator for the sampler and another one for
modality dropout (separate, so the order of the chunks does not depend on ``modality_dropout``),
``num_workers=0``; on CUDA also ``torch.use_deterministic_algorithms(True)`` and deterministic cuDNN
while fitting (the previous settings are restored).  On the CPU the ops of these models (LSTM, conv,
linear, masked means) are deterministic for a fixed thread count, so the switch is not touched there:
it imports ``torch._inductor`` (1.6 s measured, in every training job of the workflow).  Tested: two
fits with one seed give byte-equal weights.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler

from depsev.constants import STREAM_KEYS
from depsev.data.dataset import ChunkDataset, balanced_sampler
from depsev.evaluate.aggregate import aggregate_participants
from depsev.inference import chunk_table, predict_batches, to_device
from depsev.progress import Progress
from depsev.train.config import TrainConfig

#: columns of the per-epoch learning curves
CURVE_COLUMNS = ["epoch", "train_loss", "dev_loss", "dev_participant_mae", "dev_participant_rmse",
                 "dev_chunk_mae", "lr"]

LossFn = Callable[[Any, Tensor, Tensor], Any]

#: mixed into the seed of the modality-dropout generator (kept apart from the sampler's)
MODALITY_DROPOUT_SEED_TAG = 0x6D6F64


def modality_dropout(batch: dict[str, Tensor], p: float, generator: torch.Generator) -> dict[str, Tensor]:
    """``batch`` with, per row, the audio stream hidden with probability ``p`` and the video stream
    with probability ``p`` -- never both (``p`` <= 0.5).

    One uniform ``u`` per row (drawn from ``generator``, on the CPU): ``u < p`` hides audio,
    ``p <= u < 2p`` hides video.  A stream is hidden by setting its mask row (``ma`` / ``mv``) to all
    False and its frames (``xa`` / ``xv``) to 0.  A row whose other stream has no real frame keeps
    its stream (a row never ends with neither), so on such data the share hidden is a little below
    ``p``.  Returns a new dict (the input tensors are not modified); with ``p == 0`` or fewer than
    two streams in the batch, returns ``batch`` itself and draws nothing.
    """
    streams = [s for s, (kx, km) in STREAM_KEYS.items() if kx in batch and km in batch]
    if p <= 0 or len(streams) < 2:
        return batch
    if p > 0.5:
        raise ValueError(f"modality_dropout must be <= 0.5 (never both streams), got {p}")
    ma, mv = batch[STREAM_KEYS["audio"][1]], batch[STREAM_KEYS["video"][1]]
    u = torch.rand(ma.shape[0], generator=generator).to(ma.device)
    has_a, has_v = ma.any(dim=1), mv.any(dim=1)
    hide = {"audio": (u < p) & has_v, "video": (u >= p) & (u < 2 * p) & has_a}
    out = dict(batch)
    for s, rows in hide.items():
        kx, km = STREAM_KEYS[s]
        out[km] = batch[km] & ~rows[:, None]
        out[kx] = batch[kx].masked_fill(rows[:, None, None], 0.0)
    return out


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns (the model holds the chosen epoch's weights)."""

    model: nn.Module
    best_epoch: int
    best_dev_mae: float
    epochs_run: int
    stopped_early: bool
    curves: pd.DataFrame
    dev_chunks: pd.DataFrame
    dev_participants: pd.DataFrame


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(enabled)`` (+ cuDNN flags) inside, restored afterwards --
    on CUDA devices only (see the module docstring)."""
    if device.type != "cuda":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if enabled and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    if enabled:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def loss_total(out: Any) -> Tensor:
    """The scalar to back-propagate from a loss output (a tensor or anything with ``.total``)."""
    return out.total if hasattr(out, "total") else out


class Trainer:
    """Fit ``model`` on ``train`` with ``loss``; choose the epoch by dev participant MAE."""

    def __init__(self, model: nn.Module, loss: LossFn, cfg: TrainConfig, train: ChunkDataset,
                 dev: ChunkDataset, *, label: str = "train"):
        if len(train) == 0 or len(dev) == 0:
            raise ValueError("training and dev datasets must not be empty")
        self.cfg = cfg
        self.device = cfg.resolved_device()
        self.model = model.to(self.device)
        self.loss = loss.to(self.device) if isinstance(loss, nn.Module) else loss
        self.train_set, self.dev_set = train, dev
        self.label = label  # names the run in the progress lines (depsev.progress)
        self.modality_generator = self._new_modality_generator()

    def _new_modality_generator(self) -> torch.Generator:
        """The seeded generator of :func:`modality_dropout` (reset at the start of :meth:`fit`)."""
        seed = int(np.random.SeedSequence([self.cfg.seed, MODALITY_DROPOUT_SEED_TAG]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ loaders
    def _train_loader(self) -> DataLoader:
        seed = self.cfg.seed
        if self.cfg.balanced_sampling:
            sampler = balanced_sampler(self.train_set, seed)
        else:
            sampler = RandomSampler(self.train_set, generator=torch.Generator().manual_seed(seed))
        return DataLoader(self.train_set, batch_size=self.cfg.batch_size, sampler=sampler, num_workers=0)

    def _eval_loader(self, dataset: ChunkDataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.cfg.batch_size, shuffle=False, num_workers=0)

    def make_optimizer(self) -> torch.optim.Optimizer:
        """Adam with the configured lr, betas, eps and weight decay (paper section 4.2)."""
        c = self.cfg
        return torch.optim.Adam(self.model.parameters(), lr=c.lr, betas=c.betas, eps=c.eps,
                                weight_decay=c.weight_decay)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self, loader: DataLoader, optimizer: torch.optim.Optimizer, epoch: int) -> float:
        """One pass; gradients of ``grad_accum_steps`` mini-batches summed per step. Mean chunk loss."""
        self.model.train()
        accum = self.cfg.grad_accum_steps
        total, seen = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        n_batches = len(loader)
        p = self.cfg.modality_dropout
        for i, batch in enumerate(loader):
            batch = to_device(batch, self.device)
            if p > 0 and self._multi_stream_model():
                batch = modality_dropout(batch, p, self.modality_generator)
            value = loss_total(self.loss(self.model(batch), batch["y"], batch["band"]))
            if not torch.isfinite(value):
                raise FloatingPointError(f"epoch {epoch}, batch {i}: training loss is {value.item()}")
            (value / accum).backward()
            n = int(batch["y"].shape[0])
            total, seen = total + float(value.detach()) * n, seen + n
            if (i + 1) % accum == 0 or i + 1 == n_batches:
                if self.cfg.clip_grad_norm > 0:
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return total / max(seen, 1)

    def _multi_stream_model(self) -> bool:
        """False for a model that says it reads one stream (``modalities``); the batch decides else."""
        modalities = getattr(self.model, "modalities", None)
        return modalities is None or len(modalities) >= 2

    def predict(self, dataset: ChunkDataset) -> tuple[pd.DataFrame, float]:
        """Chunk-level predictions of ``dataset`` (eval mode, no gradients:
        :func:`depsev.inference.predict_batches`) and the mean chunk loss."""
        total, seen = 0.0, 0

        def add_loss(pred: Any, batch: dict[str, Tensor]) -> None:
            nonlocal total, seen
            n = int(batch["y"].shape[0])
            total += float(loss_total(self.loss(pred, batch["y"], batch["band"]))) * n
            seen += n

        out = predict_batches(self.model, self._eval_loader(dataset), device=self.device, on_batch=add_loss)
        return chunk_table(dataset, out), total / max(seen, 1)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> TrainResult:
        """Train up to ``max_epochs``; return the model with the best dev epoch's weights."""
        cfg = self.cfg
        with deterministic_mode(cfg.deterministic, self.device):
            torch.manual_seed(cfg.seed)
            self.modality_generator = self._new_modality_generator()
            optimizer = self.make_optimizer()
            loader = self._train_loader()
            rows: list[dict[str, float]] = []
            best: dict[str, Any] = {"mae": math.inf, "epoch": 0}
            stale, stopped = 0, False
            progress = Progress(self.label, cfg.max_epochs, unit="epochs", every=0)
            for epoch in range(1, cfg.max_epochs + 1):
                train_loss = self.train_epoch(loader, optimizer, epoch)
                chunks, dev_loss = self.predict(self.dev_set)
                people = participant_table(chunks)
                mae = float(np.mean(np.abs(people["mu"] - people["phq_score"])))
                rmse = float(np.sqrt(np.mean((people["mu"] - people["phq_score"]) ** 2)))
                rows.append({"epoch": epoch, "train_loss": train_loss, "dev_loss": dev_loss,
                             "dev_participant_mae": mae, "dev_participant_rmse": rmse,
                             "dev_chunk_mae": float(np.mean(np.abs(chunks["mu"] - chunks["phq_score"]))),
                             "lr": optimizer.param_groups[0]["lr"]})
                progress.update(note=f"train loss {train_loss:.4f}, dev loss {dev_loss:.4f}, "
                                     f"dev participant MAE {mae:.3f}")
                if mae < best["mae"] - cfg.min_delta:
                    best = {"mae": mae, "epoch": epoch, "chunks": chunks, "people": people,
                            "state": copy.deepcopy(self.model.state_dict())}
                    stale = 0
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        stopped = True
                        break
            progress.done(note=f"best epoch {best['epoch']} (dev participant MAE {best['mae']:.3f})"
                               + (f", stopped early (patience {cfg.patience})" if stopped else ""))
        self.model.load_state_dict(best["state"])
        return TrainResult(model=self.model, best_epoch=best["epoch"], best_dev_mae=best["mae"],
                           epochs_run=len(rows), stopped_early=stopped,
                           curves=pd.DataFrame(rows, columns=CURVE_COLUMNS), dev_chunks=best["chunks"],
                           dev_participants=best["people"])


def participant_table(chunks: pd.DataFrame) -> pd.DataFrame:
    """Per-participant predictions (:func:`depsev.evaluate.aggregate.aggregate_participants`)."""
    return aggregate_participants(chunks, source="dev chunk predictions")
