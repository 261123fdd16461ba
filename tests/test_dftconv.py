"""Convolutions through the DFT (gankit/fast/dftconv.py): the same function as torch's, and used only where it pays."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import config as C
from gankit.fast import dftconv
from gankit.gan import build_gan

from steps import CPU, make_step, random_images, run

# (H, W, kh, kw, padding): square and not, odd and even kernels, 'same', 'valid' and wider padding
SHAPES = [(7, 7, 5, 5, (2, 2)), (7, 6, 5, 3, (2, 1)), (6, 6, 4, 4, (1, 1)), (5, 8, 3, 3, (0, 0)), (4, 4, 3, 3, (2, 2))]


def _switched(layer: nn.Module, H: int, W: int) -> nn.Module:
    """``layer`` on the DFT path whatever ``pays`` says (the maths is what is under test)."""
    layer = copy.deepcopy(layer)
    dftconv.switch(layer, H, W)
    return layer


@pytest.mark.parametrize("H,W,kh,kw,padding", SHAPES)
def test_dft_convolution_equals_torchs_with_its_gradients(H, W, kh, kw, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, H, W, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(5, 4, kh, kw, dtype=torch.float64, generator=g, requires_grad=True)
    want = F.conv2d(x, w, padding=padding)
    mats = dftconv.plan(H, W, kh, kw, *padding, dtype=torch.float64)
    got = dftconv.dft_conv2d(x, w.transpose(0, 1), padding, mats)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    upstream = torch.randn(want.shape, dtype=torch.float64, generator=g)
    for a, b in zip(torch.autograd.grad(got, (x, w), upstream), torch.autograd.grad(want, (x, w), upstream)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer", [nn.ConvTranspose2d(6, 4, 5, 1, 2, bias=True), nn.ConvTranspose2d(6, 4, 3, 1, 0),
                                   nn.Conv2d(6, 4, 5, 1, 2), nn.Conv2d(6, 4, 3, 1, 1, bias=False)])
def test_switched_layers_compute_what_torchs_layers_compute(layer):
    layer = layer.double()
    fast = _switched(layer, 7, 7)
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(fast(x), layer(x), rtol=0, atol=1e-10)
    # channels_last input (the fast path's layout) and another size (torch's own path) give the same
    torch.testing.assert_close(fast(x.to(memory_format=torch.channels_last)), layer(x), rtol=0, atol=1e-10)
    other = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(fast(other), layer(other))
    # the parameters, and so every checkpoint, are the torch layer's
    assert isinstance(fast, type(layer))
    assert fast.state_dict().keys() == layer.state_dict().keys()


def test_direct_cost_counts_only_the_taps_inside_the_map():
    # 7 outputs of a 5-tap kernel with padding 2 see 3, 4, 5, 5, 5, 4, 3 inputs: 29 per row, 29^2 in 2-D
    assert dftconv.direct_macs(7, 7, 5, 5, 2, 2) == 29 * 29
    assert dftconv.direct_macs(4, 4, 3, 3, 0, 0) == 4 * 9  # 'valid': every tap of each of the 2x2 outputs
    assert dftconv.grid(7, 5, 2) == 9  # a 9-point DFT is the smallest without wrap-around


def test_only_layers_where_the_dft_saves_half_the_arithmetic_switch():
    keras_first = nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False)  # the Keras DCGAN's first ConvT on 7x7
    assert dftconv.pays(keras_first, 7, 7)
    assert dftconv.pays(nn.Conv2d(128, 128, 3, 1, 1), 8, 8)  # 2.15x less arithmetic (measured 1.6x faster)
    assert not dftconv.pays(nn.Conv2d(16, 16, 3, 1, 1), 8, 8)  # few channels: the transforms dominate
    assert not dftconv.pays(nn.Conv2d(256, 128, 5, 1, 2), 28, 28)  # a large map: the dense transforms cost too much
    assert not dftconv.pays(nn.ConvTranspose2d(256, 128, 5, 2, 2, output_padding=1), 7, 7)  # strided
    assert not dftconv.pays(nn.Conv2d(256, 256, 5, 1, 2, groups=2), 7, 7)
    assert not dftconv.pays(nn.Conv2d(256, 128, 5, 1, 2, padding_mode="reflect"), 7, 7)
    assert not dftconv.pays(nn.ConvTranspose2d(256, 128, 3, 1, 3), 7, 7)  # crops more than a kernel: no conv2d twin
    # a reparametrised weight (spectral norm) is computed in its own forward: that layer stays torch's
    assert not dftconv.pays(nn.utils.parametrizations.spectral_norm(nn.Conv2d(256, 128, 5, 1, 2)), 7, 7)


def _keras(*overrides) -> C.Config:
    return C.load_preset("dcgan", ["model.ngf=16", "model.ndf=16", "train.batch_size=16", "tricks.ema=0.0",
                                   "train.compile=true", *overrides])


def test_adopt_switches_the_keras_dcgans_first_convt_and_keeps_its_function():
    cfg = _keras()
    torch.manual_seed(0)
    gan = build_gan(cfg, (1, 28, 28))
    before = copy.deepcopy(gan.G).eval()
    keys = gan.G.state_dict().keys()
    assert dftconv.adopt(gan.G, gan.D, cfg.model.z_dim, CPU) == ["G.net.0"]
    assert type(gan.G.net[0]) is dftconv.DFTConvTranspose2d and type(gan.G.net[3]) is nn.ConvTranspose2d
    z = torch.randn(8, cfg.model.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(gan.G.eval()(z), before(z), rtol=1e-4, atol=1e-5)
    fresh = build_gan(cfg, (1, 28, 28)).G.eval()  # a checkpoint of the switched G loads into a plain one
    assert gan.G.state_dict().keys() == keys
    fresh.load_state_dict(gan.G.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(z), before(z), rtol=1e-4, atol=1e-5)
    assert dftconv.adopt(gan.G, gan.D, cfg.model.z_dim, torch.device("meta")) == []  # CPU only


@pytest.mark.parametrize("overrides,switched", [((), True), (("train.compile=false",), False),
                                                (("train.precision=bf16",), False), (("train.dft_conv=false",), False)])
def test_the_compiled_fp32_cpu_step_takes_the_dft_path_and_no_other(overrides, switched):
    step = make_step(_keras(*overrides), shape=(1, 28, 28))  # built, never called: nothing compiles
    assert (type(step.gan.G.net[0]) is dftconv.DFTConvTranspose2d) is switched


@pytest.mark.slow
def test_compiled_step_with_the_dft_gives_the_eager_steps_losses():
    """The DFT layer under torch.compile, its gradients traced into the update, against torch's conv eagerly."""
    data = random_images(256, (1, 28, 28), seed=1)
    # no dropout: compiled and eager dropout draw their masks from different generators
    fast, plain = (make_step(_keras(f"train.compile={c}", "model.dropout=0.0"), shape=(1, 28, 28), data=data)
                   for c in (True, False))
    assert type(fast.gan.G.net[0]) is dftconv.DFTConvTranspose2d and fast.mode == "compiled"
    assert type(plain.gan.G.net[0]) is nn.ConvTranspose2d
    got, want = run(fast, 4), run(plain, 4)
    assert not fast.fallbacks, fast.fallbacks
    for a, b in zip(got, want):
        for k in b:
            assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-4), (k, a[k], b[k])
