"""Running Snakemake from the tests (the workflow tests share it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m snakemake *args`` with this venv's tools first on PATH; output captured."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def job_counts(out: str) -> dict[str, int]:
    """The "Job stats" table of a Snakemake (dry) run as {rule: number of jobs}."""
    block = out.split("Job stats:")[1].split("\n\n")[0]
    counts = {}
    for line in block.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts
