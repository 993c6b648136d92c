"""The report's front page (depsev.evaluate.summary) from small synthetic tables, rendered with plain
docutils -- no Snakemake, no browser (the browser check is ``depsev bench report``) -- and the
benchmark's first-screen geometry check (depsev.bench_report.check_boxes)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from docutils.core import publish_parts

from depsev.bench_report import ELEMENTS, check_boxes
from depsev.errors import InputError
from depsev.evaluate.summary import CATEGORY_QC, CATEGORY_SCATTER, CATEGORY_TABLES, build_summary
from depsev.evaluate.tables import ROW_CONTROL, ROW_MEAN, ROW_ORACLE, ROW_REAL

WARNING = ("WARNING: the shuffled-label control beats the mean predictor (MAE {} < {}): labels leak into "
           "the inputs")


def tiny_png() -> bytes:
    """A valid 2x2 grey PNG, written by hand (no image library)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80\x80" for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def headline_rows(oracle: bool = True, warn: bool = True) -> pd.DataFrame:
    rows = []
    for split, base in (("dev", 3.0), ("test", 3.7), ("dev-ai", 3.8)):
        for row, model, mae, sd, seeds in ((ROW_REAL, "moe-fusion", base, 0.26, 3),
                                           (ROW_CONTROL, "moe-fusion-shuffled", base + 1.2, 0.6, 3),
                                           (ROW_MEAN, "training-mean predictor", base + 1.4, 1e-15, 3),
                                           (ROW_ORACLE, "generator oracle", base - 0.2, float("nan"), 0)):
            if row == ROW_ORACLE and not oracle:
                continue
            warned = row == ROW_CONTROL and warn and split != "dev-ai"
            note = WARNING.format(base + 1.2, base + 1.4) if warned else ""
            rows.append({"dataset": "x", "split": split, "row": row, "model": model, "n_seeds": seeds,
                         "mae_mean": mae, "mae_sd": sd, "ccc_mean": -1e-30 if row == ROW_MEAN else 0.61,
                         "ccc_sd": 0.05, "note": note})
    return pd.DataFrame(rows)


@pytest.fixture()
def inputs(tmp_path):
    headline = tmp_path / "headline.csv"
    headline_rows().to_csv(headline, index=False)
    qc = tmp_path / "summary.tsv"
    stages = [("manifest", 20, 18, 2), ("face", 18, 18, 0), ("audio", 18, 17, 1), ("vggish", 17, 17, 0)]
    stages += [(f"shards:{m}_{s}", n, n, 0) for m in ("video", "audio", "fusion")
               for s, n in (("train", 10), ("dev", 4), ("test", 3))]
    pd.DataFrame(stages, columns=["stage", "participants_in", "ok", "flagged"]).assign(
        flagged_detail="").to_csv(qc, sep="\t", index=False)
    integrity = tmp_path / "integrity.json"
    checks = ("splits_disjoint", "statistics_from_train", "shards_use_train_statistics",
              "checkpoints_train_dev_only")
    integrity.write_text(json.dumps({"ok": True, **{k: {"ok": True, "detail": []} for k in checks}}))
    scatter = tmp_path / "test_scatter.png"
    scatter.write_bytes(tiny_png())
    return {"dataset_kind": "demo", "dataset_root": "results/demo-cohort", "headline": headline,
            "qc_summary": qc, "integrity": integrity, "scatter": scatter,
            "sessions": tmp_path / "sessions.tsv"}


def render(rst: str) -> str:
    """HTML of the fragment, with the link targets Snakemake's report defines (one per category and per
    report file, javascript: links); docutils messages of level >= 2 fail."""
    targets = [CATEGORY_TABLES, CATEGORY_QC, CATEGORY_SCATTER, "headline.csv", "summary.tsv",
               "integrity.json", "sessions.tsv"]
    links = "".join(f"\n.. _{t}: javascript:app.show('{quote(t)}')\n" for t in targets)
    return publish_parts(rst + links, writer="html",
                         settings_overrides={"report_level": 2, "halt_level": 2})["html_body"]


