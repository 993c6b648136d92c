"""Small adapters used by the thin scripts in ``workflow/scripts/``.

The library never imports snakemake; the scripts pass plain values from the ``snakemake`` object to
library functions, with stdout/stderr sent to the rule's log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def log_to(path: str | Path | None):
    """Send stdout and stderr (including tracebacks) to ``path`` while the block runs."""
    if not path:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            yield
        except BaseException:
            import traceback

            traceback.print_exc(file=fh)
            raise


def write_json(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")


def _default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray,)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def single_log(snakemake) -> str | None:  # noqa: ANN001 - the snakemake script object
    return snakemake.log[0] if len(snakemake.log) else None


#: the thread-pool sizes that numeric libraries read when they are first imported
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Hold the job to the ``threads:`` its rule was given. Snakemake sets OMP_NUM_THREADS for shell
    rules only; a script would otherwise start one compute thread per core (torch's default), so two
    one-thread jobs side by side, or a one-CPU SLURM allocation, ran oversubscribed. Called before
    numpy or torch are imported (both read these variables then); torch is also told directly when it
    is already loaded."""
    threads = max(1, int(threads))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch limited to ``n`` intra-op threads inside the block (``None``/0: unchanged), restored after."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def job(snakemake):  # noqa: ANN001 - the snakemake script object
    """A rule's script body: its threads limited to the rule's ``threads:`` (:func:`limit_threads`),
    stdout and stderr sent to its log."""
    limit_threads(snakemake.threads)
    with log_to(single_log(snakemake)):
        yield


def fail(message: str) -> None:
    print(f"depsev: error: {message}", file=sys.stderr)
    raise SystemExit(1)
