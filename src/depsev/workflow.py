"""Small adapters used by the thin scripts in ``workflow/scripts/``.

The library never imports snakemake; the scripts pass plain values from the ``snakemake`` object to
library functions, with stdout/stderr sent to the rule's log file.
"""

from __future__ import annotations

import contextlib
import json
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


def fail(message: str) -> None:
    print(f"depsev: error: {message}", file=sys.stderr)
    raise SystemExit(1)
