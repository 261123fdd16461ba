"""Shared test setup: the datasets from shared/ and a private cache for reference statistics."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("GANKIT_DATA"):
    os.environ["GANKIT_DATA"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> str:
    return os.environ["GANKIT_DATA"]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Reference statistics go to a temporary cache, never the user's."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
