"""Integrity checks: split disjointness, train-only statistics, shards built with them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from depsev.evaluate.integrity import (
    IntegrityError,
    check_checkpoints,
    check_integrity,
    check_splits,
    check_statistics,
)


def _manifest(rows):
    return pd.DataFrame(rows, columns=["participant_id", "split", "status"])


def test_splits_disjoint_and_violations():
    ok = _manifest([(300, "train", "ok"), (301, "dev", "ok"), (600, "test", "ok")])
    assert check_splits(ok)["ok"]
    bad = _manifest([(300, "train", "ok"), (300, "dev", "ok"), (600, "test", "ok")])
    res = check_splits(bad)
    assert not res["ok"] and res["detail"]["in_two_splits"] == [300]


def _stats(path, ids, fitted_on="train"):
    path.write_text(json.dumps({"fitted_on": fitted_on, "participant_ids": ids, "feature_names": ["a"]}))
    return path


def test_statistics_must_come_from_train(tmp_path):
    m = _manifest([(300, "train", "ok"), (301, "train", "ok"), (302, "dev", "ok"), (600, "test", "ok")])
    assert check_statistics(m, [_stats(tmp_path / "video.json", [300, 301])])["ok"]
    leak = check_statistics(m, [_stats(tmp_path / "audio.json", [300, 600])])
    assert not leak["ok"] and leak["detail"]["audio.json"]["non_train_participants"] == [600]
    assert not check_statistics(m, [_stats(tmp_path / "x.json", [300], fitted_on="all")])["ok"]


def test_checkpoints_must_not_list_test(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "config.json").write_text(json.dumps({"data": {"splits": ["train", "dev"], "fingerprint": {
        "dirs": [{"dir": "video/train"}, {"dir": "video/dev"}]}}}))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"data": {"splits": ["train", "dev"], "fingerprint": {
        "dirs": [{"dir": "video/train"}, {"dir": "video/test"}]}}}))
    none = tmp_path / "none"
    none.mkdir()
    (none / "config.json").write_text(json.dumps({"data": {"splits": ["train", "dev"]}}))
    assert check_checkpoints([good])["ok"]
    assert not check_checkpoints([bad])["ok"]
    assert not check_checkpoints([none])["ok"]


def test_check_integrity_raises_on_leak(tmp_path):
    m = _manifest([(300, "train", "ok"), (600, "test", "ok")])
    with pytest.raises(IntegrityError, match="statistics_from_train"):
        check_integrity(m, [_stats(tmp_path / "video.json", [300, 600])], [], [])
    assert check_integrity(m, [_stats(tmp_path / "v2.json", [300])], [], [])["ok"]
