"""Compute cost of a full-corpus run, extrapolated from the ``benchmark:`` files of a (demo) run.

Every rule of the workflow writes a Snakemake benchmark TSV (columns ``s``, ``h:m:s``, ``max_rss``,
``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``, ``mean_load``, ``cpu_time``; one row per
repeat) under ``benchmarks/<rule>/...``. :func:`cost_table` reads them all and reports, per stage:

* the measured CPU-seconds (``cpu_time``), wall seconds (``s``) and peak resident memory (``max_rss``,
  MB) of the run, per session and per hour of audio (durations from the manifest);
* an extrapolation to the full E-DAIC (275 sessions, 74 h of audio): CPU-hours, jobs, and the
  longest single job;

and for the whole run the total CPU-hours and the wall time on N nodes of ``cores_per_node`` cores.

The model is deliberately simple and stated in the table: a per-session stage's CPU and wall time
are proportional to the session's audio duration (face frames scale with it too), so a demo with
minute-long sessions, whose jobs are dominated by interpreter start-up and imports, OVER-estimates
the cost (an upper bound); a cohort-wide stage (normalize_fit, chunk_shards, manifest_build,
qc_summary) scales with the corpus' total hours and keeps its number of jobs; ``demo_generate``
does not exist in a real run and is left out of the totals.  For the per-session stages,
``depsev bench stages`` (:mod:`depsev.bench_stages`) measures real-length sessions with the per-job
start-up kept apart, and supersedes this upper bound. The N-node wall time is the larger of
perfect packing (CPU-hours / cores) and the critical path (the longest job of each stage, in
stage order), i.e. an optimistic lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from depsev.errors import InputError

#: the full E-DAIC (Ringeval et al. 2019): labelled sessions and hours of interview audio
EDAIC_SESSIONS = 275
EDAIC_AUDIO_HOURS = 74.0
#: benchmark columns the table needs (Snakemake writes more)
REQUIRED_COLUMNS = ("s", "max_rss", "cpu_time")
#: rules that exist only for the synthetic demo
DEMO_ONLY_RULES = frozenset({"demo_generate"})
#: order of the stages in the pipeline (the critical path follows it); unknown rules go last
STAGE_ORDER = ("demo_generate", "manifest_build", "openface_extract", "face_frames", "audio_clean",
               "vggish_embed", "opensmile_lld", "vgg16_read", "egemaps_read", "normalize_fit",
               "normalize_apply", "chunk_shards", "qc_summary")
#: which stages run one after another; stages in the same tuple run side by side
_PATH_LAYERS = (("manifest_build",), ("openface_extract", "audio_clean", "vgg16_read", "egemaps_read"),
                ("face_frames", "vggish_embed", "opensmile_lld"), ("normalize_fit",), ("normalize_apply",),
                ("chunk_shards",), ("qc_summary",))


@dataclass(frozen=True)
class CostTable:
    """The per-stage table, the whole-run summary and both as markdown."""

    #: one row per stage (columns documented in :func:`cost_table`)
    stages: pd.DataFrame
    #: one row per node count: nodes, cores, cpu_hours, wall_hours
    nodes: pd.DataFrame
    #: the two tables and the model's assumptions, as markdown
    markdown: str


def read_benchmark(path: Path) -> pd.DataFrame:
    """One Snakemake benchmark TSV (InputError when it is empty or lacks s/max_rss/cpu_time).

    Snakemake writes ``NA`` for a measure it could not take; those rows are kept and the value is NaN.
    """
    try:
        df = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a Snakemake benchmark TSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"benchmark lacks column(s) {missing}; has {list(df.columns)}")
    if df.empty:
        raise InputError(path, "benchmark has a header but no measurement")
    if df["s"].isna().any():
        raise InputError(path, "benchmark has no wall time (column 's' is NA)")
    for col in REQUIRED_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise InputError(path, f"column {col!r} has non-numeric value(s) {df.loc[bad, col].tolist()}")
        df[col] = values
    return df


def collect_benchmarks(benchmark_dir: str | Path) -> pd.DataFrame:
    """Every ``benchmarks/**/*.tsv`` as one row per job (mean over repeats).

    Columns: ``rule`` (first folder under ``benchmark_dir``, or the file stem for top-level files),
    ``job`` (the rest of the path), ``participant_id`` (Int64: the file stem when it is a number, i.e.
    a per-session job), ``s``, ``cpu_time``, ``max_rss``.
    """
    root = Path(benchmark_dir)
    if not root.is_dir():
        raise InputError(root, "benchmark folder does not exist")
    files = sorted(root.rglob("*.tsv"))
    if not files:
        raise InputError(root, "no benchmark *.tsv files under this folder (run the workflow first)")
    rows = []
    for f in files:
        rel = f.relative_to(root)
        df = read_benchmark(f)
        rule = rel.parts[0] if len(rel.parts) > 1 else f.stem
        stem = f.stem
        rows.append({
            "rule": rule,
            "job": str(rel.with_suffix("")),
            "participant_id": int(stem) if stem.isdigit() and len(rel.parts) > 1 else pd.NA,
            "s": float(df["s"].mean()),
            "cpu_time": float(df["cpu_time"].mean()),
            "max_rss": float(df["max_rss"].max()),
        })
    jobs = pd.DataFrame(rows)
    jobs["participant_id"] = jobs["participant_id"].astype("Int64")
    return jobs


def _durations(manifest: pd.DataFrame) -> pd.Series:
    """Audio seconds per participant from the manifest (InputError on missing columns/values)."""
    need = {"participant_id", "audio_duration_s"}
    if not need <= set(manifest.columns):
        raise InputError(None, f"manifest lacks column(s) {sorted(need - set(manifest.columns))}")
    dur = pd.to_numeric(manifest["audio_duration_s"], errors="coerce")
    return pd.Series(dur.to_numpy(), index=manifest["participant_id"].astype(int).to_numpy())


def _stage_key(rule: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(rule) if rule in STAGE_ORDER else len(STAGE_ORDER), rule)


def stage_costs(jobs: pd.DataFrame, manifest: pd.DataFrame, *, sessions: int = EDAIC_SESSIONS,
                audio_hours: float = EDAIC_AUDIO_HOURS) -> pd.DataFrame:
    """Per-stage measured and extrapolated costs (see the module docstring for the model).

    A per-session job whose participant has no audio duration in the manifest raises InputError
    (it cannot be scaled, and dropping it would under-count).
    """
    dur = _durations(manifest)
    per_session = jobs["participant_id"].notna()
    pids = jobs.loc[per_session, "participant_id"].astype(int)
    unknown = sorted(set(pids) - set(dur.dropna().index))
    if unknown:
        raise InputError(None, f"benchmarks of participant(s) {unknown} but no audio_duration_s "
                               "in the manifest")
    measured = dur.loc[sorted(set(pids))] if len(pids) else dur.dropna()
    demo_hours = float(measured.sum() / 3600)
    if demo_hours <= 0:
        raise InputError(None, "the measured sessions have no audio (total duration 0): nothing to scale")
    mean_session_h = audio_hours / sessions
    rows = []
    for rule, g in sorted(jobs.groupby("rule"), key=lambda kv: _stage_key(kv[0])):
        kind = "demo only" if rule in DEMO_ONLY_RULES else ("per session" if g["participant_id"].notna().all()
                                                            else "cohort")
        if kind == "per session":
            hours = dur.loc[g["participant_id"].astype(int).to_numpy()].to_numpy() / 3600
            n_sessions = g["participant_id"].nunique()
            jobs_per_session = len(g) / n_sessions
            wall_per_h = g["s"].to_numpy() / hours
            full_jobs = int(round(jobs_per_session * sessions))
            # the longest job: the worst measured wall time per audio hour, on a mean-length session
            full_longest = float(wall_per_h.max() * mean_session_h)
            # each session's audio counted once, however many jobs it has (normalize_apply: one per modality)
            stage_hours = float(dur.loc[g["participant_id"].astype(int).unique()].sum() / 3600)
        else:
            n_sessions = int(dur.notna().sum())
            full_jobs = len(g) if kind == "cohort" else 0
            stage_hours = demo_hours
            full_longest = float(g["s"].max() * audio_hours / demo_hours) if kind == "cohort" else 0.0
        # a job too short for psutil to sample has NA cpu_time/max_rss: counted, never hidden
        unmeasured = int((g["cpu_time"].isna() | g["max_rss"].isna()).sum())
        cpu = float(g["cpu_time"].sum())
        cpu_per_h = cpu / stage_hours
        rows.append({
            "stage": rule, "kind": kind, "jobs": len(g), "unmeasured": unmeasured, "sessions": n_sessions,
            "audio_h": stage_hours, "cpu_s": cpu, "wall_s_max": float(g["s"].max()),
            "cpu_s_per_session": cpu / max(n_sessions, 1), "cpu_s_per_audio_h": cpu_per_h,
            "peak_rss_mb": float(g["max_rss"].max()),
            "full_jobs": full_jobs,
            "full_cpu_h": 0.0 if kind == "demo only" else cpu_per_h * audio_hours / 3600,
            "full_longest_job_s": full_longest,
        })
    return pd.DataFrame(rows)


def node_wall_times(stages: pd.DataFrame, cores_per_node: int, nodes: Sequence[int]) -> pd.DataFrame:
    """Wall hours of the full run on each node count: max(CPU-hours / cores, critical path)."""
    if cores_per_node < 1 or any(n < 1 for n in nodes):
        raise ValueError(f"cores_per_node ({cores_per_node}) and nodes ({list(nodes)}) must be >= 1")
    real = stages.loc[stages["kind"] != "demo only"]
    total_cpu_h = float(real["full_cpu_h"].sum())
    longest = dict(zip(real["stage"], real["full_longest_job_s"], strict=True))
    layers = [max((longest.get(r, 0.0) for r in layer), default=0.0) for layer in _PATH_LAYERS]
    known = {r for layer in _PATH_LAYERS for r in layer}
    critical_h = (sum(layers) + sum(v for r, v in longest.items() if r not in known)) / 3600
    rows = []
    for n in nodes:
        cores = n * cores_per_node
        rows.append({"nodes": n, "cores": cores, "cpu_hours": total_cpu_h, "critical_path_h": critical_h,
                     "wall_h": max(total_cpu_h / cores, critical_h)})
    return pd.DataFrame(rows)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "NA"
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def to_markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def cost_table(benchmark_dir: str | Path, manifest: pd.DataFrame | str | Path, *,
               sessions: int = EDAIC_SESSIONS, audio_hours: float = EDAIC_AUDIO_HOURS,
               cores_per_node: int = 32, nodes: Sequence[int] = (1, 4, 16),
               label: str = "measured on this machine") -> CostTable:
    """Cost table of a run's ``benchmarks/`` folder, extrapolated to ``sessions``/``audio_hours``.

    ``manifest`` is the run's manifest (DataFrame or path to ``results/manifest.parquet``) giving each
    participant's ``audio_duration_s``. ``stages`` columns: stage, kind (per session | cohort | demo
    only), jobs, unmeasured (jobs with NA cpu_time/max_rss), sessions, audio_h, cpu_s, wall_s_max,
    cpu_s_per_session, cpu_s_per_audio_h, peak_rss_mb, full_jobs, full_cpu_h, full_longest_job_s.
    ``nodes`` columns: nodes, cores, cpu_hours, critical_path_h, wall_h. ``label`` says where the
    benchmarks were measured.
    """
    if not isinstance(manifest, pd.DataFrame):
        path = Path(manifest)
        if not path.is_file():
            raise InputError(path, "manifest does not exist")
        manifest = pd.read_parquet(path)
    jobs = collect_benchmarks(benchmark_dir)
    stages = stage_costs(jobs, manifest, sessions=sessions, audio_hours=audio_hours)
    wall = node_wall_times(stages, cores_per_node, nodes)
    real = stages.loc[stages["kind"] != "demo only"]
    longest = real.loc[real["full_longest_job_s"].idxmax()] if len(real) else None
    lines = [
        f"### Compute cost ({label})",
        "",
        f"Measured: {len(jobs)} jobs, {stages['audio_h'].max():.3g} h of audio in "
        f"{int(stages['sessions'].max())} sessions. Extrapolated to {sessions} sessions / {audio_hours:g} h "
        "(per-session stages in proportion to audio hours -- an upper bound when the measured sessions "
        "are short, as job start-up dominates; cohort stages in proportion to total hours).",
        "",
        to_markdown(stages),
        "",
        f"Full corpus: **{float(real['full_cpu_h'].sum()):.3g} CPU-hours**"
        + (f"; longest single job ~{longest['full_longest_job_s'] / 60:.3g} min ({longest['stage']})"
           if longest is not None else "") + ".",
        "",
        f"Wall time on N nodes of {cores_per_node} cores (max of perfect packing and the critical path):",
        "",
        to_markdown(wall),
    ]
    return CostTable(stages=stages, nodes=wall, markdown="\n".join(lines) + "\n")
