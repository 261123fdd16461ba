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
from PIL import Image, UnidentifiedImageError

from gankit.data.idx import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def load_folder(root, image_size: int = 28, channels: int = 1, strict: bool = False, **_):
    from gankit.data.datasets import ImageSet

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
            with Image.open(path) as im:
                im = im.convert(mode).resize((image_size, image_size), Image.Resampling.BICUBIC)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            if strict:
                raise DataError(f"{path}: unreadable image ({e})") from None
            bad.append(path)
            continue
        arrays.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
        if class_names:
            labels.append(class_names.index(path.parent.name))
    if bad:
        warnings.warn(f"{root}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
    if not arrays:
        raise DataError(f"{root}: none of the {len(files)} image files could be read")
    images = torch.from_numpy(np.stack(arrays))
    return ImageSet(root.name, images, torch.tensor(labels, dtype=torch.int64) if class_names else None,
                    tuple(class_names))
