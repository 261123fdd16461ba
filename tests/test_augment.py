"""DiffAugment (gankit/augment.py) and data.limit (gankit/data/subset.py).

The transforms are checked against the paper's own code (DiffAugment_pytorch.py, Zhao et
al. 2020) given the same random draws, and in a training step: what D sees in both
updates, and that G's gradient passes through them.
"""
import pytest
import torch
import torch.nn.functional as F

from gankit import augment
from gankit import config as C
from gankit.ada import INTERVAL, AdaptiveAugment
from gankit.data import ImageSet
from gankit.data.idx import DataError
from gankit.data.subset import limited
from gankit.errors import ConfigError

from steps import make_step, random_images

SHAPE = (1, 8, 8)


def tiny(*overrides):
    return C.load_preset("vanilla", ["model.g_hidden=[32]", "model.d_hidden=[32]", "model.z_dim=8",
                                     "train.batch_size=16", "train.precision=fp32", *overrides])


def paper_translation(x, tx, ty):
    """rand_translation from the paper's code, its randint draws replaced by ``tx``, ``ty`` [N]."""
    translation_x, translation_y = tx.view(-1, 1, 1), ty.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(x.size(2)),
                                                torch.arange(x.size(3)), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def paper_cutout(x, ox, oy, ratio=0.5):
    """rand_cutout from the paper's code, its offsets given."""
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x, offset_y = ox.view(-1, 1, 1), oy.view(-1, 1, 1)
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(cutout_size[0]),
                                                torch.arange(cutout_size[1]), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


@pytest.mark.parametrize("side", [28, 32, 7])
def test_translation_and_cutout_equal_the_papers_code_for_every_draw(side):
    gen = torch.Generator().manual_seed(side)
    x = torch.rand(300, 3, side, side, generator=gen) * 2 - 1
    p = augment.draw(("translation", "cutout"), x.shape, gen, "cpu")
    s, c = p["shift"], p["cutout"]
    assert torch.equal(augment.translate(x, s), paper_translation(x, s[:, 0], s[:, 1]))
    assert torch.equal(augment.cut_out(x, c), paper_cutout(x, c[:, 0], c[:, 1]))
    limit = int(side * 0.125 + 0.5)  # shifts up to 1/8 of the side, both ways, all of them drawn
    assert set(s.flatten().tolist()) == set(range(-limit, limit + 1))


def test_translation_moves_the_picture_and_fills_with_zero():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    down_right = augment.translate(x, torch.tensor([[-1, -1]]))  # reads (r - 1, c - 1): content moves down-right
    assert torch.equal(down_right[0, 0, 1:, 1:], x[0, 0, :3, :3])
    assert down_right[0, 0, 0].abs().sum() == 0 and down_right[0, 0, :, 0].abs().sum() == 0


def test_cutout_zeroes_half_the_side_and_keeps_the_rest():
    x = torch.ones(1, 1, 8, 8)
    out = augment.cut_out(x, torch.tensor([[4, 4]]))
    assert out.sum() == 64 - 16 and out[0, 0, 2:6, 2:6].sum() == 0  # a 4x4 square centred at (4, 4)
    corner = augment.cut_out(x, torch.tensor([[0, 0]]))
    assert corner.sum() == 64 - 4 and corner[0, 0, :2, :2].sum() == 0  # clipped at the border


def test_colour_follows_the_papers_formulas_and_is_a_pure_shift_on_grey_images():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(50, 3, 8, 8, generator=gen)
    p = augment.draw(("color",), x.shape, gen, "cpu")
    b, s, c = p["brightness"], p["saturation"], p["contrast"]
    assert b.min() >= -0.5 and b.max() < 0.5 and s.min() >= 0 and s.max() < 2 and c.min() >= 0.5 and c.max() < 1.5
    want = x + b
    want = (want - want.mean(1, keepdim=True)) * s + want.mean(1, keepdim=True)
    want = (want - want.mean((1, 2, 3), keepdim=True)) * c + want.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(augment.apply(x, p), want, atol=1e-6)
    grey = x[:, :1]  # saturation does nothing to one channel; contrast scales around the image mean
    out = augment.apply(grey, p)
    mean = (grey + b).mean((1, 2, 3), keepdim=True)
    assert torch.allclose(out, (grey + b - mean) * c + mean, atol=1e-6)


def test_shapes_and_range_kept_by_the_geometric_policies():
    x = torch.rand(64, 3, 16, 16) * 2 - 1
    p = augment.draw(("translation", "cutout"), x.shape, torch.Generator().manual_seed(1), "cpu")
    out = augment.apply(x, p)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out, x)


