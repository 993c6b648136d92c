"""``depsev bench stages``: per-session stage cost on real-length (SYNTHETIC) sessions, with the
per-job start-up cost kept apart from the work.

:func:`bench_stages` writes ``sessions`` SYNTHETIC sessions of ``minutes`` each (the demo cohort's
generator, one seed each, E-DAIC layout) and runs every per-session stage on each exactly as its
workflow rule does (same library function, same parameters: the :mod:`depsev.settings` defaults that
config.yaml ships, the rule's ``threads:``), each in a FRESH Python process, twice:

* **start-up**: a process that only imports what the rule's script imports and does the stage's
  one-off set-up (its lazy imports: noisereduce, the transcript and OpenFace readers; building the
  openSMILE extractor; for ``vggish_embed``, building the model: random VGGish weights, seeded
  initialisation);
* **whole**: a process that does the same and then runs the stage on the session.

CPU seconds (user + sys) of each child come from ``os.wait4`` (the kernel's accounting of that one
child, interpreter exit included), wall seconds from the parent's clock, peak RSS from the child's
own ``VmHWM`` (``ru_maxrss`` of a child inherits the forking parent's peak on Linux).
``work = whole - start-up``.
:func:`extrapolate` turns the measurements into, per stage: start-up CPU s per job, work CPU s per
audio hour, peak RSS, and the full E-DAIC (275 jobs x start-up + 74 h x work rate) in CPU-hours with
the start-up share as its own column -- start-up is what a cluster pays per job, however short the
session.

Not covered: training and evaluation (per cohort: ``depsev cost`` on a run's ``benchmark:`` files),
OpenFace FeatureExtraction on video (needs its container), Snakemake's own per-job overhead (the
``script:`` preamble, and on a cluster one ``snakemake`` process per job).  The audio and face input
is SYNTHETIC and the VGGish weights are random: the cost of the real model is the same network, but
real speech may segment differently (fewer or more participant seconds per session).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from depsev.bench_stage_worker import RULE_THREADS, STAGES
from depsev.cost import EDAIC_AUDIO_HOURS, EDAIC_SESSIONS, to_markdown

#: stages the default workflow targets run (opensmile_lld only with audio.opensmile.enabled)
DEFAULT_STAGES = frozenset({"audio_clean", "vggish_embed", "face_frames"})
#: the environment variables Snakemake sets to a job's thread count
THREAD_ENV = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def measure(spec: dict[str, Any], *, python: str = sys.executable) -> dict[str, Any]:
    """Run :func:`depsev.bench_stage_worker.worker` on ``spec`` in a fresh interpreter (rule threads
    in the Snakemake thread variables); return ``cpu_s`` (user + sys), ``wall_s``, ``rss_mb`` (peak)
    of that child and its record.  A failing child raises RuntimeError with its stderr."""
    env = {**os.environ, **{k: str(spec["threads"]) for k in THREAD_ENV}}
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([python, "-m", "depsev.bench_stage_worker", json.dumps(spec)],
                                stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['stage']} ({spec['mode']}) exited {proc.returncode}: {stderr[-2000:]}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    record = json.loads(lines[-1]) if lines else {}
    if "peak_rss_mb" not in record:
        raise RuntimeError(f"{spec['stage']} ({spec['mode']}) printed no record: {stdout[-2000:]}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "rss_mb": float(record["peak_rss_mb"]),
            "record": record}


# ---------------------------------------------------------------- the arithmetic
def extrapolate(runs: pd.DataFrame, *, sessions: int = EDAIC_SESSIONS,
                audio_hours: float = EDAIC_AUDIO_HOURS) -> pd.DataFrame:
    """Per-stage table from one row per (stage, session) measurement.

    ``runs`` columns: stage, audio_s (the session's recording length), startup_cpu_s,
    startup_wall_s, startup_rss_mb, whole_cpu_s, whole_wall_s, whole_rss_mb.  Output columns:
    stage, default (run by the default targets), sessions, startup_cpu_s (mean per job),
    startup_wall_s, work_cpu_s_per_audio_h (sum of whole - start-up over the sessions' audio hours),
    whole_wall_s (mean per measured session), peak_rss_mb (max of whole), edaic_startup_cpu_h
    (``sessions`` jobs x start-up), edaic_work_cpu_h (``audio_hours`` x work rate), edaic_cpu_h (their
    sum), startup_share.
    """
    need = {"stage", "audio_s", "startup_cpu_s", "startup_wall_s", "startup_rss_mb", "whole_cpu_s",
            "whole_wall_s", "whole_rss_mb"}
    if missing := need - set(runs.columns):
        raise ValueError(f"measurements lack column(s) {sorted(missing)}")
    if (runs["audio_s"] <= 0).any():
        raise ValueError("a measured session has no audio (audio_s <= 0): nothing to scale")
    order = {s: i for i, s in enumerate(STAGES)}
    rows = []
    for stage, g in sorted(runs.groupby("stage"), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        startup = float(g["startup_cpu_s"].mean())
        work_rate = float((g["whole_cpu_s"] - g["startup_cpu_s"]).sum() / (g["audio_s"].sum() / 3600))
        full_start = sessions * startup / 3600
        full_work = audio_hours * work_rate / 3600
        both = full_start + full_work
        rows.append({
            "stage": stage, "default": stage in DEFAULT_STAGES, "sessions": len(g),
            "startup_cpu_s": startup, "startup_wall_s": float(g["startup_wall_s"].mean()),
            "work_cpu_s_per_audio_h": work_rate, "whole_wall_s": float(g["whole_wall_s"].mean()),
            "peak_rss_mb": float(g["whole_rss_mb"].max()),
            "edaic_startup_cpu_h": full_start, "edaic_work_cpu_h": full_work,
            "edaic_cpu_h": both, "startup_share": full_start / both if both else float("nan"),
        })
    return pd.DataFrame(rows)


def totals(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """E-DAIC CPU-hours (start-up, work, total) summed over the default stages and over all stages."""
    out = {}
    for name, part in (("default", table.loc[table["default"]]), ("all", table)):
        out[name] = {k: float(part[f"edaic_{k}_cpu_h" if k != "total" else "edaic_cpu_h"].sum())
                     for k in ("startup", "work", "total")}
    return out


def report_markdown(table: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The table, the totals and what they rest on, as markdown (says SYNTHETIC)."""
    tot = totals(table)
    shown = table.rename(columns={"startup_cpu_s": "start-up CPU s/job", "startup_wall_s": "start-up wall s",
                                  "work_cpu_s_per_audio_h": "work CPU s/audio h",
                                  "whole_wall_s": "wall s/session", "peak_rss_mb": "peak RSS MB",
                                  "edaic_startup_cpu_h": "E-DAIC start-up CPU-h",
                                  "edaic_work_cpu_h": "E-DAIC work CPU-h", "edaic_cpu_h": "E-DAIC CPU-h",
                                  "startup_share": "start-up share"})
    line = ("E-DAIC ({jobs} jobs per stage, {hours:g} h): default stages **{d[total]:.3g} CPU-h** "
            "({d[startup]:.3g} start-up + {d[work]:.3g} work); with opensmile_lld {a[total]:.3g} CPU-h "
            "({a[startup]:.3g} + {a[work]:.3g}).")
    return "\n".join([
        f"### Per-session stage cost (SYNTHETIC sessions, {meta['date']})",
        "",
        f"`depsev bench stages`: {meta['sessions']} SYNTHETIC session(s) of {meta['minutes']:g} min "
        f"(audio and OpenFace CSV from the demo generator), VGGish weights: {meta['weights_mode']}; "
        f"{meta['cpu']}, threads per stage {meta['threads']}, load average "
        f"{meta['load_before'][0]:.2f} before / {meta['load_after'][0]:.2f} after (1 min). Each stage "
        "ran in a fresh process (CPU = user + sys of that process); start-up = a fresh process that only "
        "imports the stage and does its one-off set-up (lazy imports, the openSMILE extractor, the VGGish "
        f"model); work = whole stage - start-up. Participant speech kept by audio_clean: "
        f"{meta['participant_share']:.0%} of the recordings. E-DAIC = {meta['edaic_sessions']} jobs x "
        f"start-up + {meta['edaic_audio_hours']:g} h x work rate; totals are sums over stages.",
        "",
        to_markdown(shown),
        "",
        line.format(jobs=meta["edaic_sessions"], hours=meta["edaic_audio_hours"], d=tot["default"],
                    a=tot["all"]),
        "",
        "Not covered: training and evaluation (per cohort: `depsev cost` on a run's `benchmark:` files), "
        "OpenFace FeatureExtraction on video (no container here), Snakemake's own per-job overhead. "
        "SYNTHETIC input: not a measurement on the real corpus.",
    ]) + "\n"


# ---------------------------------------------------------------- the benchmark
def _session_io(sdir: Path, work: Path) -> dict[str, Any]:
    from depsev.corpus.sessions import audio_info
    from depsev.predict.inputs import find_session_inputs

    inputs = find_session_inputs(sdir, kind="demo")
    io = {"wav": str(inputs.audio), "transcript": str(inputs.transcript) if inputs.transcript else None,
          "openface": str(inputs.openface), "clean_wav": str(work / "clean.wav"),
          "segments": str(work / "segments.parquet"), "vggish": str(work / "vggish.parquet"),
          "egemaps": str(work / "egemaps.parquet"), "face": str(work / "face.parquet")}
    return {"io": io, "audio_s": float(audio_info(inputs.audio)["duration_s"])}


def bench_stages(*, minutes: float = 15.0, sessions: int = 2, stages: Sequence[str] = STAGES,
                 threads: int | None = None, weights: str = "random", seed: int = 0,
                 work_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Measure ``stages`` on ``sessions`` SYNTHETIC sessions of ``minutes`` (seeds ``seed``,
    ``seed + 1``...); ``threads`` None = each rule's ``threads:``.  Returns ``{"runs": per (stage,
    session) rows, "table": :func:`extrapolate`, "totals", "meta", "markdown"}``."""
    unknown = [s for s in stages if s not in RULE_THREADS]
    if unknown or not stages:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {STAGES}")
    if sessions < 1 or minutes <= 0:
        raise ValueError(f"sessions ({sessions}) must be >= 1 and minutes ({minutes}) > 0")
    from depsev.evaluate.lightweight import cpu_model
    from depsev.predict.bench import synthetic_session

    # the pipeline order: vggish/opensmile read audio_clean's output
    todo = [s for s in STAGES if s in stages or (s == "audio_clean" and
                                                  {"vggish_embed", "opensmile_lld"} & set(stages))]
    load_before = os.getloadavg()
    rows, weights_mode, kept = [], None, []
    with tempfile.TemporaryDirectory(prefix="depsev-bench-stages-", dir=work_dir) as tmp:
        for k in range(sessions):
            sdir = synthetic_session(Path(tmp) / f"cohort{k}", minutes, seed + k)
            work = Path(tmp) / f"work{k}"
            work.mkdir()
            sess = _session_io(sdir, work)
            for stage in todo:
                spec = {"stage": stage, "threads": threads or RULE_THREADS[stage], "weights": weights,
                        "io": sess["io"]}
                start = measure({**spec, "mode": "startup"})
                whole = measure({**spec, "mode": "whole"})
                weights_mode = start["record"].get("weights_mode", weights_mode)
                if stage == "audio_clean":
                    kept.append((whole["record"].get("participant_seconds", float("nan")), sess["audio_s"]))
                if progress:
                    print(f"session {k + 1}/{sessions} {stage}: start-up {start['cpu_s']:.2f} CPU s, "
                          f"whole {whole['cpu_s']:.2f} CPU s / {whole['wall_s']:.2f} s wall, "
                          f"{whole['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
                if stage in stages:
                    rows.append({"stage": stage, "session": k, "seed": seed + k, "audio_s": sess["audio_s"],
                                 "threads": spec["threads"],
                                 **{f"startup_{m}": start[m] for m in ("cpu_s", "wall_s", "rss_mb")},
                                 **{f"whole_{m}": whole[m] for m in ("cpu_s", "wall_s", "rss_mb")},
                                 "qc": whole["record"]})
    runs = pd.DataFrame(rows)
    table = extrapolate(runs)
    meta = {"date": date.today().isoformat(), "synthetic": True, "sessions": sessions, "minutes": minutes,
            "weights_mode": f"{weights_mode} (SYNTHETIC benchmark)" if weights_mode else "not used",
            "cpu": f"{cpu_model()} ({os.cpu_count()} logical CPUs)",
            "threads": {s: threads or RULE_THREADS[s] for s in stages},
            "participant_share": (sum(k for k, _ in kept) / sum(a for _, a in kept)) if kept
            else float("nan"),
            "load_before": list(load_before), "load_after": list(os.getloadavg()),
            "edaic_sessions": EDAIC_SESSIONS, "edaic_audio_hours": EDAIC_AUDIO_HOURS,
            "thread_env": list(THREAD_ENV), "python": sys.version.split()[0],
            "settings": _settings_snapshot()}
    return {"runs": runs.drop(columns="qc").to_dict(orient="records"), "qc": runs["qc"].tolist(),
            "table": table.to_dict(orient="records"), "totals": totals(table), "meta": meta,
            "markdown": report_markdown(table, meta)}


def _settings_snapshot() -> dict[str, Any]:
    """The stage settings used (for the record)."""
    from depsev.settings import AudioSettings, FaceSettings

    return {"audio": asdict(AudioSettings()), "face": asdict(FaceSettings())}
