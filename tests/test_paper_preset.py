"""The paper's configuration (workflow/presets/paper.yaml): what it sets, that every value is tagged
paper / GUESS, that its fusion model has the paper's 128,905 parameters (within 1 %), the lightweight
table's rows for it and for config.yaml's model, counted the same way, and that a results/ folder is
never shared by two configurations. (The whole DAG with it: tests/test_workflow_preset.py.)"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from depsev.models import build_model, count_parameters
from depsev.settings import (
    Settings,
    claim_results_dir,
    merge_config,
    read_config_file,
    sized_model,
    table4_models,
)

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "workflow/presets/paper.yaml"
CONFIG = read_config_file(REPO / "config.yaml")
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
PAPER_PARAMETERS = 128_905


def _paper_settings() -> Settings:
    return Settings.from_config(merge_config(CONFIG, read_config_file(PRESET)))


def test_preset_merged_over_config_yaml_is_valid_and_says_what_the_paper_says():
    merged = merge_config(CONFIG, read_config_file(PRESET))
    jsonschema.validate(merged, SCHEMA)
    s = Settings.from_config({**merged, "dataset": {"kind": "edaic", "root": "/corpus"}})
    assert s.config_name == "paper"
    assert s.face.features == "au17" and s.video_dim == 17                 # Table 2
    assert (s.chunks.video_frames, s.chunks.audio_frames) == (5000, 300)   # section 3.2
    assert s.chunks.balance_train and not s.train.balanced_sampling        # balancing by down-sampling
    assert s.model.encoder_steps == 0 and s.model.moe_variance == "paper"  # LSTM over every step; eq. 15
    assert s.model.dropout == 0.5
    t = s.train
    assert (t.lr, tuple(t.betas), t.eps) == (1e-3, (0.9, 0.999), 1e-8)    # section 4.3
    assert t.weight_decay > 0 and t.grad_accum_steps > 1                   # named, values not given
    assert t.focal_gamma == 2.0 and t.w_focal > 0 and t.w_nll > 0 and t.nll_beta == 0.0
    # the default differs where the README says it does
    d = Settings.from_config(CONFIG)
    assert d.config_name == "default" and d.face.features != "au17" and d.model.encoder_steps > 0


def test_every_value_of_the_preset_is_tagged_paper_or_guess():
    """Each key: value line carries a comment that starts with "paper" or "GUESS"."""
    untagged, checked = [], 0
    for line in PRESET.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z_]+):\s*(\S[^#]*?)?\s*(#\s*(.*))?$", line)
        if not m or line.lstrip().startswith("#") or not m.group(2):
            continue  # comments, blank lines, section headers
        comment, checked = m.group(4) or "", checked + 1
        if not (comment.startswith("paper") or comment.startswith("GUESS")):
            untagged.append(line)
    assert untagged == [] and checked >= 40, (untagged, checked)


def test_preset_fusion_model_has_the_papers_parameter_count():
    s = _paper_settings()
    sized = sized_model(merge_config(CONFIG, read_config_file(PRESET)))
    n = count_parameters(build_model("fusion", "fusion", sized.model, seed=0))
    assert abs(n - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.01, n
    assert sized.model.video_dim == s.video_dim == 17
    # the chunk settings of a real corpus, not the demo's override
    assert (sized.chunks.video_frames, sized.chunks.audio_frames) == (5000, 300)


def test_table4_rows_for_both_configurations_counted_the_same_way(one_torch_thread):
    from depsev.evaluate.lightweight import lightweight_table, sized_model_row
    from depsev.models.flops import fusion_flops

    default, paper = table4_models(CONFIG, PRESET)
    assert (default.config_name, paper.config_name) == ("default", "paper")
    rows = [sized_model_row(m.config_name, m.model, m.chunks, batch_size=2, repeats=1)
            for m in (default, paper)]
    table = lightweight_table(rows, dataset="test")
    ours = table[table["origin"].str.startswith("depsev")].set_index("config")
    # both at the paper's chunk sizes with the 5x face down-sampling: 300 audio, 1000 video steps
    assert (ours["la"] == 300).all() and (ours["lv"] == 1000).all()
    assert abs(ours.loc["paper", "parameters"] - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.01
    assert ours.loc["default", "parameters"] < ours.loc["paper", "parameters"]
    for m in (default, paper):
        row = ours.loc[m.config_name]
        # the analytic count (LSTMs included) and ptflops agree, for both rows
        assert row["flops_analytic"] == fusion_flops(m.model, 300, 1000).flops
        assert abs(row["macs_ptflops"] - fusion_flops(m.model, 300, 1000).macs) / row["macs_ptflops"] < 0.10
        assert row["batch_size"] == 2 and row["latency_batch_s"] > 0
        assert row["params_mb_fp32"] == pytest.approx(4 * row["parameters"] / 1e6)
        assert 0.25 * row["params_mb_fp32"] < row["params_mb_int8"] < 0.5 * row["params_mb_fp32"]
    # no pooling before the LSTMs: the paper-size model runs its video LSTMs over all 1000 steps, the
    # default over encoder_steps bins; so it costs more, and still far less than the paper's 0.468 G
    assert ours.loc["default", "flops_analytic"] < ours.loc["paper", "flops_analytic"] < 0.468e9
    assert fusion_flops(paper.model, 300, 1000).components["video_lstm"][0] == (
        2 * 1000 * 4 * (17 * paper.model.hidden + paper.model.hidden ** 2 + paper.model.hidden))
    published = table[table["origin"].str.startswith("published")].iloc[0]
    assert published["parameters"] == PAPER_PARAMETERS and math.isnan(published["batch_size"])
    # the paper's 0.52 MB is its parameters at 4 bytes each, the convention of params_mb_fp32
    assert round(4 * PAPER_PARAMETERS / 1e6, 2) == published["params_mb_fp32"]


def test_parameter_megabytes_counts_linear_and_lstm_weights_as_int8():
    from torch import nn

    from depsev.evaluate.lightweight import INT8_MATRIX_OVERHEAD, parameter_megabytes

    model = nn.Sequential(nn.Linear(10, 4), nn.LayerNorm(4))
    fp32, int8 = parameter_megabytes(model)
    assert fp32 == 4 * (40 + 4 + 4 + 4) / 1e6
    assert int8 == (40 + INT8_MATRIX_OVERHEAD + 4 * (4 + 4 + 4)) / 1e6


def test_a_results_folder_belongs_to_one_configuration(tmp_path):
    results = tmp_path / "results"
    claim_results_dir(results, "default")
    assert (results / "config_name.txt").read_text().strip() == "default"
    claim_results_dir(results, "default")  # the same configuration again: fine
    with pytest.raises(ValueError, match=r"holds the outputs of configuration 'default'.*-d runs/paper"):
        claim_results_dir(results, "paper")
    # a run from before the marker existed (a manifest, no marker) was the default's
    old = tmp_path / "old" / "results"
    old.mkdir(parents=True)
    (old / "manifest.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="'default'"):
        claim_results_dir(old, "paper")


def test_config_name_is_checked():
    with pytest.raises(ValueError, match="config_name"):
        Settings.from_config({**CONFIG, "config_name": "../x"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**CONFIG, "config_name": "a b"}, SCHEMA)


def test_merge_config_merges_sections_and_replaces_values():
    assert merge_config({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]}) == {
        "a": {"x": 1, "y": 3}, "b": [2]}
    with pytest.raises(ValueError, match="not found"):
        read_config_file(REPO / "no-such.yaml")
