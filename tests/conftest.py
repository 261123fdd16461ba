"""Shared fixtures. Tests that need the real datasets find them as ``gankit train`` does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GANKIT_DATA") or REPO.parent / "shared" / "data")
if not os.environ.get("GANKIT_DATA") and SHARED_DATA.is_dir():
    os.environ["GANKIT_DATA"] = str(SHARED_DATA)
# Short test runs would spend most of their time compiling: train eagerly unless a test
# opts in with train.compile=true (tests/test_fast.py does). GANKIT_COMPILE=1 runs all compiled.
os.environ.setdefault("GANKIT_COMPILE", "0")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A folder holding ``mnist/`` and ``fashion-mnist/``, verified.

    Each dataset is looked up exactly as the product looks it up ($GANKIT_DATA, the user
    cache that ``make demo`` fills, Debian's dataset-fashion-mnist, then the downloads into
    the user cache), so a fresh clone tests with what ``make demo`` fetched. Session-scoped:
    it runs before any test isolates the cache.
    """
    from gankit.data import DataError, sources

    found = {}
    for name, cat in sources.CATALOGUES.items():
        try:
            paths = sources.locate(cat, tuple(cat.hashes), download=True)
        except DataError as e:
            pytest.skip(f"{name} is not available: {e}")
        folders = {p.parent for p in paths.values()}
        if len(folders) != 1:
            pytest.skip(f"{name}: its files lie in different folders ({sorted(map(str, folders))})")
        found[name] = folders.pop()
    roots = {folder.parent for name, folder in found.items() if folder.name == name}
    if len(roots) == 1 and len(found) == len(sources.CATALOGUES):
        return roots.pop()  # e.g. $GANKIT_DATA/{mnist,fashion-mnist} or the user cache
    joined = tmp_path_factory.mktemp("data")
    for name, folder in found.items():
        (joined / name).symlink_to(folder, target_is_directory=True)
    return joined


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never let a test read or write the user's real cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def mnist_small(data_dir):
    """A real MNIST train split (loaded once per session)."""
    from gankit.data import load_dataset

    return load_dataset("mnist", "train", data_dir=data_dir)


@pytest.fixture(scope="session", autouse=True)
def _shared_refstats(tmp_path_factory):
    """Reference features cost a CNN pass over 10k-60k images: one temporary cache per session.

    Session-wide, so module-scoped fixtures use it too; the user's cache is never touched.
    """
    from gankit.metrics import features

    patch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("refstats")
    patch.setattr(features, "cache_root", lambda: root)
    yield root
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine two threads thrash (20x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
