"""Make the checkout's ``src/depsev`` importable in whatever environment runs a rule's script.

Imported first by every script in this folder (``import _depsev``); Snakemake runs scripts with their
own folder on ``sys.path``.
"""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[2] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
