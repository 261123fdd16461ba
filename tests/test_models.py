"""Models: the shared contract over every registered family, and the knobs being real."""
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.models import MODELS, build_models
from gankit.models.dcgan import native_size

SHAPES = {"mnist": (1, 28, 28), "rgb32": (3, 32, 32), "rgb64": (3, 64, 64)}
CONDITIONAL = {"mlp", "dcgan", "keras-dcgan"}  # ebgan is unconditional by design
MODES = {"input": [], "projection": ["model.projection=true"], "aux": ["model.aux_classifier=true"]}


def _cfg(model, *overrides, data_range="symmetric"):
    return C.load_preset("vanilla", [f"model.name={model}", f"data.range={data_range}", "model.z_dist=normal",
                                     *overrides])


def _build(model, shape=(1, 28, 28), num_classes=0, *overrides, data_range="symmetric"):
    cfg = _cfg(model, f"model.conditional={bool(num_classes)}", *overrides, data_range=data_range)
    torch.manual_seed(0)
    return build_models(cfg, shape, num_classes)


def _cases():
    for model in MODELS.names():
        yield model, None
        if model in CONDITIONAL:
            yield from ((model, mode) for mode in MODES)


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("data_range", ["unit", "symmetric"])
def test_generator_shape_and_range(model, shape, data_range):
    G, D = _build(model, shape, 0, data_range=data_range)
    x = G(torch.randn(6, G.z_dim))
    assert x.shape == (6, *shape) and G.shape == shape and G.num_classes == 0
    lo = 0.0 if data_range == "unit" else -1.0
    assert x.min() >= lo and x.max() <= 1.0 and x.std() > 0
    assert D(x).shape == (6,)


@pytest.mark.parametrize("model, mode", list(_cases()))
def test_discriminator_is_features_then_head(model, mode):
    k = 10 if mode else 0
    G, D = _build(model, (1, 28, 28), k, *(MODES[mode] if mode else []))
    D.eval()
    x, y = torch.randn(5, 1, 28, 28).clamp(-1, 1), (torch.randint(10, (5,)) if k else None)
    h = D.features(x, y)
    assert h.shape == (5, D.feature_dim)
    if model == "ebgan":  # the energy needs the input: no head, by design
        with pytest.raises(NotImplementedError):
            D.head(h, y)
        return
    assert torch.allclose(D(x, y), D.head(h, y), atol=1e-6)


@pytest.mark.parametrize("model, mode", [c for c in _cases() if c[1]])
def test_labels_steer_generator_and_discriminator(model, mode):
    G, D = _build(model, (1, 28, 28), 10, *MODES[mode])
    G.eval(), D.eval()
    z = torch.randn(4, G.z_dim)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    assert not torch.allclose(G(z, y0), G(z, y1))
    x = G(z, y0).detach()
    if mode == "aux":  # AC-GAN: D sees only the image, and predicts its class
        assert torch.equal(D(x, y0), D(x, y1))
        assert D.classify(D.features(x, y0), y0).shape == (4, 10)
    else:
        if mode == "projection":  # the projection term is zero-initialised-ish; give it weight
            nn.init.normal_(D.embed.weight)
        assert not torch.allclose(D(x, y0), D(x, y1))
    with pytest.raises(ValueError, match="conditional"):
        G(z)


@pytest.mark.parametrize("model", MODELS.names())
def test_state_dict_round_trip_reproduces_outputs(model):
    G, D = _build(model, (1, 28, 28), 0, "model.d_reparam=spectral")
    G2, D2 = _build(model, (1, 28, 28), 0, "model.d_reparam=spectral")
    G2.load_state_dict(G.state_dict()), D2.load_state_dict(D.state_dict())
    for m in (G, D, G2, D2):
        m.eval()
    z = torch.randn(3, G.z_dim)
    assert torch.equal(G(z), G2(z)) and torch.allclose(D(G(z)), D2(G(z)))


def _count(module, kinds):
    return sum(isinstance(m, kinds) for m in module.modules())


