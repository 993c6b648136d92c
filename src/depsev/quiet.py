"""Known-harmless third-party warnings, silenced where they arise, and nothing else.

``depsev export``, ``depsev bench predict`` and ``depsev bench model`` used to print pages of warnings
from the torch ONNX exporter and onnxruntime around their result. Each message below was read and
judged harmless for what depsev does; every other warning or log record still reaches the user.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: (warning category, message pattern, why it is harmless here)
KNOWN_WARNINGS = (
    (UserWarning, r"The tensor attributes .*_flat_weights.* were assigned during export",
     "torch.onnx re-binds nn.LSTM's flattened weights while tracing; every export is checked against "
     "PyTorch on random inputs (parity) and refused beyond the fp32 tolerance"),
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     "raised inside torch's own pytree code during export, not by depsev"),
)

#: (logger name, message pattern, why it is harmless here); "" is the root logger
KNOWN_LOG_RECORDS = (
    ("torch.onnx._internal.exporter._registration", r"torchvision is not installed",
     "the exporter registers torchvision's detection ops when present; depsev's models use none"),
    ("", r"Please consider to run pre-processing before quantization",
     "onnxruntime's advice for static quantization of image models; depsev quantizes dynamically "
     "(int8 weights), and the int8 file is checked against PyTorch"),
)


class _Drop(logging.Filter):
    """Drops the records whose message matches ``pattern``."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


@contextmanager
def known_warnings_silenced() -> Iterator[None]:
    """While the block runs, the messages of :data:`KNOWN_WARNINGS` and :data:`KNOWN_LOG_RECORDS` are
    dropped; the previous warning filters and logger filters are restored afterwards."""
    added: list[tuple[logging.Logger, logging.Filter]] = []
    with warnings.catch_warnings():
        for category, pattern, _why in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern, category=category)
        for name, pattern, _why in KNOWN_LOG_RECORDS:
            logger = logging.getLogger(name)
            drop = _Drop(pattern)
            logger.addFilter(drop)
            added.append((logger, drop))
        try:
            yield
        finally:
            for logger, drop in added:
                logger.removeFilter(drop)