def test_front_page_says_which_data_and_shows_the_answer(inputs):
    # paths as the rule passes them: strings
    rst = build_summary(**{k: str(v) if isinstance(v, Path) else v for k, v in inputs.items()})
    html = render(rst)
    assert "Data: SYNTHETIC" in html and "20 participants" in html
    assert 'class="depsev-summary' in html and "<table" in html
    # model, control, mean predictor, oracle; dev, test, the AI-agent dev sessions; mean +- sd (CCC)
    for text in ("moe-fusion", "shuffled-label control", "mean predictor", "generator oracle",
                 "dev, AI agent only", "3.00 ± 0.26 (0.61)", "3.70 ± 0.26"):
        assert text in html, text
    assert "4.40 (0.00)" in html  # deterministic mean predictor: no "± 0.00", no "-0.00"
    assert "-0.00" not in html
    # the two control warnings in one line, each split with its numbers
    assert html.count("Warning:") == 1 and "dev: MAE 4.2 &lt; 4.4" in html and "test: MAE" in html
    assert "Integrity: PASSED</strong> (4 of 4 checks" in html
    # QC: stages in order, shard modalities with equal counts on one entry, a flagged count in bold
    assert "manifest 20 / 18 / <strong>2</strong>" in html
    assert "shards (video, audio, fusion) each 17 / 17 / 0" in html
    assert ('<img alt="predicted vs true PHQ-8 on the test split (SYNTHETIC demo cohort)" '
            'class="depsev-test-scatter"') in html
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html
    # every part links to its detail
    for target in ("headline.csv", "summary.tsv", "integrity.json", "sessions.tsv", CATEGORY_TABLES,
                   CATEGORY_SCATTER):
        assert f"javascript:app.show('{quote(target)}')" in html, target
    assert max(len(line) for line in rst.splitlines()) < 1000  # docutils refuses lines over 10,000 characters


def test_real_corpus_named_not_synthetic(inputs, tmp_path):
    headline_rows(oracle=False, warn=False).to_csv(inputs["headline"], index=False)
    html = render(build_summary(**{**inputs, "dataset_kind": "edaic", "dataset_root": "/data/E-DAIC"}))
    assert "SYNTHETIC" not in html
    assert "E-DAIC" in html and "/data/E-DAIC" in html
    assert "generator oracle" not in html and "Warning" not in html


def test_failed_integrity_is_shown_as_failed(inputs):
    result = json.loads(inputs["integrity"].read_text())
    result["ok"] = False
    result["checkpoints_train_dev_only"]["ok"] = False
    inputs["integrity"].write_text(json.dumps(result))
    html = render(build_summary(**inputs))
    assert "Integrity: FAILED</strong> (1 of 4 checks: no checkpoint saw the test split)" in html
    assert "PASSED" not in html


@pytest.mark.parametrize("broken", ["headline", "qc_summary", "integrity", "scatter"])
def test_bad_input_names_the_file(inputs, broken):
    path = inputs[broken]
    if broken == "headline":
        pd.read_csv(path).drop(columns="mae_sd").to_csv(path, index=False)
        problem = "missing columns"
    elif broken == "qc_summary":
        path.unlink()
        problem = "not found"
    elif broken == "integrity":
        path.write_text("{not json")
        problem = "not valid JSON"
    else:
        path.write_bytes(b"GIF89a")
        problem = "not a PNG"
    with pytest.raises(InputError, match=problem) as err:
        build_summary(**inputs)
    assert err.value.path == path


def _box(top, bottom, links=("javascript:app.showCategory('Tables')",), loaded=None):
    return [{"top": top, "bottom": bottom, "left": 300, "right": 800, "text": "x", "links": list(links),
             "loaded": loaded}]


def test_first_screen_check_fails_what_is_off_screen_unlinked_or_missing():
    found = {name: _box(10, 100) for name in ELEMENTS}
    found["test_scatter"] = _box(500, 790, loaded=True)
    assert all(c["ok"] for c in check_boxes(found, 1280, 800).values())
    found["test_scatter"] = _box(700, 990, loaded=True)  # below the fold
    found["integrity"] = _box(-40, 20)  # cut off at the top
    found["qc_counts"] = _box(10, 100, links=())
    found["dataset"] = []
    checks = check_boxes(found, 1280, 800)
    assert not checks["test_scatter"]["ok"] and "first screen" in checks["test_scatter"]["why"]
    assert not checks["integrity"]["ok"]
    assert checks["qc_counts"]["why"] == "no link to its detail"
    assert checks["dataset"]["why"] == "not on the page"
    assert checks["headline_table"]["ok"]
    found["test_scatter"] = _box(500, 790, loaded=False)
    assert check_boxes(found, 1280, 800)["test_scatter"]["why"] == "image did not load"
