"""Read IDX files (the MNIST container format) and verify them by content hash.

The hash is taken over the *decompressed* bytes: gzip wrappers differ between
mirrors, the content does not.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

# IDX type byte -> numpy dtype (big-endian where it matters).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(Exception):
    """A data file is missing, unreadable, corrupt or not the file we expect."""


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of ``path`` (gzip is detected by its magic bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def verify(path: str | Path, content: bytes, expected_sha256: str | None) -> None:
    """Raise DataError naming the file and both hashes when content does not match."""
    if expected_sha256 is None:
        return
    actual = sha256(content)
    if actual != expected_sha256:
        raise DataError(
            f"{path}: content sha256 mismatch (expected {expected_sha256}, got {actual}); "
            "the file is truncated, corrupt or not the expected file - delete it and retry"
        )


def parse_idx(content: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the header against the payload size."""
    if len(content) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(content)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or type_code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(f"{name}: wrong magic number {content[:4].hex()} (not an IDX file)")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{name}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a forged header cannot overflow
    payload = len(content) - header
    if payload != expected:
        kind = "truncated" if payload < expected else "has trailing bytes"
        raise DataError(f"{name}: IDX file {kind} (header says {expected} data bytes, found {payload})")
    try:
        array = np.frombuffer(content, dtype=dtype, offset=header).reshape(dims)
    except ValueError as e:  # e.g. an empty array whose other dimensions overflow numpy's size limit
        raise DataError(f"{name}: implausible IDX dimensions {list(dims)} ({e})") from None
    return array.astype(dtype.newbyteorder("="))


def load_idx(path: str | Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read, verify and parse one IDX file (plain or gzip)."""
    content = read_bytes(path)
    verify(path, content, expected_sha256)
    return parse_idx(content, str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array (used to store data converted from other containers)."""
    if array.dtype != np.uint8:
        raise ValueError("encode_idx writes uint8 arrays only")
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
