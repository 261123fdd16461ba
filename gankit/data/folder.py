"""The user's own images: every PNG/JPEG under a folder, resized and stacked in memory.

Sub-folders name classes when every image sits in one (``root/cat/*.png``); otherwise the
set is unlabelled. Unreadable files are counted and skipped with a warning, or fail the
load when ``strict`` is set.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gankit.data.idx import DataError
from gankit.data.imageset import ImageSet

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def read_image(path: Path, mode: str, size: int) -> np.ndarray:
    """One image as uint8 ``[size, size]`` (mode 'L') or ``[size, size, 3]`` ('RGB').

    Odd files are normalised first: camera rotation (EXIF) is applied, and 16-bit
    grayscale is scaled to 8 bits rather than clipped to white.
    """
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            wide = np.asarray(im, dtype=np.float64)
            im = Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8), "L")
        im = im.convert(mode).resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def load_folder(root, image_size: int = 28, channels: int = 1, strict: bool = False, **_):
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if channels not in (1, 3):
        raise DataError(f"folder dataset: channels must be 1 or 3, got {channels}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(EXTENSIONS))})")
    class_names = sorted({p.parent.name for p in files}) if all(p.parent != root for p in files) else []
    mode = "L" if channels == 1 else "RGB"
    arrays, labels, bad = [], [], []
    for path in files:
        try:
            arr = read_image(path, mode, image_size)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            if strict:
                raise DataError(f"{path}: unreadable image ({e}); data.strict is set") from None
            bad.append(path)
            continue
        arrays.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
        if class_names:
            labels.append(class_names.index(path.parent.name))
    if bad:
        warnings.warn(f"{root}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]} "
                      "(set data.strict=true to fail instead)")
    if not arrays:
        raise DataError(f"{root}: none of the {len(files)} image files could be read")
    images = torch.from_numpy(np.stack(arrays))
    return ImageSet(root.name, images, torch.tensor(labels, dtype=torch.int64) if class_names else None,
                    tuple(class_names))
