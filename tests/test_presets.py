"""Presets: the exact names others script against, and every one of them trains."""
import math

import numpy as np
import pytest
import torch

from gankit import config as C
from gankit.cli import main
from gankit.data import dataset_kind
from gankit.losses import LOSSES
from gankit.losses.fgan import DIVERGENCES
from gankit.runs import read_metrics

REQUIRED = {"vanilla", "vanilla-minimax", "fgan-tv", "fgan-kl", "fgan-reverse-kl", "fgan-pearson", "fgan-hellinger",
            "fgan-js", "ebgan", "dcgan", "dcgan-torch", "wgan", "wgan-gp", "lsgan", "hinge", "cgan", "acgan"}


def test_every_required_preset_exists():
    assert REQUIRED <= set(C.preset_names())


IMAGE_PRESETS = [n for n in C.preset_names() if dataset_kind(C.load_preset(n).data.dataset).name == "images"]


def test_point_presets_default_to_their_own_dataset():
    assert {C.load_preset(n).data.dataset for n in ("ring8", "grid25", "gan2d")} == {"ring8", "grid25"}
    assert C.load_preset("stacked-mnist").data.dataset == C.load_preset("stacked-dcgan").data.dataset == "stacked-mnist"
    assert set(C.preset_names()) - set(IMAGE_PRESETS) == {"ring8", "grid25", "gan2d"}


@pytest.mark.parametrize("name", IMAGE_PRESETS)
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_preset_selectable_on_both_datasets(name, dataset):
    cfg = C.load_preset(name, [f"data.dataset={dataset}"])
    assert cfg.data.dataset == dataset and cfg.preset == name
    assert C.preset_description(name)


def test_presets_say_what_the_tutorials_say():
    f = C.load_preset("fgan-kl")
    assert (f.train.batch_size, f.model.z_dim, f.model.g_hidden, f.model.d_hidden) == (32, 10, [128], [128])
    k = C.load_preset("dcgan")
    assert k.model.name == "keras-dcgan" and k.train.batch_size == 128
    assert (k.optim.g_lr, k.optim.d_lr) == (2e-4, 2e-5)
    r = C.load_preset("dcgan-radford")
    assert (r.optim.g_lr, r.optim.d_lr, r.optim.betas[0]) == (2e-4, 2e-4, 0.5)
    w = C.load_preset("wgan")
    assert (w.train.d_steps, w.optim.name, w.optim.d_lr, w.loss.clip) == (5, "rmsprop", 5e-5, 0.01)
    gp = C.load_preset("wgan-gp")
    assert (gp.train.d_steps, gp.optim.name, gp.optim.d_lr, gp.optim.betas, gp.loss.penalty_weight) == \
        (5, "adam", 1e-4, [0.0, 0.9], 10.0)
    assert gp.model.d_norm in ("layer", "none")  # a per-sample penalty needs a per-sample critic
    assert C.load_preset("cgan").model.conditional and C.load_preset("acgan").model.aux_classifier
    # The five divergences of the f-GAN tutorial plus Jensen-Shannon, each on its own f.
    fgan = sorted(n for n in REQUIRED if n.startswith("fgan-"))
    assert fgan == sorted(f"fgan-{d}" for d in ("tv", "kl", "reverse-kl", "pearson", "hellinger", "js"))
    for name in fgan:
        assert C.load_preset(name).loss.name == name
        assert LOSSES.get(name).div is DIVERGENCES[name.removeprefix("fgan-")]


@pytest.fixture(scope="module")
def stand_ins():
    """In-memory data of each kind and shape a preset trains on."""
    from gankit.data import load_dataset

    return {"images": load_dataset("synthetic"), "rgb": load_dataset("synthetic", channels=3),
            "ring8": load_dataset("ring8"), "grid25": load_dataset("grid25")}


@pytest.fixture
def fast_data(monkeypatch, stand_ins):
    """Every training below reads in-memory data instead of files (the synthetic bars for image
    presets, Stacked MNIST's three channels included: whether the samples look like digits
    does not matter here), on one thread: batches of 8 gain nothing from more, and a busy
    CI box loses a lot."""
    def load(name, *a, **k):
        return stand_ins.get(name) or stand_ins["rgb" if name == "stacked-mnist" else "images"]
    monkeypatch.setattr("gankit.train.load_dataset", load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", C.preset_names())
def test_every_preset_trains_briefly_with_finite_losses(name, tmp_path, fast_data):
    run = tmp_path / name
    assert main(["train", name, "--run-dir", str(run), "--steps", "12", "--no-progress",
                 "--set", "train.batch_size=8", "--set", "train.log_every=4", "--set", "train.sample_every=12"]) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [4, 8, 12]
    for r in rows:
        for key, value in r.items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (key, value)
    assert (run / "final.png").is_file()


@pytest.mark.parametrize("name", [n for n in C.preset_names() if C.load_preset(n).model.conditional])
def test_conditional_presets_sample_the_requested_label(name, tmp_path, fast_data):
    run = tmp_path / name
    assert main(["train", name, "--run-dir", str(run), "--steps", "3", "--no-progress",
                 "--set", "train.batch_size=8"]) == 0
    out = tmp_path / "three.npz"
    assert main(["sample", str(run), "--n", "20", "--label", "3", "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["images"].shape == (20, 28, 28) and z["labels"].tolist() == [3] * 20
    assert main(["sample", str(run), "--n", "5", "--label", "10", "--out", str(out)]) == 2
