"""The workflow's settings (depsev.settings): one typed tree from config.yaml; every default written
once (the schema's repeated defaults must equal the dataclasses'); typos fail naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from depsev.corpus.manifest import QCThresholds
from depsev.settings import (
    AudioSettings,
    DatasetSettings,
    DemoSettings,
    EvaluateSettings,
    FaceSettings,
    OpenFaceSettings,
    OpenSmileSettings,
    Settings,
    VGGishSettings,
)
from depsev.shards.chunks import ChunkConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())

#: schema section -> the dataclass that holds its defaults (and settings it has that the config cannot set)
SECTIONS = {
    ("dataset",): (DatasetSettings, set()),
    ("demo",): (DemoSettings, set()),
    ("qc",): (QCThresholds, {"audio_source"}),  # set from audio.source
    ("face",): (FaceSettings, set()),
    ("audio",): (AudioSettings, set()),
    ("audio", "vggish"): (VGGishSettings, set()),
    ("audio", "opensmile"): (OpenSmileSettings, set()),
    ("chunks",): (ChunkConfig, {"balance_seed", "fusion_audio_frames", "dataset_kind"}),
    ("evaluate",): (EvaluateSettings, set()),
    ("openface",): (OpenFaceSettings, set()),
}


def _schema_section(path: tuple[str, ...]) -> dict:
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node["properties"]


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("path", list(SECTIONS), ids=".".join)
def test_schema_defaults_equal_the_dataclass_defaults(path):
    cls, internal = SECTIONS[path]
    props = _schema_section(path)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    assert set(props) == set(by_name) - internal, (path, set(props) ^ (set(by_name) - internal))
    for name, spec in props.items():
        if "default" in spec:
            expected = _default(by_name[name])
            got = spec["default"]
            assert (list(expected) if isinstance(expected, tuple) else expected) == got, (path, name)


def test_top_level_schema_defaults_equal_the_settings_defaults():
    by_name = {f.name: f for f in dataclasses.fields(Settings)}
    for name in ("config_name", "container"):
        assert SCHEMA["properties"][name]["default"] == _default(by_name[name]), name
    assert CONFIG["config_name"] == "default"


def test_config_yaml_builds_the_tree_with_the_demo_chunks():
    s = Settings.from_config(CONFIG)
    assert s.is_demo and s.dataset.root == CONFIG["dataset"]["root"]
    assert s.chunks.video_frames == CONFIG["demo"]["chunks"]["video_frames"]
    assert s.chunks.video_downsample == CONFIG["chunks"]["video_downsample"]
    assert s.chunks.dataset_kind == "demo"
    assert s.qc.audio_source == s.audio.source
    assert s.face.confidence_threshold == CONFIG["face"]["confidence_threshold"]
    real = Settings.from_config({**CONFIG, "dataset": {"kind": "edaic", "root": "/corpus"}})
    assert real.chunks.video_frames == CONFIG["chunks"]["video_frames"]  # the paper's, not the demo's
    assert real.model == s.model and real.train == s.train
    assert Settings.from_config({"dataset": {"kind": "edaic", "root": "x"}}).chunks == ChunkConfig(
        dataset_kind="edaic")


@pytest.mark.parametrize("section, bad, message", [
    ("face", {"confidence_treshold": 0.5}, "face: unknown key"),
    ("qc", {"min_audio_second": 3}, "qc: unknown key"),
    ("audio", {"vggish": {"weights": "random", "batchsize": 4}}, "audio.vggish: unknown key"),
    ("evaluate", {"seed": [0]}, "evaluate: unknown key"),
    ("chunks", {"video_frame": 10}, "unknown chunk settings"),
    ("model", {"hiden": 3}, "model"),
    ("train", {"max_epoch": 3}, "train"),
    ("dataset", {"kind": "daic", "root": "x"}, "dataset.kind must be one of"),
    ("openface", {"runtime": "podman"}, "openface.runtime must be one of"),
    ("openface", {"imgae": "x"}, "openface: unknown key"),
])
def test_a_typo_in_any_section_names_it(section, bad, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_config({**CONFIG, section: bad})


def test_inputs_are_checked_before_any_job_runs(tmp_path):
    """Settings.check_inputs (common.smk calls it when the DAG is built; one case through Snakemake:
    tests/test_workflow_plan.py): random weights only for the demo, the configured paths must exist."""
    from depsev.errors import InputError
    from depsev.settings import merge_config

    def settings(override: dict) -> Settings:
        return Settings.from_config(merge_config(CONFIG, override))

    settings({}).check_inputs()  # the demo: random weights, a cohort the DAG writes
    with pytest.raises(ValueError, match="allowed only for the synthetic demo.*depsev weights vggish"):
        settings({"dataset": {"kind": "edaic", "root": str(tmp_path)}}).check_inputs()
    weights = tmp_path / "w.pth"
    for override, message, key in (
            ({"dataset": {"kind": "edaic", "root": str(tmp_path / "absent")}}, "corpus folder not found",
             "dataset.root"),
            ({"dataset": {"kind": "edaic", "root": str(tmp_path)}}, "VGGish weights file not found",
             "audio.vggish.weights"),
            ({"dataset": {"kind": "edaic", "root": str(tmp_path), "sessions_table": str(tmp_path / "s.tsv")}},
             "sessions table not found", "dataset.sessions_table")):
        override["audio"] = {"vggish": {"weights": str(weights)}}
        with pytest.raises(InputError, match=message) as err:
            settings(override).check_inputs()
        assert f"(config {key})" in str(err.value)
    weights.write_bytes(b"")
    settings({"dataset": {"kind": "edaic", "root": str(tmp_path)},
              "audio": {"vggish": {"weights": str(weights)}}}).check_inputs()
    # the shipped VGG16 features need no weights file
    settings({"dataset": {"kind": "edaic", "root": str(tmp_path)},
              "audio": {"source": "edaic_shipped", "vggish": {"weights": str(tmp_path / "none.pth")}}}
             ).check_inputs()
