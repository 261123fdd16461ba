"""The metric arithmetic against known values: closed forms and constructed point sets."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.metrics import METRICS
from gankit.metrics.classifier_metrics import class_coverage, class_histogram, class_kl, inception_score
from gankit.metrics.features import FeatureSet
from gankit.metrics.fid import fid_from_features, kid_from_features
from gankit.metrics.prdc import kth_neighbour_distance, prdc


def gaussian(n, mean, cov, seed):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.multivariate_normal(mean, cov, size=n))


def closed_form_fid(m1, c1, m2, c2):
    covmean = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def test_fid_matches_closed_form_of_two_known_gaussians():
    m1, m2 = np.zeros(3), np.array([1.0, -2.0, 0.5])
    a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    b = np.array([[1.0, -0.4, 0.1], [-0.4, 3.0, 0.0], [0.1, 0.0, 0.8]])
    expected = closed_form_fid(m1, a, m2, b)  # 5.25 + trace term
    got = fid_from_features(gaussian(100_000, m1, a, 0), gaussian(100_000, m2, b, 1))
    assert got == pytest.approx(expected, rel=0.03)


def test_fid_of_diagonal_gaussians_is_mean_gap_plus_std_gaps():
    # Diagonal covariances: FID = |dm|^2 + sum (sd1 - sd2)^2, here 4 + (2-1)^2 + (3-1)^2 = 9.
    real = gaussian(200_000, [0, 0], np.diag([4.0, 9.0]), 2)
    fake = gaussian(200_000, [2, 0], np.diag([1.0, 1.0]), 3)
    assert fid_from_features(real, fake) == pytest.approx(9.0, rel=0.02)


def test_fid_equals_formula_on_sample_statistics_in_float64():
    x, y = gaussian(500, np.zeros(8), np.eye(8), 4), gaussian(700, np.ones(8) * 0.1, 2 * np.eye(8), 5)
    expected = closed_form_fid(x.mean(0).numpy(), np.cov(x.numpy(), rowvar=False),
                               y.mean(0).numpy(), np.cov(y.numpy(), rowvar=False))
    assert fid_from_features(x, y) == pytest.approx(expected, rel=1e-6)
    assert abs(fid_from_features(x, x)) < 1e-6


def poly_mmd_unbiased(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m = x.shape[0]
    return float((kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1))
                 - 2 * kxy.mean())


def test_kid_with_one_full_subset_is_the_unbiased_mmd():
    x, y = gaussian(300, np.zeros(4), np.eye(4), 6), gaussian(300, np.ones(4), np.eye(4), 7)
    mean, std = kid_from_features(x, y, subsets=1, subset_size=300)
    assert mean == pytest.approx(poly_mmd_unbiased(x, y), rel=1e-9)
    assert std == 0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    same = kid_from_features(gaussian(1000, np.zeros(4), np.eye(4), 8), gaussian(1000, np.zeros(4), np.eye(4), 9),
                             subsets=10, subset_size=300)
    shifted = kid_from_features(gaussian(1000, np.zeros(4), np.eye(4), 8),
                                gaussian(1000, np.full(4, 0.5), np.eye(4), 9), subsets=10, subset_size=300)
    # Unbiased: the same distribution gives ~0 (within the spread over subsets), a shift does not.
    assert abs(same[0]) < 0.05 and abs(same[0]) < same[1]
    assert shifted[0] > 0.5 and shifted[0] > 3 * shifted[1]
    # Seeded subsets: the same call gives the same number and leaves the global RNG alone.
    state = torch.get_rng_state()
    again = kid_from_features(gaussian(1000, np.zeros(4), np.eye(4), 8),
                              gaussian(1000, np.full(4, 0.5), np.eye(4), 9), subsets=10, subset_size=300)
    assert again == shifted
    assert torch.equal(state, torch.get_rng_state())


def test_prdc_on_a_constructed_line():
    # Reals 0..9 with k=1: every real ball has radius 1. Fakes 0.5 and 2.2 lie inside real
    # balls, 100 and 200 far outside; the outlier at 100 has a huge ball (radius 97.8) that
    # swallows reals 3..9, which is why recall is 1 and coverage (outlier-robust) is not.
    real = torch.arange(10, dtype=torch.float64)[:, None]
    fake = torch.tensor([[0.5], [2.2], [100.0], [200.0]], dtype=torch.float64)
    got = prdc(real, fake, k=1)
    assert got["precision"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(1.0)
    assert got["density"] == pytest.approx(1.0)  # (2 + 2 + 0 + 0) / (k * 4)
    assert got["coverage"] == pytest.approx(0.4)  # reals 0, 1, 2, 3


def test_prdc_of_disjoint_clusters_is_zero_and_of_overlapping_clouds_near_one():
    a = gaussian(1000, np.zeros(2), np.eye(2), 10)
    far = prdc(a, a + 100, k=5)
    assert all(v == 0 for v in far.values())
    near = prdc(a, gaussian(1000, np.zeros(2), np.eye(2), 11), k=5)
    assert near["precision"] > 0.9 and near["recall"] > 0.9 and near["coverage"] > 0.9
    assert 0.8 < near["density"] < 1.2


def test_kth_neighbour_skips_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert kth_neighbour_distance(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_distance(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError):
        kth_neighbour_distance(x, 4)


def one_hot_logits(labels, k=10, scale=30.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).double() * scale


def test_class_metrics_on_balanced_and_single_class_predictions():
    balanced = class_histogram(one_hot_logits(np.arange(1000) % 10))
    single = class_histogram(one_hot_logits(np.full(1000, 3)))
    assert class_kl(balanced) == pytest.approx(0.0, abs=1e-12)
    assert class_kl(single) == pytest.approx(math.log(10))
    assert class_coverage(balanced) == 1.0 and class_coverage(single) == 0.1
    # A few stray predictions (1% of samples per class) do not make a missing class count.
    stray = class_histogram(one_hot_logits(np.r_[np.full(910, 3), np.arange(90) % 9]))
    assert class_coverage(stray) == 0.1


def test_inception_score_bounds_for_confident_predictions():
    assert inception_score(one_hot_logits(np.arange(1000) % 10), splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    # Ten random splits of 1,000: each split's class marginal is a little uneven.
    assert inception_score(one_hot_logits(np.arange(10000) % 10))[0] == pytest.approx(10.0, rel=0.01)
    assert inception_score(one_hot_logits(np.full(1000, 3)))[0] == pytest.approx(1.0, rel=1e-3)
    uncertain = torch.zeros(1000, 10, dtype=torch.float64)  # p(y|x) uniform: no information
    assert inception_score(uncertain)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_registered_metric_returns_finite_numbers_or_says_why_not(name):
    def fs(seed):
        g = torch.Generator().manual_seed(seed)
        return FeatureSet(torch.zeros(200, 1, 28, 28, dtype=torch.uint8),
                          torch.randn(200, 16, generator=g, dtype=torch.float64),
                          torch.randn(200, 10, generator=g))
    out = METRICS.get(name)(fs(0), fs(1), seed=0, inception="/nonexistent/weights.pth")
    assert out, f"{name} returned nothing"
    assert METRICS.doc(name), f"{name} has no one-line description for 'gankit list'"
    for key, value in out.items():
        if key.endswith("_note") or key == "class_histogram":
            continue
        if value is None:
            assert out.get(f"{key}_note"), f"{name}: {key} is null without a reason"
        else:
            assert math.isfinite(value), f"{name}: {key}={value}"