def test_gradients_pass_through_every_policy():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(4, 2, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    p = augment.draw(augment.POLICIES, x.shape, gen, "cpu")
    p = {k: v.double() if v.is_floating_point() else v for k, v in p.items()}
    assert torch.autograd.gradcheck(lambda t: augment.apply(t, p), (x,))
    # after the geometric policies alone, a pixel's gradient counts how often D's view reads it
    ones = torch.ones(8, 1, 16, 16, requires_grad=True)
    geometric = augment.draw(("translation", "cutout"), ones.shape, gen, "cpu")
    augment.apply(ones, geometric).sum().backward()
    assert set(ones.grad.unique().tolist()) == {0.0, 1.0}  # each pixel read once, or shifted or cut out
    assert 0.5 < (ones.grad != 0).float().mean() < 1  # most pixels survive a shift and a quarter cut-out


def test_policies_parse_from_a_list_or_a_comma_string_and_reject_unknown_ones():
    assert augment.policies_of("color, cutout") == ("color", "cutout")
    assert augment.policies_of(["translation", "translation"]) == ("translation",)
    assert augment.policies_of("") == ()
    with pytest.raises(ConfigError, match="unknown policy 'colour'"):
        augment.policies_of("colour")
    with pytest.raises(ConfigError, match="unknown policy"):
        C.load_preset("hinge", ["tricks.diffaugment=[color,blur]"])
    with pytest.raises(ConfigError, match="transform images"):
        C.load_preset("ring8", ["tricks.diffaugment=color"])


def test_the_step_augments_real_and_fake_alike_and_g_learns_through_it():
    cfg = tiny("tricks.diffaugment=color,translation,cutout")
    step = make_step(cfg, shape=SHAPE)
    real = torch.rand(16, *SHAPE)
    draws = step.tricks.d_draws(real, 0)
    assert {k.split(".")[0] for k in draws} == {"aug_real", "aug_fake"}
    assert not torch.equal(draws["aug_real.shift"], draws["aug_fake.shift"])  # independent draws per batch
    assert not torch.equal(step.tricks.d_input(real, draws, "real"), real)
    g_draws = step.tricks.g_draws(real.shape, real.device, 0)
    assert {k.split(".")[0] for k in g_draws} == {"aug_fake"}
    z, y = step.latents.draw(16, step.gen)
    loss, _ = step.g_loss(z, y, None, None, g_draws)
    step.gan.G.zero_grad()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in step.gan.G.parameters() if p.requires_grad)


def test_no_policy_draws_nothing_so_runs_without_it_are_unchanged():
    step = make_step(tiny(), shape=SHAPE)
    assert step.tricks.d_draws(torch.rand(4, *SHAPE), 0) == {}


def labelled(n_per_class):
    classes = len(n_per_class)
    labels = torch.arange(classes).repeat_interleave(torch.tensor(n_per_class))
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 1, 1, 1)
    return ImageSet("toy", images.expand(-1, 1, 2, 2).clone(), labels, tuple(map(str, range(classes))))


def test_limit_is_stratified_by_class_and_the_same_every_time():
    data = labelled([600] * 10)
    small = limited(data, 1000)
    assert len(small) == 1000 and small.labels.bincount().tolist() == [100] * 10
    assert torch.equal(limited(data, 1000).images, small.images)
    uneven = limited(labelled([300, 100, 600]), 100)
    assert uneven.labels.bincount().tolist() == [30, 10, 60]  # each class keeps its share
    odd = limited(labelled([5, 5, 5]), 4)
    assert len(odd) == 4 and sorted(odd.labels.bincount().tolist()) == [1, 1, 2]


def test_limit_without_labels_and_its_errors():
    data = labelled([50])
    data.labels = None
    assert len(limited(data, 7)) == 7 and limited(data, 7).labels is None
    assert limited(data, 0) is data
    with pytest.raises(DataError, match="more than the 50 samples"):
        limited(data, 51)
    with pytest.raises(ConfigError, match="data.limit"):
        C.load_preset("hinge", ["data.limit=-1"])


# ---------------------------------------------------------------------------- adaptive augmentation (ADA)

