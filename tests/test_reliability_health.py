"""The health monitor warns once per episode, for the right reasons, and resumes its state."""
import torch

from gankit.health import HealthMonitor, diversity


def _row(step, dx=0.7, dgz=0.3, d_loss=1.2, g_loss=0.9, **extra):
    return {"step": step, "D(x)": dx, "D(G(z))": dgz, "D_loss": d_loss, "G_loss": g_loss, **extra}


def test_d_wins_needs_patience_and_warns_once():
    mon = HealthMonitor(patience=3)
    assert mon.update(_row(1, 0.999, 0.001)) == [] and mon.update(_row(2, 0.999, 0.001)) == []
    warnings = mon.update(_row(3, 0.999, 0.001))
    assert len(warnings) == 1 and "D wins outright" in warnings[0] and mon.active == ["D wins"]
    assert mon.update(_row(4, 0.999, 0.001)) == [] and mon.active == ["D wins"]
    assert mon.update(_row(5, 0.9, 0.05)) == [] and mon.active == []
    # A balanced game never warns.
    mon = HealthMonitor(patience=3)
    assert all(mon.update(_row(i, 0.98, 0.02)) == [] for i in range(20))


def test_exploding_loss_is_relative_to_its_recent_median():
    mon = HealthMonitor()
    for i in range(6):
        assert mon.update(_row(i, g_loss=2.0 + 0.1 * i)) == []
    assert mon.update(_row(7, g_loss=15.0)) == []  # 7x the median: noisy, not exploded
    warnings = mon.update(_row(8, g_loss=250.0))
    assert len(warnings) == 1 and warnings[0].startswith("G_loss exploded: 250") and "G_loss exploded" in mon.active


def test_collapse_from_diversity_and_from_class_coverage():
    mon = HealthMonitor()
    assert mon.update(_row(1, diversity=0.6)) == [] and mon.update(_row(2, diversity=0.5)) == []
    warnings = mon.update(_row(3, diversity=0.1))
    assert len(warnings) == 1 and "generator collapse" in warnings[0] and mon.active == ["collapse"]
    assert mon.update(_row(4, diversity=0.1)) == []  # still collapsed: no repeat
    assert mon.update(_row(5, diversity=0.6, classes_found=0.2)) == ["generator collapse: samples cover only 20% of the classes"]


def test_sample_stats_see_a_collapsed_generator():
    real = torch.rand(32, 1, 8, 8)
    z = torch.randn(32, 4)

    class Collapsed(torch.nn.Module):
        def forward(self, z, y=None):
            return torch.full((z.shape[0], 1, 8, 8), 0.5) + 0 * z.sum()

    class Diverse(torch.nn.Module):
        def forward(self, z, y=None):
            return torch.rand(z.shape[0], 1, 8, 8, generator=torch.Generator().manual_seed(1))

    assert HealthMonitor(Collapsed(), real, z).sample_stats()["diversity"] == 0.0
    assert HealthMonitor(Diverse(), real, z).sample_stats()["diversity"] > 0.8
    classify = lambda x: torch.zeros(x.shape[0], dtype=torch.long)  # noqa: E731  every sample looks like class 0
    stats = HealthMonitor(Diverse(), real, z, classify=classify, num_classes=10).sample_stats()
    assert stats["classes_found"] == 0.1
    assert float(diversity(torch.zeros(5, 3))) == 0.0


class _DropoutG(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Dropout(0.5))

    def forward(self, z, y=None):
        return self.net(z).view(-1, 1, 8, 8)


def test_sampling_consumes_no_random_numbers_and_restores_train_mode():
    G = _DropoutG().train()
    mon = HealthMonitor(G, torch.rand(8, 1, 8, 8), torch.randn(8, 4))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first = mon.sample_stats()
    assert torch.equal(torch.rand(3), expected)  # dropout off while sampling: the training RNG is untouched
    assert G.training and mon.sample_stats() == first


def test_state_roundtrip():
    mon = HealthMonitor(patience=2)
    for i in range(7):
        mon.update(_row(i, 0.999, 0.001, diversity=0.5))
    other = HealthMonitor(patience=2)
    other.load_state_dict(mon.state_dict())
    assert other.state_dict() == mon.state_dict()
    assert other.update(_row(9, 0.999, 0.001)) == mon.update(_row(9, 0.999, 0.001))


def test_a_real_run_where_d_wins_warns_in_the_log_and_on_the_progress_line(tmp_path, data_dir, monkeypatch):
    from tqdm import tqdm

    from gankit import config as C
    from gankit import train as train_mod

    postfixes = []

    class Recording(tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            postfixes.append(dict(ordered_dict or {}))
            super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    monkeypatch.setattr(train_mod, "tqdm", Recording)
    cfg = C.load_preset("vanilla", ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32",
                                    "train.steps=300", "train.log_every=10", "optim.g_lr=1e-8", "optim.d_lr=1e-2",
                                    "train.sample_every=100000"])
    train_mod.train(cfg, tmp_path / "run", progress=False, data_dir=str(data_dir))
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.count("warning: D wins outright") == 1
    assert any(p.get("health") == "D wins" for p in postfixes)


def test_prdc_coverage_from_periodic_evaluation_is_not_read_as_class_coverage():
    """eval.every merges PRDC's ``coverage`` (share of real neighbourhoods, often < 0.3 for a
    fine generator) into the same row: it must not raise a class-collapse warning."""
    mon = HealthMonitor()
    assert mon.update(_row(1, diversity=0.6, coverage=0.05, classes_found=1.0)) == []
    assert "coverage" not in mon.active


def test_d_wins_is_only_judged_on_probabilities():
    """f-GAN logs T = g_f(v) and WGAN/hinge/LSGAN raw scores as D(x), D(G(z)): values like
    D(x)=5, D(G(z))=-3 are a healthy critic there, not 'D wins'."""
    from gankit import config as C
    from gankit.losses import build_loss

    raw = HealthMonitor(patience=2, d_probabilities=False)
    assert all(raw.update(_row(i, 5.0, -3.0)) == [] for i in range(10)) and raw.active == []
    flags = {name: build_loss(C.load_preset(name)).probabilities for name in ("vanilla", "fgan-pearson", "wgan", "hinge")}
    assert flags == {"vanilla": True, "fgan-pearson": False, "wgan": False, "hinge": False}
