"""Bad data: corrupt IDX files and odd or unreadable images, skipped or fatal as configured."""
import gzip
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gankit.cli import main
from gankit.data import DataError, load_dataset


def _mnist_copy(tmp_path, data_dir):
    mine = tmp_path / "data" / "mnist"
    mine.mkdir(parents=True)
    for f in (data_dir / "mnist").iterdir():
        shutil.copy(f, mine / f.name)
    return tmp_path / "data", mine


@pytest.mark.parametrize("damage, fragment", [
    (lambda b: b[: len(b) // 2], "corrupt or truncated gzip"),
    (lambda b: gzip.compress(gzip.decompress(b)[:-100]), "content sha256 mismatch"),
    (lambda b: b"", "content sha256 mismatch"),
])
def test_damaged_idx_file_fails_training_with_one_line_and_writes_nothing(tmp_path, data_dir, capsys, damage,
                                                                          fragment):
    root, mine = _mnist_copy(tmp_path, data_dir)
    target = mine / "train-labels-idx1-ubyte.gz"
    target.write_bytes(damage(target.read_bytes()))
    run = tmp_path / "run"
    assert main(["train", "vanilla", "--data-dir", str(root), "--run-dir", str(run), "--steps", "5",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train-labels-idx1-ubyte.gz" in err and fragment in err
    assert not run.exists()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


@pytest.fixture
def odd_folder(tmp_path):
    """Five readable images in odd formats and five unreadable files."""
    root = tmp_path / "imgs"
    root.mkdir()
    ramp = (np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)
    Image.fromarray(ramp).save(root / "gray16.png")  # 16-bit grayscale
    Image.new("P", (10, 20), 3).save(root / "palette.png")
    Image.new("RGBA", (7, 7), (255, 0, 0, 128)).save(root / "rgba.png")
    Image.new("CMYK", (9, 9), (0, 0, 0, 0)).save(root / "cmyk.jpg")
    Image.new("L", (1, 1), 200).save(root / "tiny.bmp")
    good = Image.new("L", (32, 32), 100)
    good.save(root / "truncated.png")
    (root / "truncated.png").write_bytes((root / "truncated.png").read_bytes()[:60])
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("this is not an image")
    (root / "bomb.png").write_bytes(_png_claiming(60000, 60000))
    (root / "folder.png").mkdir()  # a directory with an image name is not a file
    (root / "notes.txt").write_text("ignored: not an image extension")
    good.save(root / "wrong-extension.webp", format="PNG")  # content sniffed, not the extension
    return root


def test_odd_images_load_and_bad_ones_are_counted_and_skipped(odd_folder):
    with pytest.warns(UserWarning, match=r"skipped 4 unreadable image\(s\).*data.strict=true"):
        ds = load_dataset("folder", data_dir=odd_folder, image_size=8, channels=1)
    assert ds.images.shape == (6, 1, 8, 8) and ds.labels is None
    with pytest.warns(UserWarning):
        rgb = load_dataset("folder", data_dir=odd_folder, image_size=8, channels=3)
    assert rgb.images.shape == (6, 3, 8, 8)
    # 16-bit grayscale is scaled to 8 bits, not clipped to white.
    from gankit.data.folder import read_image
    ramp = read_image(odd_folder / "gray16.png", "L", 16)
    assert ramp[0, 0] == 0 and ramp[-1, -1] == 254 and ramp[8, 0] == 128  # 65280 / 257, 32768 / 257


def test_strict_fails_on_the_first_unreadable_image(odd_folder):
    with pytest.raises(DataError, match="unreadable image.*data.strict is set"):
        load_dataset("folder", data_dir=odd_folder, strict=True)


def test_data_strict_is_a_config_key(odd_folder, tmp_path, capsys):
    base = ["train", "vanilla", "--dataset", "folder", "--data-dir", str(odd_folder), "--steps", "3",
            "--no-progress", "--set", "train.batch_size=4", "--set", "data.image_size=8"]
    run = tmp_path / "strict"
    assert main(base + ["--run-dir", str(run), "--set", "data.strict=true"]) == 2
    err = capsys.readouterr().err
    assert "unreadable image" in err and not run.exists()
    with pytest.warns(UserWarning, match="skipped 4"):
        assert main(base + ["--run-dir", str(tmp_path / "lenient")]) == 0


def test_empty_or_unreadable_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_dataset("folder", data_dir=tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 1 image files could be read"):
        load_dataset("folder", data_dir=tmp_path / "bad")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset("folder", data_dir=tmp_path / "missing")
