"""Shared pytest fixtures.

Real fixtures live in ``../shared/fixtures`` beside the repository (not copied into it); tests
that need them skip cleanly when that folder is absent (a user's clone has none).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


#: the longest test files, started first: pytest-xdist (scripts/test.sh: --dist loadfile
#: --no-loadscope-reorder) hands each worker one file at a time in collection order, so these run side
#: by side from the start instead of queueing at the end
LONG_FIRST = ("test_workflow.py", "test_slurm.py", "test_learning.py", "test_workflow_plan.py")
#: files that wait for the shared tiny run (tests/tiny_run.py) built by test_workflow.py: collected last,
#: so that the workers pick them up after other work
TINY_RUN_LAST = ("test_workflow_preset.py", "test_workflow_resume.py", "test_predict.py", "test_export.py",
                 "test_predict_container.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    rank.update({name: len(LONG_FIRST) + 1 + i for i, name in enumerate(TINY_RUN_LAST)})
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: file order kept


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def openface_fixtures(shared_fixtures) -> Path:
    return shared_fixtures / "openface"


@pytest.fixture(scope="session")
def speech_fixtures(shared_fixtures) -> Path:
    return shared_fixtures / "speech"


@pytest.fixture(scope="session")
def tiny_run(shared_tmp) -> Path:
    """The whole DAG on a tiny SYNTHETIC cohort with bad sessions, once per pytest run (read-only: a
    test that changes it works on ``tiny_run.copy_run``)."""
    from tiny_run import build_tiny_run

    return build_tiny_run(shared_tmp / "tiny-run")


#: the tiny run's models that the predict and export tests use: {name: results/models/<model>/seed0}
DEMO_MODELS = {"fusion": "moe-fusion", "mixture_audio": "moe-audio", "audio": "expert-audio-woz"}


@pytest.fixture(scope="session")
def demo_run(tiny_run, tmp_path_factory) -> dict:
    """The tiny run as the predict and export tests see it: its cohort, normalization statistics and
    shards, and copies of three of its trained models (a fusion mixture, an audio mixture, an audio
    expert) outside the run's layout, so that no evaluation lies beside them (a test that wants one
    makes it) and nothing a test does reaches the shared run."""
    import pandas as pd

    models = tmp_path_factory.mktemp("demo-models")
    info = {"root": str(tiny_run), "cohort": str(tiny_run / "results/demo-cohort"),
            "shards": str(tiny_run / "results/shards"), "normalize": str(tiny_run / "results/normalize")}
    for name, model in DEMO_MODELS.items():
        info[name] = str(shutil.copytree(tiny_run / f"results/models/{model}/seed0", models / model))
    manifest = pd.read_parquet(tiny_run / "results/manifest.parquet")
    ok = manifest[manifest["status"] == "ok"]
    for split in ("dev", "test"):
        info[split] = [int(p) for p in ok.loc[ok["split"] == split, "participant_id"]]
    return info


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory) -> Path:
    """A scratch folder shared by all test processes of this pytest run (pytest-xdist gives each
    worker its own base temp folder; their parent is the run's): for things built once per run."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture()
def one_torch_thread():
    """Tiny tensors: one intra-op thread is many times faster on a shared machine (restored after)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def small_cohort(shared_tmp) -> Path:
    """A small SYNTHETIC cohort in the E-DAIC layout, generated once per pytest run, whichever test
    process asks first (the others wait on a lock file); read-only!"""
    import fcntl

    from depsev.corpus.synthetic import generate_cohort

    out = shared_tmp / "small-cohort" / "demo"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out.parent / "done").is_file():
            if out.exists():
                shutil.rmtree(out)  # a generation that failed earlier in this pytest run
            generate_cohort(out, participants=12, minutes=1.0, seed=11)
            (out.parent / "done").write_text("")
    return out


@pytest.fixture()
def cohort_copy(small_cohort, tmp_path) -> Path:
    """A private, writable copy of the small cohort (for tests that break it)."""
    dst = tmp_path / "demo"
    shutil.copytree(small_cohort, dst)
    return dst
