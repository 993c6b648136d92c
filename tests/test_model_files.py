"""A model folder is data, never code: random forests are stored without pickle and checked on loading."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from depsev import checkpoint as ckpt
from depsev.errors import InputError


class _Payload:
    """What a hostile model file would carry: a call made while unpickling."""

    def __init__(self, flag: str):
        self.flag = flag

    def __reduce__(self):
        return (os.mkdir, (self.flag,))


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 7))
    return RandomForestRegressor(n_estimators=5, random_state=0).fit(x, x[:, 0] * 3 + 10), x


def _folder(path):
    from depsev.shards.schema import SCHEMA_VERSION

    path.mkdir(parents=True)
    (path / ckpt.CONFIG_FILE).write_text(json.dumps({"kind": "rf", "modality": "video",
                                                    "features": {"schema_version": SCHEMA_VERSION}}))
    return path


def test_forest_round_trip_without_pickle(forest, tmp_path):
    est, x = forest
    path = ckpt.save_forest(est, tmp_path / ckpt.SKLEARN_FILE)
    assert path.name == "model.skops"
    with open(path, "rb") as f:  # a zip archive (skops), not a pickle stream
        assert f.read(2) == b"PK"
    back = ckpt.load_forest(path)
    assert np.array_equal(back.predict(x), est.predict(x))


def test_a_pickle_in_a_model_folder_is_never_loaded(tmp_path):
    flag = tmp_path / "payload-ran"
    folder = _folder(tmp_path / "model")
    (folder / ckpt.LEGACY_PICKLE).write_bytes(pickle.dumps(_Payload(str(flag))))
    with pytest.raises(InputError, match=r"model\.joblib: a pickle.*loads no pickles"):
        ckpt.load_checkpoint(folder)
    assert not flag.exists()


def test_a_skops_file_with_foreign_types_is_refused_before_loading(tmp_path):
    import skops.io as sio

    flag = tmp_path / "payload-ran"
    folder = _folder(tmp_path / "model")
    sio.dump({"model": _Payload(str(flag))}, folder / ckpt.SKLEARN_FILE)
    with pytest.raises(InputError, match="holds types depsev does not load"):
        ckpt.load_checkpoint(folder)
    assert not flag.exists()
    (folder / ckpt.SKLEARN_FILE).write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable skops file"):
        ckpt.load_checkpoint(folder)


def test_trees_pointing_outside_themselves_are_refused(forest, tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    est, x = forest
    ckpt.check_forest(est)  # a fitted forest passes
    for field, value in (("left_child", 10**6), ("feature", 99), ("right_child", 0)):
        path = ckpt.save_forest(est, tmp_path / f"{field}.skops")
        bad = ckpt.load_forest(path)
        tree = bad.estimators_[2].tree_
        state = tree.__getstate__()
        nodes = state["nodes"].copy()
        nodes[field][0] = value  # node 0 is internal (the forest is fitted on 60 rows)
        state["nodes"] = nodes
        tree.__setstate__(state)
        sio.dump(bad, path)
        with pytest.raises(InputError, match="tree 2: node arrays point outside the tree"):
            ckpt.load_forest(path)
    other = tmp_path / "linear.skops"
    sio.dump(LinearRegression().fit(x, x[:, 0]), other)
    with pytest.raises(InputError, match="not a RandomForestRegressor"):
        ckpt.load_forest(other)


def test_balanced_training_shards_do_not_make_the_test_shards_a_mismatch(tmp_path):
    """With chunks.balance_train, only the train shards are down-sampled: the model records that
    balance, the dev/test shards have none, and evaluating them is not a feature mismatch (a change in
    the feature set or the preparation still is)."""
    from depsev.checkpoint import check_features_match

    trained = {"features": {"modality": "fusion", "balance": {"method": "downsample", "kept": 40},
                            "preparation": {"denoise": True, "sessions": 30}}}
    check_features_match(trained, {"modality": "fusion", "balance": None,
                                   "preparation": {"denoise": True, "sessions": 13}}, tmp_path)
    with pytest.raises(InputError, match="preparation"):
        check_features_match(trained, {"modality": "fusion", "balance": None,
                                       "preparation": {"denoise": False, "sessions": 13}}, tmp_path)
