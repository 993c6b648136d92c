"""The depsev command: help lists the commands; bad input is an error message, not a traceback."""

from __future__ import annotations

import subprocess
import sys

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
