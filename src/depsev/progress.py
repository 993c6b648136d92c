"""Progress of the long steps (VGGish over a long session, audio cleaning, training epochs, ``depsev
predict``), for a terminal and a log file alike.

:class:`Progress` writes one line per update at a bounded rate (at most one per ``every`` seconds),
e.g. ``vggish 312/1200 examples (26%), 4.1 s elapsed, ~12 s left``, and a final ``100%`` line from
:meth:`Progress.done`. A step shorter than ``every`` seconds writes nothing (a benchmark's or a test's
many short calls stay quiet); ``every=0`` writes every update (training epochs, ``depsev predict``'s
stages). Where the lines go:

- to a terminal (``stream.isatty()``): updated in place (carriage return), the final line ends it;
- anywhere else (a rule's log file, a pipe): through :mod:`logging` (logger ``depsev.progress``, level
  INFO), one plain line each, never a carriage return -- the rule scripts' logs capture them. When no
  logging handler is configured at all, a fallback handler writes them, timestamped, to the current
  ``sys.stderr`` (the job's log while :func:`depsev.workflow.job` redirects it).

Output only: nothing here changes what the step computes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger("depsev.progress")
logger.setLevel(logging.INFO)


class _CurrentStderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a line is written (redirections included)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s"))

    @property
    def stream(self):  # noqa: ANN201 - the StreamHandler attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - StreamHandler.__init__ sets it
        pass


_FALLBACK = _CurrentStderr()
#: the least seconds between two lines when a step does not say (:class:`Progress` ``every``)
DEFAULT_EVERY = 10.0


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class Progress:
    """Counts ``unit``s of the step ``what`` out of ``total`` (``None``: unknown) and reports them.

    ``every``: the least seconds between two lines, and before the first (0: every update; ``None``:
    :data:`DEFAULT_EVERY`). ``stream``: the terminal to update
    in place, if it is one (default ``sys.stderr``); ``clock``: seconds, monotonic (tests pass a fake).
    """

    def __init__(self, what: str, total: int | None = None, *, unit: str = "", every: float | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit = what, total, unit
        self.every = float(DEFAULT_EVERY if every is None else every)
        self.clock = clock
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.count = 0
        self.start = clock()
        self._last = self.start  # the first line after ``every`` seconds
        self._wrote = False
        self._width = 0
        self.finished = False

    # ------------------------------------------------------------------ lines
    def line(self, note: str = "", *, final: bool = False) -> str:
        elapsed = self.clock() - self.start
        unit = f" {self.unit}" if self.unit else ""
        if final:
            text = f"{self.what} {self.count}/{self.count}{unit} (100%), {_seconds(elapsed)}"
        elif self.total:
            share = self.count / self.total
            text = f"{self.what} {self.count}/{self.total}{unit} ({share:.0%}), {_seconds(elapsed)} elapsed"
            if 0 < self.count < self.total:
                text += f", ~{_seconds(elapsed * (self.total - self.count) / self.count)} left"
        else:
            text = f"{self.what} {self.count}{unit}, {_seconds(elapsed)} elapsed"
        return f"{text}: {note}" if note else text

    def _write(self, text: str, *, final: bool) -> None:
        if self.tty:
            pad = " " * max(0, self._width - len(text))
            self.stream.write("\r" + text + pad + ("\n" if final else ""))
            self.stream.flush()
            self._width = 0 if final else len(text)
            return
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, text, None, None)
        if logger.hasHandlers():
            logger.handle(record)
        else:
            _FALLBACK.handle(record)

    # ------------------------------------------------------------------ counting
    def update(self, n: int = 1, note: str = "") -> None:
        """``n`` more units done; a line when ``every`` seconds passed since the last (or the start)."""
        self.count += n
        now = self.clock()
        if now - self._last >= self.every:
            self._last = now
            self._wrote = True
            self._write(self.line(note), final=False)

    def done(self, note: str = "") -> None:
        """The final line (100 %: the step finished with ``count`` units), once; none for a step that
        wrote no line and took less than ``every`` seconds."""
        if not self.finished:
            self.finished = True
            if self._wrote or self.clock() - self.start >= self.every:
                self._write(self.line(note, final=True), final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self.done()
        elif self.tty and self._width:
            self.stream.write("\n")  # leave the partial line, the error starts on its own
