"""Sanity of the whole evaluation on images whose quality we know.

Real training images must score near the floor against the test split, uniform noise far
worse; blurred digits and single-class samples land in between, and class coverage
catches the single class.
"""
import pytest
import torch

from gankit.data import load_dataset
from gankit.metrics.evaluate import evaluate_images

N = 1000


def blur(images: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = (k / k.sum())
    x = images.float()
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, 7), padding=(0, 3))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 7, 1), padding=(3, 0))
    return x.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def scores(data_dir):
    train = load_dataset("mnist", "train", data_dir)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:N]
    real = train.images[pick]
    noise = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    ones = train.images[train.labels == 1][:N]
    cases = {"real": real, "blurred": blur(real), "one_class": ones, "noise": noise}
    return {name: evaluate_images(images, "mnist", data_dir) for name, images in cases.items()}


def test_real_training_images_score_near_the_floor(scores):
    s = scores["real"]
    assert s["fid"] < 15.0  # the floor at N = 1,000 (two finite samples of one distribution)
    assert abs(s["kid"]) < 2.0  # unbiased: ~0, within its spread over subsets
    assert s["precision"] > 0.9 and s["recall"] > 0.9
    assert 0.85 < s["density"] < 1.15 and s["coverage"] > 0.9
    assert s["class_coverage"] == 1.0 and s["class_kl"] < 0.02
    assert s["inception_score"] > 9.0


def test_uniform_noise_scores_far_worse(scores):
    s, real = scores["noise"], scores["real"]
    assert s["fid"] > 100 * max(real["fid"], 0.1)
    assert s["precision"] < 0.05 and s["recall"] < 0.05 and s["coverage"] < 0.05
    assert s["inception_score"] < 3.0


def test_blurred_and_single_class_land_in_between(scores):
    for case in ("blurred", "one_class"):
        assert scores["real"]["fid"] * 10 < scores[case]["fid"] < scores["noise"]["fid"] * 0.6, case
        assert scores["real"]["kid"] + 20 < scores[case]["kid"] < scores["noise"]["kid"] / 10, case
        assert scores[case]["recall"] < 0.5 * scores["real"]["recall"], case
    # Blurred digits are still recognisable digits of most classes; one class is one class.
    assert scores["blurred"]["class_coverage"] >= 0.8 > scores["one_class"]["class_coverage"]


def test_class_coverage_catches_the_single_class(scores):
    s = scores["one_class"]
    assert s["class_coverage"] == pytest.approx(0.1)
    assert s["class_kl"] > 2.0  # log 10 = 2.30 is the maximum
    assert s["recall"] < 0.3 and s["coverage"] < 0.3  # precision stays high: each sample is a fine '1'
    assert s["precision"] > 0.7
    assert s["inception_score"] < 1.5
