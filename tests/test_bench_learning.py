"""The learning targets of issue 12 checked on a headline table (depsev.bench_learning)."""

from __future__ import annotations

import pandas as pd
import pytest

from depsev.bench_learning import TARGETS, check_targets, targets_markdown
from depsev.errors import InputError
from depsev.evaluate.tables import ROW_CONTROL, ROW_MEAN, ROW_ORACLE, ROW_REAL


def _headline(real_dev=3.0, real_test=4.0, ccc_dev=0.5, ccc_test=0.35, control=(4.6, 5.0)) -> pd.DataFrame:
    rows = []
    for split, real, ccc, ctrl, mean, oracle in (("dev", real_dev, ccc_dev, control[0], 4.5, 2.5),
                                                   ("test", real_test, ccc_test, control[1], 5.0, 3.2)):
        rows += [{"split": split, "row": ROW_REAL, "mae_mean": real, "ccc_mean": ccc},
                 {"split": split, "row": ROW_CONTROL, "mae_mean": ctrl, "ccc_mean": 0.0},
                 {"split": split, "row": ROW_MEAN, "mae_mean": mean, "ccc_mean": 0.0},
                 {"split": split, "row": ROW_ORACLE, "mae_mean": oracle, "ccc_mean": 0.8}]
    rows.append({"split": "dev-ai", "row": ROW_REAL, "mae_mean": 9.9, "ccc_mean": 0.0})  # ignored
    return pd.DataFrame(rows)


def test_all_targets_met_and_each_one_can_fail(tmp_path):
    checks = check_targets(_headline())
    assert len(checks) == len(TARGETS) and checks["met"].all()
    assert checks.loc[0, "bound"] == pytest.approx(0.8 * 4.5)
    path = tmp_path / "headline.csv"
    _headline(real_test=4.6).to_csv(path, index=False)  # > 0.9 x 5.0 and > 1.3 x 3.2
    missed = check_targets(path).set_index("target")["met"]
    assert not missed["test MAE <= 0.90 x mean predictor"]
    assert not missed["test MAE <= 1.3 x generator oracle"]
    assert missed["dev MAE <= 0.80 x mean predictor"]
    leak = check_targets(_headline(control=(4.0, 5.0))).set_index("target")["met"]
    assert not leak["shuffled control dev MAE >= 0.95 x mean predictor"]
    weak = check_targets(_headline(ccc_dev=0.39)).set_index("target")["met"]
    assert not weak["dev CCC >= 0.4"] and weak["test CCC >= 0.3"]
    assert "| NO |" in targets_markdown(check_targets(_headline(ccc_dev=0.1)))


def test_not_a_headline_table():
    with pytest.raises(InputError, match="not a headline table"):
        check_targets(pd.DataFrame({"x": [1]}))
    with pytest.raises(InputError, match="single"):
        check_targets(_headline().query("row != @ROW_ORACLE"))
