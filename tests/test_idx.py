"""IDX parsing and content verification."""
import gzip
import struct

import numpy as np
import pytest

from gankit.data.idx import DataError, encode_idx, load_idx, parse_idx, read_bytes, sha256
from gankit.data.sources import CATALOGUES


def _idx(arr):
    return encode_idx(np.asarray(arr, dtype=np.uint8))


def test_roundtrip_known_values():
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    content = _idx(arr)
    assert content[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", content[4:16]) == (2, 3, 4)
    np.testing.assert_array_equal(parse_idx(content), arr)


def test_real_mnist_file_parses_and_verifies(data_dir):
    path = data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels = load_idx(path, CATALOGUES["mnist"].hashes["t10k-labels-idx1-ubyte"])
    assert labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]


def test_truncated_payload_is_rejected():
    content = _idx(np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(content[:-5], "x.idx")


def test_trailing_bytes_are_rejected():
    with pytest.raises(DataError, match="trailing"):
        parse_idx(_idx(np.zeros((2, 2))) + b"\x00", "x.idx")


def test_wrong_magic_is_rejected():
    with pytest.raises(DataError, match="magic"):
        parse_idx(b"\x12\x34\x08\x01" + b"\x00" * 8, "x.idx")
    with pytest.raises(DataError, match="too short"):
        parse_idx(b"\x00", "x.idx")


def test_wrong_hash_names_file_and_both_hashes(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    content = _idx(np.arange(10))
    path.write_bytes(gzip.compress(content))
    good = sha256(content)
    assert load_idx(path, good).tolist() == list(range(10))
    with pytest.raises(DataError) as err:
        load_idx(path, "0" * 64)
    msg = str(err.value)
    assert str(path) in msg and "0" * 64 in msg and good in msg


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(_idx(np.zeros((50, 28, 28))))[:40])
    with pytest.raises(DataError, match="broken.gz"):
        read_bytes(path)


def test_hash_is_of_decompressed_content(tmp_path):
    content = _idx(np.ones((4, 4)))
    for level in (1, 9):
        p = tmp_path / f"f{level}.gz"
        p.write_bytes(gzip.compress(content, compresslevel=level))
        assert sha256(read_bytes(p)) == sha256(content)