def test_p_zero_draws_the_identity_and_p_one_the_full_augmentation():
    x = torch.rand(200, 3, 16, 16) * 2 - 1
    none = augment.draw(augment.POLICIES, x.shape, torch.Generator().manual_seed(3), "cpu", p=0.0)
    assert torch.allclose(augment.apply(x, none), x, atol=1e-6)  # (x - m) * 1 + m: rounding only
    every = augment.draw(augment.POLICIES, x.shape, torch.Generator().manual_seed(3), "cpu", p=1.0)
    changed = (augment.apply(x, every) != x).flatten(1).any(1)
    assert changed.all()
    half = augment.draw(("cutout",), x.shape, torch.Generator().manual_seed(3), "cpu", p=0.5)
    cut = (augment.apply(x, half) == 0).flatten(1).any(1).float().mean().item()
    assert 0.4 < cut < 0.6  # each sample cut out with probability p


def test_the_controller_moves_p_by_the_papers_step_towards_the_target():
    ada = AdaptiveAugment(target=0.6, kimg=1.0, images_per_iteration=50)  # step 50 * 4 / 1000 = 0.2
    for _ in range(INTERVAL - 1):
        ada.observe(torch.tensor(0.9))
    assert ada.p == 0.0  # only every INTERVAL iterations
    ada.observe(torch.tensor(0.9))
    assert ada.p == pytest.approx(0.2) and ada.r_t == pytest.approx(0.9)
    for _ in range(10 * INTERVAL):
        ada.observe(torch.tensor(1.0))
    assert ada.p == 1.0  # clamped
    for _ in range(2 * INTERVAL):
        ada.observe(torch.tensor(0.2))
    assert ada.p == pytest.approx(0.6)
    restored = AdaptiveAugment(0.6, 1.0, 50)
    ada.observe(torch.tensor(0.5))  # a partial average travels with the checkpoint too
    restored.load_state_dict(ada.state_dict())
    for a in (ada, restored):
        for _ in range(INTERVAL - 1):
            a.observe(torch.tensor(-1.0))
    assert restored.p == ada.p == pytest.approx(0.4)


def run_ada(step, ada, n, after_each=lambda: None):
    for i in range(n):
        stats = step(i, ada.p)
        ada.observe(stats["r_t"])
        after_each()
    return ada


def test_p_rises_when_d_memorises_a_tiny_set_and_falls_when_d_cannot_tell():
    cfg = tiny("tricks.ada_target=0.6", "tricks.ada_kimg=0.5", "optim.d_lr=0.003")
    step = make_step(cfg, shape=SHAPE, data=random_images(16, SHAPE))  # 16 images: D learns them by heart
    ada = run_ada(step, AdaptiveAugment(0.6, 0.5, 16), 120)
    assert ada.r_t > 0.6 and ada.p > 0.3

    blind = make_step(cfg, shape=SHAPE)
    last = list(blind.gan.D.parameters())[-2:]  # D's output layer, zeroed: D(x) = 0 for every x

    def blindfold():
        with torch.no_grad():
            for p in last:
                p.zero_()

    blindfold()
    ada = AdaptiveAugment(0.6, 0.5, 16)
    ada.p = 1.0
    run_ada(blind, ada, 4 * INTERVAL, blindfold)
    assert ada.r_t == 0.0  # sign(0): D calls no real image real
    assert ada.p == pytest.approx(1.0 - 4 * 0.128)  # 4 adjustments of 16 * 4 / 500 down


def test_ada_is_refused_where_d_has_no_boundary_or_the_data_are_points():
    with pytest.raises(ConfigError, match="no real/fake boundary"):
        C.load_preset("wgan-gp", ["tricks.ada_target=0.6"])
    with pytest.raises(ConfigError, match="transform images"):
        C.load_preset("ring8", ["tricks.ada_target=0.6"])
    assert C.load_preset("rahinge", ["tricks.ada_target=0.6"]).tricks.ada_target == 0.6


def test_ada_p_is_logged_checkpointed_and_resumed_exactly(tmp_path):
    from gankit.checkpoint import CheckpointDir, load_checkpoint
    from gankit.runs import read_metrics
    from gankit.train import train

    def cfg(steps):
        return C.load_preset("vanilla", ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=16",
                                         "data.dataset=synthetic", "data.limit=32", "train.log_every=8",
                                         "train.checkpoint_every=24", "train.sample_every=1000",
                                         "tricks.ada_target=0.6", "tricks.ada_kimg=0.5", f"train.steps={steps}"])
    whole, part = tmp_path / "whole", tmp_path / "part"
    train(cfg(48), whole, progress=False)
    train(cfg(24), part, progress=False)
    train(cfg(48), part, resume=True, progress=False)
    rows = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_metrics(whole / "metrics.jsonl")]
    assert rows == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_metrics(part / "metrics.jsonl")]
    assert all("aug_p" in r and "r_t" in r for r in rows) and rows[-1]["aug_p"] > 0
    saved = load_checkpoint(CheckpointDir(whole / "checkpoints").last)["ada"]
    assert saved["p"] > 0 and saved["count"] == 0  # 48 iterations: 12 whole adjustments


