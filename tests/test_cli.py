"""The depsev command: help lists the commands; bad input is an error message, not a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from depsev.cli import build_parser, main


def test_help_lists_commands():
    res = subprocess.run([sys.executable, "-m", "depsev", "--help"], capture_output=True, text=True,
                         check=True)
    for cmd in ("demo-cohort", "manifest", "weights", "bench", "cost"):
        assert cmd in res.stdout


def test_demo_cohort_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo-cohort", str(out), "--participants", "10", "--minutes", "0.3", "--seed", "1"]) == 0
    assert (out / "ground_truth" / "oracle.json").is_file()
    assert main(["demo-cohort", str(out), "--participants", "10", "--minutes", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "depsev: error:" in err and str(out) in err
    assert main(["demo-cohort", str(out), "--participants", "10", "--minutes", "0.3", "--overwrite"]) == 0


def test_weights_without_network_is_a_clear_error(tmp_path):
    import pytest

    from depsev.errors import InputError
    from depsev.features.vggish import download_vggish_weights

    # a closed port on this machine stands in for "no network"; nothing leaves the machine
    with pytest.raises(InputError, match="127.0.0.1"):
        download_vggish_weights(tmp_path, url="http://127.0.0.1:9/vggish-10086976.pth", timeout=5)
    assert not list(tmp_path.iterdir())
    assert build_parser().parse_args(["weights", "vggish", "--dest", str(tmp_path)]).model == "vggish"


def test_predict_arguments_are_checked_before_any_work(tmp_path, capsys, monkeypatch):
    """--json DIR, --threads -1, --min-coverage 2: a clear error (exit 2) before the costly stages."""
    import depsev.predict.session as session

    def _never(*args, **kwargs):
        raise AssertionError("predict_session ran despite bad arguments")

    monkeypatch.setattr(session, "predict_session", _never)
    base = ["predict", str(tmp_path / "300_P"), "--model", str(tmp_path / "m")]
    for extra, message in ((["--threads", "-1"], "must be at least 1"),
                           (["--threads", "two"], "not an integer"),
                           (["--min-coverage", "2"], r"must be in \(0, 1\]"),
                           (["--min-coverage", "0"], r"must be in \(0, 1\]"),
                           (["--confidence-threshold", "1.5"], r"must be in \[0, 1\]")):
        with pytest.raises(SystemExit) as exc:
            main(base + extra)
        assert exc.value.code == 2
        assert re.search(message, capsys.readouterr().err), extra
    assert main(base + ["--json", str(tmp_path)]) == 2
    assert "is a folder; --json takes a file name" in capsys.readouterr().err
    assert main(base + ["--json", str(tmp_path / "nowhere" / "r.json")]) == 2
    assert "no such folder for the --json file" in capsys.readouterr().err
