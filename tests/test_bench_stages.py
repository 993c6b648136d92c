"""``depsev bench stages``: the extrapolation arithmetic (start-up kept apart from work) and one real,
tiny run of the fresh-process measurement."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from depsev import bench_stages as bs


def _runs() -> pd.DataFrame:
    """Made-up measurements: two 30-min sessions of audio_clean, one 60-min session of face_frames."""
    return pd.DataFrame([
        {"stage": "audio_clean", "audio_s": 1800.0, "startup_cpu_s": 2.0, "startup_wall_s": 2.5,
         "startup_rss_mb": 100.0, "whole_cpu_s": 12.0, "whole_wall_s": 13.0, "whole_rss_mb": 500.0},
        {"stage": "audio_clean", "audio_s": 1800.0, "startup_cpu_s": 4.0, "startup_wall_s": 4.5,
         "startup_rss_mb": 100.0, "whole_cpu_s": 24.0, "whole_wall_s": 25.0, "whole_rss_mb": 700.0},
        {"stage": "face_frames", "audio_s": 3600.0, "startup_cpu_s": 1.0, "startup_wall_s": 1.0,
         "startup_rss_mb": 90.0, "whole_cpu_s": 4.6, "whole_wall_s": 5.0, "whole_rss_mb": 150.0},
    ])


def test_extrapolation_keeps_start_up_apart_and_totals_are_sums():
    table = bs.extrapolate(_runs(), sessions=360, audio_hours=10.0).set_index("stage")
    a = table.loc["audio_clean"]
    assert a["startup_cpu_s"] == pytest.approx(3.0)  # mean per job
    # work: (10 + 20) CPU s over 1 audio hour
    assert a["work_cpu_s_per_audio_h"] == pytest.approx(30.0)
    assert a["edaic_startup_cpu_h"] == pytest.approx(360 * 3.0 / 3600)  # 0.3: one job per session
    assert a["edaic_work_cpu_h"] == pytest.approx(10.0 * 30.0 / 3600)
    assert a["edaic_cpu_h"] == pytest.approx(0.3 + 300 / 3600)
    assert a["startup_share"] == pytest.approx(0.3 / (0.3 + 300 / 3600))
    assert a["peak_rss_mb"] == 700.0 and a["sessions"] == 2
    f = table.loc["face_frames"]
    assert f["work_cpu_s_per_audio_h"] == pytest.approx(3.6)
    assert f["edaic_startup_cpu_h"] == pytest.approx(0.1)
    tot = bs.totals(table.reset_index())
    assert tot["all"]["startup"] == pytest.approx(0.4)
    assert tot["all"]["work"] == pytest.approx((300 + 36) / 3600)
    assert tot["all"]["total"] == pytest.approx(tot["all"]["startup"] + tot["all"]["work"])
    assert list(table.index) == ["audio_clean", "face_frames"]  # pipeline order


def test_extrapolation_refuses_sessions_without_audio_and_missing_columns():
    bad = _runs()
    bad.loc[0, "audio_s"] = 0.0
    with pytest.raises(ValueError, match="no audio"):
        bs.extrapolate(bad)
    with pytest.raises(ValueError, match="whole_cpu_s"):
        bs.extrapolate(_runs().drop(columns="whole_cpu_s"))


def test_report_says_synthetic_and_what_is_not_covered():
    table = bs.extrapolate(_runs())
    meta = {"date": "2026-11-30", "sessions": 2, "minutes": 15.0,
            "weights_mode": "random (SYNTHETIC benchmark)",
            "cpu": "some CPU", "threads": {"audio_clean": 1}, "load_before": [0.5, 0, 0],
            "load_after": [0.7, 0, 0], "edaic_sessions": 275, "edaic_audio_hours": 74.0,
            "participant_share": 0.5}
    md = bs.report_markdown(table, meta)
    assert "SYNTHETIC" in md and "random" in md and "OpenFace FeatureExtraction" in md
    assert "start-up CPU s/job" in md and "E-DAIC start-up CPU-h" in md
    assert "load average 0.50 before / 0.70 after" in md


def test_unknown_stage_is_refused_before_any_work(capsys):
    with pytest.raises(ValueError, match="unknown stage"):
        bs.bench_stages(stages=("nope",), minutes=0.1, sessions=1)
    from depsev.cli import main

    assert main(["bench", "stages", "--stages", "audio_clean,nope"]) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_tiny_real_run_measures_fresh_processes(tmp_path):
    """One 0.2-min SYNTHETIC session through audio_clean, each in a fresh process."""
    result = bs.bench_stages(minutes=0.2, sessions=1, stages=("audio_clean",), work_dir=tmp_path,
                             progress=False)
    (run,) = result["runs"]
    assert run["stage"] == "audio_clean" and run["threads"] == 1
    assert 5 < run["audio_s"] < 20
    for key in ("startup_cpu_s", "startup_rss_mb", "whole_cpu_s", "whole_rss_mb", "whole_wall_s"):
        assert run[key] > 0, key
    # the whole job imports the same and then cleans 12 s of audio: more CPU and memory than start-up
    assert run["startup_cpu_s"] < run["whole_cpu_s"]
    assert run["startup_rss_mb"] < run["whole_rss_mb"]
    assert result["qc"][0]["segmentation"] == "transcript"
    (row,) = result["table"]
    assert math.isclose(row["edaic_cpu_h"], row["edaic_startup_cpu_h"] + row["edaic_work_cpu_h"])
    assert "SYNTHETIC" in result["markdown"] and result["meta"]["synthetic"] is True
    assert not any(tmp_path.iterdir())  # the scratch sessions are removed
