"""Property tests over the IDX reader: every input parses exactly or fails with DataError."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gankit.data.idx import DataError, parse_idx, read_bytes

SETTINGS = settings(max_examples=200, deadline=None)
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def encode(array: np.ndarray, code: int) -> bytes:
    """IDX bytes for any IDX type (the library writes uint8 only)."""
    return (struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(DTYPES[code]).tobytes())


arrays = st.sampled_from(sorted(DTYPES)).flatmap(lambda code: st.tuples(st.just(code), hnp.arrays(
    np.dtype(DTYPES[code]).newbyteorder("="), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))))


@SETTINGS
@given(arrays)
def test_roundtrip_every_type_and_shape(pair):
    code, array = pair
    parsed = parse_idx(encode(array, code))
    assert parsed.shape == array.shape and parsed.dtype == np.dtype(DTYPES[code]).newbyteorder("=")
    np.testing.assert_array_equal(parsed, array)


@SETTINGS
@given(arrays, st.data())
def test_any_truncation_or_extension_is_a_data_error(pair, data):
    code, array = pair
    content = encode(array, code)
    cut = data.draw(st.integers(0, len(content) - 1))
    with pytest.raises(DataError):
        parse_idx(content[:cut], "cut.idx")
    extra = data.draw(st.binary(min_size=1, max_size=9))
    with pytest.raises(DataError, match="trailing"):
        parse_idx(content + extra, "long.idx")


@SETTINGS
@given(st.binary(max_size=64) | st.builds(lambda h, b: h + b, st.sampled_from(
    [b"\x00\x00\x08\x01", b"\x00\x00\x0d\x03", b"\x00\x00\x08\x04", b"\x00\x00\x07\x01"]), st.binary(max_size=40)))
def test_arbitrary_bytes_never_crash(content):
    try:
        out = parse_idx(content, "fuzz.idx")
    except DataError as e:
        assert "fuzz.idx" in str(e)
        return
    assert isinstance(out, np.ndarray)


@SETTINGS
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), st.binary(max_size=16))
def test_forged_dimensions_never_crash(dims, payload):
    """Header sizes whose product overflows 64 bits must not wrap around to a 'valid' size."""
    content = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload
    try:
        out = parse_idx(content)
    except DataError:
        return
    assert out.size == len(payload)


def test_overflowing_header_is_rejected():
    content = struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", 2**16, 2**16, 2**16, 2**16)  # 2**64 bytes
    with pytest.raises(DataError, match="truncated"):
        parse_idx(content)


@SETTINGS
@given(st.binary(max_size=200), st.integers(0, 60))
def test_damaged_gzip_is_a_data_error(tmp_path_factory, payload, cut):
    path = tmp_path_factory.mktemp("gz") / "f.gz"
    blob = gzip.compress(payload)
    written = blob[:cut] if cut < len(blob) else blob
    path.write_bytes(written)
    try:
        out = read_bytes(path)
    except DataError as e:
        assert "f.gz" in str(e) and cut < len(blob)
        return
    # Whole: the payload. Cut inside the 2-byte magic: not gzip, read as plain bytes (the hash catches it).
    assert out == (payload if written == blob else written) and (written == blob or cut < 2)


def test_empty_array_with_oversized_dimensions_is_a_data_error():
    """Found by the property test above: a zero dimension makes the size check pass."""
    content = struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", 0, 124386, 124394, 596099547)
    with pytest.raises(DataError, match="implausible IDX dimensions"):
        parse_idx(content)