NORM_TYPES = {"batch": (nn.BatchNorm1d, nn.BatchNorm2d), "layer": (nn.LayerNorm, nn.GroupNorm),
              "instance": (nn.InstanceNorm2d, nn.LayerNorm)}


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("norm", ["batch", "layer", "instance"])
def test_norm_knobs_are_real(model, norm):
    G, D = _build(model, (1, 28, 28), 0, f"model.g_norm={norm}", f"model.d_norm={norm}")
    others = tuple(t for k, ts in NORM_TYPES.items() if k != norm for t in ts if t not in NORM_TYPES[norm])
    for net in (G, D):
        assert _count(net, NORM_TYPES[norm]) >= 1 and _count(net, others) == 0
    G, D = _build(model, (1, 28, 28), 0, "model.g_norm=none", "model.d_norm=none")
    assert _count(G, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)) == 0
    assert _count(D, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)) == 0


@pytest.mark.parametrize("model", MODELS.names())
def test_activation_dropout_and_reparam_knobs_are_real(model):
    G, D = _build(model, (1, 28, 28), 0, "model.activation=leakyrelu", "model.leaky_slope=0.1",
                  "model.dropout=0.25", "model.d_reparam=spectral", "model.g_reparam=weight")
    slopes = {m.negative_slope for m in list(G.modules()) + list(D.modules()) if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1} and _count(G, nn.ReLU) == 0 and _count(D, nn.ReLU) == 0
    assert {m.p for m in D.modules() if isinstance(m, nn.Dropout)} == {0.25}
    from torch.nn.utils import parametrize
    d_layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    g_layers = [m for m in G.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    assert d_layers and all(parametrize.is_parametrized(m, "weight") for m in d_layers)
    assert all("spectral" in type(m.parametrizations.weight[0]).__name__.lower() for m in d_layers)
    assert g_layers and all(parametrize.is_parametrized(m, "weight") for m in g_layers)
    G, D = _build(model, (1, 28, 28), 0, "model.activation=relu")
    assert _count(G, nn.LeakyReLU) == 0 and _count(D, nn.LeakyReLU) == 0


def test_architecture_defaults_follow_the_papers():
    G, D = _build("dcgan")
    assert _count(G, nn.ReLU) == 3 and _count(G, nn.BatchNorm2d) == 3 and _count(D, nn.BatchNorm2d) == 2
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    G, D = _build("keras-dcgan")
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [128, 64, 1]
    assert G.fc[0].out_features == 7 * 7 * 256 and [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [64, 128]
    assert {m.p for m in D.modules() if isinstance(m, nn.Dropout)} == {0.3} and _count(D, nn.BatchNorm2d) == 0
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.3}
    G, D = _build("mlp")
    assert [m.out_features for m in G.modules() if isinstance(m, nn.Linear)] == [128, 784]
    assert _count(D, nn.Dropout) == 0 and _count(D, nn.ReLU) == 1


def test_dcgan_runs_28x28_at_32_padding_with_black():
    assert native_size((1, 28, 28)) == 32 and native_size((3, 64, 64)) == 64 and native_size((1, 48, 48)) == 64
    _, D28 = _build("dcgan", (1, 28, 28))
    _, D32 = _build("dcgan", (1, 32, 32))
    D32.load_state_dict(D28.state_dict())
    D28.eval(), D32.eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    padded = nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)  # black in [-1, 1]
    assert torch.allclose(D28(x), D32(padded), atol=1e-6)


def test_ebgan_energy_is_the_reconstruction_error_of_the_code():
    _, D = _build("ebgan", (1, 28, 28), 0, "model.code_dim=16")
    x = torch.rand(5, 1, 28, 28)
    code = D.features(x)
    assert code.shape == (5, 16) and D.feature_dim == 16
    recon = D.decoder(code)
    assert torch.allclose(D(x), ((recon - x.flatten(1)) ** 2).mean(1))
    assert (D(x) >= 0).all()
    with pytest.raises(C.ConfigError, match="unconditional"):
        _build("ebgan", (1, 28, 28), 10)