# ---------------------------------------------------------------------------- seeing overfitting

def test_held_out_images_are_the_ones_the_subset_leaves_out():
    from gankit.data.subset import held_out, subset_indices
    data = labelled([60] * 5)
    data.images = torch.arange(300).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()  # each image its own index
    kept = set(limited(data, 100).images[:, 0, 0, 0].tolist())
    unseen = held_out(data, 100)
    assert len(unseen) == 64 and not kept & set(unseen.images[:, 0, 0, 0].tolist())
    assert len(kept) == 100 and held_out(data, 0) is None and held_out(data, 300) is None
    assert torch.equal(subset_indices(data.labels, 300, 100), subset_indices(data.labels, 300, 100))


class Lookup(torch.nn.Module):
    """A 'discriminator' scoring each image by its first pixel: the scores are chosen by the test."""

    def forward(self, x, y=None):
        return x.flatten(1)[:, 0]


def monitor_with(train_score, held_score, fake_score):
    from gankit.health import HealthMonitor

    class FixedG(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z, y=None):
            return torch.full((z.shape[0], 1, 2, 2), fake_score) + z.view(-1, 1, 1, 1) * 1e-3

    real = torch.full((8, 1, 2, 2), train_score) + torch.rand(8, 1, 2, 2) * 1e-3
    held = torch.full((8, 1, 2, 2), held_score)
    return HealthMonitor(FixedG(), real, torch.arange(8.0), D=Lookup(), d_slice=8, held_out=held)


def test_the_monitor_measures_r_v_and_warns_when_held_out_images_look_fake():
    from gankit.health import OVERFIT_ROWS

    memorised = monitor_with(train_score=1.0, held_score=-0.5, fake_score=-1.0)
    stats = memorised.sample_stats()
    assert stats["r_v"] == pytest.approx(0.75, abs=1e-2)  # (1 - (-0.5)) / (1 - (-1))
    assert stats["D_train"] == pytest.approx(1.0, abs=1e-2) and stats["D_heldout"] == -0.5
    said = [w for _ in range(OVERFIT_ROWS) for w in memorised.update({**stats})]
    assert len(said) == 1 and "memorising" in said[0] and "overfitting" in memorised.active
    healthy = monitor_with(train_score=1.0, held_score=0.9, fake_score=-1.0)
    stats = healthy.sample_stats()
    assert stats["r_v"] == pytest.approx(0.05, abs=1e-2)
    assert not [w for _ in range(2 * OVERFIT_ROWS) for w in healthy.update({**stats})]


def test_a_small_subset_run_logs_r_t_and_the_held_out_comparison(tmp_path):
    from gankit.runs import read_metrics
    from gankit.train import train

    common = ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=16", "data.dataset=synthetic",
              "train.log_every=10", "train.steps=20", "train.sample_every=1000"]
    train(C.load_preset("vanilla", [*common, "data.limit=100"]), tmp_path / "small", progress=False)
    row = read_metrics(tmp_path / "small" / "metrics.jsonl")[-1]
    assert {"r_t", "D_train", "D_heldout", "r_v"} <= row.keys() and -1 <= row["r_t"] <= 1
    train(C.load_preset("vanilla", common), tmp_path / "full", progress=False)
    assert not {"r_t", "D_train", "r_v"} & read_metrics(tmp_path / "full" / "metrics.jsonl")[-1].keys()


@pytest.mark.parametrize("series, warnings", [
    ([0.6, 0.6, 0.6, 0.45, 0.6, 0.6, 0.7], 1),  # a dip that stays above 0.35 is the same episode
    ([0.6, 0.6, 0.6, 0.2, 0.6, 0.6, 0.6], 2),  # a real recovery ends it; the next one warns again
    ([0.6, 0.6, 0.4, 0.6, 0.7], 1),  # the third row past one half counts across a dip in the band
    ([0.6, 0.6, 0.2, 0.6, 0.6], 0),  # a recovery in between: never 3 rows in one episode
])
def test_the_overfitting_warning_fires_once_per_episode(series, warnings):
    from gankit.health import HealthMonitor

    monitor = HealthMonitor()
    said = [w for r_v in series for w in monitor.update({"r_v": r_v})]
    assert len(said) == warnings
