"""Shared pytest fixtures.

Real fixtures live in ``../shared/fixtures`` beside the repository (not copied into it); tests
that need them skip cleanly when that folder is absent (a user's clone has none).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


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
