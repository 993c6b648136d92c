"""Does the paper's model learn?  The learning targets on a SYNTHETIC cohort, checked on a run's own
headline table, and a benchmark that runs the whole workflow on a cohort of another size and seed.

The targets (issue 12), all participant level, mean over seeds, from ``results/tables/headline.csv``:

- the fusion model's MAE at most 0.80 x the training-mean predictor's on dev, 0.90 x on test;
- its MAE at most 1.3 x the generator oracle's on dev and on test (the oracle knows the planted effects
  as realised in the files: :mod:`depsev.corpus.synthetic`);
- its CCC at least 0.4 on dev and 0.3 on test;
- the shuffled-label control's MAE at least 0.95 x the mean predictor's on dev and on test (a control
  that learns is a leak).

:func:`check_targets` reads a headline table; :func:`run_learning_benchmark` runs ``snakemake`` with
the repository's Snakefile and ``config.yaml`` in a scratch folder, with the demo cohort's size and
seed replaced (``depsev bench learning``), times it, and records the targets met and missed.  Nothing
here runs on a real corpus: the oracle exists only for the synthetic generator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from depsev.errors import InputError
from depsev.evaluate.tables import ROW_CONTROL, ROW_MEAN, ROW_ORACLE, ROW_REAL

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """``row``'s ``metric`` on ``split`` compared with ``factor`` x ``reference``'s (or with ``factor``
    alone when ``reference`` is None); ``at_most``: the value must not exceed the bound."""

    name: str
    split: str
    row: str
    metric: str
    factor: float
    reference: str | None
    at_most: bool


TARGETS = (
    Target("dev MAE <= 0.80 x mean predictor", "dev", ROW_REAL, "mae", 0.80, ROW_MEAN, True),
    Target("test MAE <= 0.90 x mean predictor", "test", ROW_REAL, "mae", 0.90, ROW_MEAN, True),
    Target("dev MAE <= 1.3 x generator oracle", "dev", ROW_REAL, "mae", 1.3, ROW_ORACLE, True),
    Target("test MAE <= 1.3 x generator oracle", "test", ROW_REAL, "mae", 1.3, ROW_ORACLE, True),
    Target("dev CCC >= 0.4", "dev", ROW_REAL, "ccc", 0.4, None, False),
    Target("test CCC >= 0.3", "test", ROW_REAL, "ccc", 0.3, None, False),
    Target("shuffled control dev MAE >= 0.95 x mean predictor", "dev", ROW_CONTROL, "mae", 0.95, ROW_MEAN,
           False),
    Target("shuffled control test MAE >= 0.95 x mean predictor", "test", ROW_CONTROL, "mae", 0.95, ROW_MEAN,
           False),
)


def _value(table: pd.DataFrame, split: str, row: str, metric: str, source: Any) -> float:
    sel = table[(table["split"] == split) & (table["row"] == row)]
    if len(sel) != 1 or f"{metric}_mean" not in table.columns:
        raise InputError(source, f"headline table has no single {row!r} row with {metric}_mean for {split!r}")
    return float(sel[f"{metric}_mean"].iloc[0])


def check_targets(headline: pd.DataFrame | str | Path) -> pd.DataFrame:
    """One row per target of :data:`TARGETS`: ``target, split, value, bound, met`` (and the ratio to
    the reference where there is one).  ``headline``: the table or the path of ``headline.csv``."""
    source = headline if isinstance(headline, (str, Path)) else None
    table = pd.read_csv(headline) if source is not None else headline
    for col in ("split", "row"):
        if col not in table.columns:
            raise InputError(source, f"not a headline table: no {col!r} column")
    rows = []
    for t in TARGETS:
        value = _value(table, t.split, t.row, t.metric, source)
        ref = _value(table, t.split, t.reference, t.metric, source) if t.reference else None
        bound = t.factor * ref if ref is not None else t.factor
        met = value <= bound if t.at_most else value >= bound
        rows.append({"target": t.name, "split": t.split, "value": value, "bound": bound,
                     "ratio_to_reference": value / ref if ref else None, "met": bool(met)})
    return pd.DataFrame(rows)


def targets_markdown(checks: pd.DataFrame) -> str:
    lines = ["| target | value | bound | met |", "|---|---|---|---|"]
    for r in checks.itertuples():
        lines.append(f"| {r.target} | {r.value:.3f} | {r.bound:.3f} | {'yes' if r.met else 'NO'} |")
    return "\n".join(lines)


def run_learning_benchmark(out_dir: str | Path, *, participants: int, minutes: float, seed: int,
                           cores: int = 2, config: str | Path | None = None,
                           timeout_s: int = 7200) -> dict[str, Any]:
    """Run the whole workflow on a SYNTHETIC cohort of ``participants`` x ``minutes`` (generator
    ``seed``) in ``out_dir`` with ``config`` (default: the repository's ``config.yaml``), then check
    the targets on its headline table.  Writes ``learning_benchmark.json`` and ``.md`` into ``out_dir``
    and returns the record (wall time, cohort, targets, the headline rows)."""
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = Path(config) if config is not None else REPO / "config.yaml"
    if not base.is_file():
        raise InputError(base, "config file not found")
    cfg = yaml.safe_load(base.read_text()) or {}
    if (cfg.get("dataset") or {}).get("kind") != "demo":
        raise InputError(base, "the learning benchmark runs on the synthetic demo cohort "
                               "(dataset.kind: demo)")
    cfg["dataset"]["root"] = "results/demo-cohort"
    cfg.setdefault("demo", {}).update(participants=int(participants), minutes=float(minutes), seed=int(seed))
    cfg_path = out / "learning-benchmark.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(int(cores)), "--snakefile",
           str(REPO / "Snakefile"), "--directory", str(out), "--configfile", str(cfg_path)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout_s)
    wall = time.monotonic() - start
    (out / "learning-benchmark.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"snakemake failed (exit {res.returncode}); see {out / 'learning-benchmark.log'}")
    headline = pd.read_csv(out / "results" / "tables" / "headline.csv")
    checks = check_targets(headline)
    record = {"synthetic": True, "cohort": {"participants": participants, "minutes": minutes, "seed": seed},
              "cores": cores, "wall_s": round(wall, 1), "config": str(cfg_path),
              "targets": checks.to_dict(orient="records"),
              "targets_met": int(checks["met"].sum()), "targets_total": len(checks),
              "headline": headline[["split", "row", "mae_mean", "ccc_mean"]].to_dict(orient="records")}
    (out / "learning_benchmark.json").write_text(json.dumps(record, indent=2))
    (out / "learning_benchmark.md").write_text(
        f"SYNTHETIC cohort {participants} x {minutes} min, seed {seed}: whole workflow in "
        f"{wall / 60:.1f} min on {cores} cores\n\n{targets_markdown(checks)}\n")
    return record
