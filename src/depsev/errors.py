"""Errors that name the file and the problem.

Every reader raises :class:`InputError` for bad input instead of letting a traceback escape from
deep inside pandas or numpy.  The message always starts with the path, then says what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input: ``<path>: <problem>``."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


def read_json(path: str | Path, *, missing: str = "not found") -> Any:
    """A JSON file's content; :class:`InputError` naming the file when it is absent (``missing``: the
    problem to say), unreadable, or not valid JSON."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, missing)
    try:
        return json.loads(p.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(p, f"cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(p, f"not valid JSON ({exc.msg})") from exc
