"""The cost table: reading Snakemake benchmark files and extrapolating to the full E-DAIC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from depsev.cost import (
    EDAIC_AUDIO_HOURS,
    EDAIC_SESSIONS,
    collect_benchmarks,
    cost_table,
    node_wall_times,
    read_benchmark,
)
from depsev.errors import InputError

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, s: float, rss: float, cpu: float | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:01\t{rss}\t900\t100\t110\t0.1\t0.2\t50\t{cpu}\n")


@pytest.fixture()
def run(tmp_path) -> tuple[Path, pd.DataFrame]:
    """A fake demo run: 2 sessions of 1800 s and 3600 s (1.5 h), per-session + cohort + demo stages."""
    b = tmp_path / "benchmarks"
    _bench(b / "demo_generate.tsv", 50, 300, 45)
    _bench(b / "manifest_build.tsv", 2, 100, 1.5)
    # audio_clean: 10 CPU-s per audio hour, wall 20 s per audio hour
    _bench(b / "audio_clean" / "301.tsv", 10, 500, 5)
    _bench(b / "audio_clean" / "302.tsv", 20, 700, 10)
    # normalize_apply: one job per (modality, session)
    for mod in ("video", "audio"):
        _bench(b / "normalize_apply" / mod / "301.tsv", 1, 200, 1)
        _bench(b / "normalize_apply" / mod / "302.tsv", 1, 250, 1)
    _bench(b / "chunk_shards" / "audio_train.tsv", 3, 900, 3)
    _bench(b / "chunk_shards" / "audio_dev.tsv", 6, 800, 3)
    manifest = pd.DataFrame({"participant_id": [301, 302, 303], "audio_duration_s": [1800.0, 3600.0, 60.0],
                             "status": ["ok", "ok", "flagged: no audio"]})
    return b, manifest


def test_collect_benchmarks_one_row_per_job(run):
    b, _ = run
    jobs = collect_benchmarks(b)
    assert len(jobs) == 1 + 1 + 2 + 4 + 2
    assert set(jobs["rule"]) == {"demo_generate", "manifest_build", "audio_clean", "normalize_apply",
                                 "chunk_shards"}
    per_session = jobs.loc[jobs["participant_id"].notna()]
    assert set(per_session["rule"]) == {"audio_clean", "normalize_apply"}
    assert jobs.loc[jobs["rule"] == "chunk_shards", "participant_id"].isna().all()


def test_per_session_stage_scales_with_audio_hours(run):
    b, manifest = run
    t = cost_table(b, manifest).stages.set_index("stage")
    a = t.loc["audio_clean"]
    assert a["kind"] == "per session" and a["jobs"] == 2 and a["sessions"] == 2
    assert a["audio_h"] == pytest.approx(1.5)
    assert a["cpu_s"] == pytest.approx(15)
    assert a["cpu_s_per_audio_h"] == pytest.approx(10)
    assert a["cpu_s_per_session"] == pytest.approx(7.5)
    assert a["peak_rss_mb"] == 700
    assert a["full_jobs"] == EDAIC_SESSIONS
    assert a["full_cpu_h"] == pytest.approx(10 * EDAIC_AUDIO_HOURS / 3600)
    # worst wall per audio hour is 20 s/h (both jobs); a mean E-DAIC session is 74/275 h
    assert a["full_longest_job_s"] == pytest.approx(20 * EDAIC_AUDIO_HOURS / EDAIC_SESSIONS)
    n = t.loc["normalize_apply"]
    assert n["audio_h"] == pytest.approx(1.5)  # each session's audio once, not once per job
    assert n["cpu_s_per_audio_h"] == pytest.approx(4 / 1.5)
    assert n["full_jobs"] == 2 * EDAIC_SESSIONS  # two jobs per session
    # wall 1 s on the 0.5 h session = 2 s per audio hour is the worst
    assert n["full_longest_job_s"] == pytest.approx(2 * EDAIC_AUDIO_HOURS / EDAIC_SESSIONS)


def test_cohort_and_demo_only_stages(run):
    b, manifest = run
    res = cost_table(b, manifest, sessions=100, audio_hours=15.0)
    t = res.stages.set_index("stage")
    c = t.loc["chunk_shards"]
    assert c["kind"] == "cohort" and c["full_jobs"] == 2
    assert c["cpu_s_per_audio_h"] == pytest.approx(6 / 1.5)
    assert c["full_cpu_h"] == pytest.approx(6 / 1.5 * 15 / 3600)
    assert c["full_longest_job_s"] == pytest.approx(6 * 15 / 1.5)
    d = t.loc["demo_generate"]
    assert d["kind"] == "demo only" and d["full_cpu_h"] == 0 and d["full_jobs"] == 0
    real = res.stages.loc[res.stages["kind"] != "demo only", "full_cpu_h"].sum()
    assert res.nodes["cpu_hours"].iloc[0] == pytest.approx(real)
    # the pipeline order is kept
    assert list(res.stages["stage"]) == ["demo_generate", "manifest_build", "audio_clean", "normalize_apply",
                                         "chunk_shards"]


def test_node_wall_time_is_packing_or_critical_path(run):
    b, manifest = run
    res = cost_table(b, manifest, cores_per_node=4, nodes=(1, 4, 16))
    w = res.nodes
    assert list(w["nodes"]) == [1, 4, 16] and list(w["cores"]) == [4, 16, 64]
    cpu_h = w["cpu_hours"].iloc[0]
    crit = w["critical_path_h"].iloc[0]
    for _, row in w.iterrows():
        assert row["wall_h"] == pytest.approx(max(cpu_h / row["cores"], crit))
    assert w["wall_h"].is_monotonic_decreasing or w["wall_h"].nunique() == 1
    t = res.stages.set_index("stage")
    on_path = ["manifest_build", "audio_clean", "normalize_apply", "chunk_shards"]
    expected_crit = t.loc[on_path, "full_longest_job_s"].sum() / 3600
    assert crit == pytest.approx(expected_crit)
    with pytest.raises(ValueError):
        node_wall_times(res.stages, 0, (1,))


def test_markdown_names_stages_label_and_totals(run):
    b, manifest = run
    md = cost_table(b, manifest, label="measured on CI box").markdown
    assert "measured on CI box" in md
    for stage in ("audio_clean", "chunk_shards", "demo_generate"):
        assert f"| {stage} |" in md
    assert "CPU-hours" in md and "| nodes |" in md


def test_manifest_path_is_read(run, tmp_path):
    b, manifest = run
    path = tmp_path / "manifest.parquet"
    manifest.to_parquet(path)
    assert cost_table(b, path).stages.equals(cost_table(b, manifest).stages)


def test_na_measures_are_counted_not_hidden(run):
    b, manifest = run
    _bench(b / "audio_clean" / "302.tsv", 20, "NA", "NA")
    t = cost_table(b, manifest).stages.set_index("stage")
    assert t.loc["audio_clean", "unmeasured"] == 1
    assert t.loc["chunk_shards", "unmeasured"] == 0


@pytest.mark.parametrize("content, problem", [
    ("s\tmax_rss\n1\t2\n", "lacks column"),
    (HEADER, "no measurement"),
    ("", "not a Snakemake benchmark"),
    (HEADER + "x\t0\t1\t1\t1\t1\t0\t0\t0\t1\n", "non-numeric"),
    (HEADER + "NA\t0\t1\t1\t1\t1\t0\t0\t0\t1\n", "no wall time"),
])
def test_bad_benchmark_raises_input_error(tmp_path, content, problem):
    f = tmp_path / "bad.tsv"
    f.write_text(content)
    with pytest.raises(InputError, match=problem) as e:
        read_benchmark(f)
    assert e.value.path == f


def test_missing_inputs_raise_input_error(run, tmp_path):
    b, manifest = run
    with pytest.raises(InputError, match="does not exist"):
        cost_table(tmp_path / "nope", manifest)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no benchmark"):
        cost_table(tmp_path / "empty", manifest)
    with pytest.raises(InputError, match=r"participant\(s\) \[302\]"):
        cost_table(b, manifest.loc[manifest["participant_id"] != 302])
    with pytest.raises(InputError, match="audio_duration_s"):
        cost_table(b, manifest.drop(columns="audio_duration_s"))
    with pytest.raises(InputError, match="manifest does not exist"):
        cost_table(b, tmp_path / "missing.parquet")
