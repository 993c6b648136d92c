"""Errors that name the file and the problem.

Every reader raises :class:`InputError` for bad input instead of letting a traceback escape from
deep inside pandas or numpy.  The message always starts with the path, then says what is wrong.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input: ``<path>: <problem>``."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)
