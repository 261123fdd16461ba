"""The shipped feature extractors: accuracy from the shipped weights, and their integrity checks."""
import shutil

import pytest
import torch

from gankit.errors import ConfigError
from gankit.metrics import extractor
from gankit.metrics.features import reference

TARGETS = {"mnist": 0.993, "fashion-mnist": 0.91}


@pytest.mark.parametrize("dataset", sorted(TARGETS))
def test_shipped_extractor_reaches_its_accuracy_target_on_the_test_split(dataset, data_dir):
    ref = reference(dataset, "test", data_dir)
    from gankit.data import load_dataset

    labels = load_dataset(dataset, "test", data_dir).labels
    acc = float((ref.logits.argmax(1) == labels).double().mean())
    assert acc >= TARGETS[dataset]
    assert acc == pytest.approx(extractor.read_card()[dataset]["test_accuracy"], abs=2e-4)  # the card is honest
    assert ref.features.shape == (10000, extractor.FEATURE_DIM) and ref.features.dtype == torch.float64


def test_every_card_entry_names_its_command_and_hash():
    card = extractor.read_card()
    assert set(TARGETS) <= set(card)
    for dataset, entry in card.items():
        assert entry["command"].startswith("python -m gankit.metrics.train_extractor --dataset " + dataset)
        assert extractor.file_sha256(extractor.weights_dir() / entry["file"]) == entry["sha256"]


def test_altered_weights_are_refused(tmp_path, monkeypatch):
    for f in extractor.weights_dir().iterdir():
        shutil.copy(f, tmp_path / f.name)
    entry = extractor.read_card()["mnist"]
    blob = bytearray((tmp_path / entry["file"]).read_bytes())
    blob[-1] ^= 0xFF
    (tmp_path / entry["file"]).write_bytes(bytes(blob))
    monkeypatch.setattr(extractor, "weights_dir", lambda: tmp_path)
    extractor.load_extractor.cache_clear()
    try:
        with pytest.raises(extractor.ExtractorError, match="sha256"):
            extractor.load_extractor("mnist")
    finally:
        extractor.load_extractor.cache_clear()


def test_unknown_dataset_names_the_ones_that_have_an_extractor():
    with pytest.raises(ConfigError, match=r"no feature extractor for dataset 'cifar10' \(shipped: .*mnist"):
        extractor.load_extractor("cifar10")


def test_extractor_is_batch_independent_and_accepts_both_image_layouts():
    net = extractor.load_extractor("mnist")
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    f_all, _ = net(x)
    f_one, _ = net(x[2:3, 0])  # [N, H, W] works too; eval-mode BN gives per-image features
    assert torch.allclose(f_all[2:3], f_one, atol=1e-5)
