"""depsev.errors: errors that name the file and the problem; the one JSON-file reader."""

from __future__ import annotations

import pytest

from depsev.errors import InputError, read_json


def test_read_json_names_the_file_and_the_problem(tmp_path):
    good, bad, gone = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    good.write_text('{"weighting": "median"}')
    bad.write_text("{not json")
    assert read_json(good) == {"weighting": "median"}
    with pytest.raises(InputError) as err:
        read_json(bad)
    assert err.value.path == bad and str(err.value).startswith(f"{bad}: not valid JSON (")
    with pytest.raises(InputError, match="checkpoint has no config.json") as err:
        read_json(gone, missing="checkpoint has no config.json")
    assert err.value.path == gone
    with pytest.raises(InputError, match="not found"):
        read_json(tmp_path)  # a folder is not a JSON file
    binary = tmp_path / "d.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputError, match="cannot read"):
        read_json(binary)
