"""Model families. Each registers ``build(cfg, shape, num_classes) -> (G, D)``.

Shared contract: ``G(z, y=None)`` returns images ``[B, C, H, W]`` in the data range
(``cfg.data.range``); ``D(x, y=None)`` returns one score per sample, shape ``[B]``.
``y`` is an int64 class tensor for conditional models and ignored otherwise.

Every discriminator also exposes ``D.features(x, y) -> [B, F]`` (the penultimate
representation, width ``D.feature_dim``) and ``D.head(h, y) -> [B]``, with
``D(x, y) == D.head(D.features(x, y), y)``. Objectives and tricks that need more than
the score (AC-GAN's class head, projection, minibatch discrimination, the pulling-away
term) build on these two instead of reaching into a model's layers. The one exception
is EBGAN's autoencoder discriminator: its output (an energy) needs the input image, so
it has ``features`` (the code) but no ``head``.
Generators expose ``G.z_dim``, ``G.shape`` (C, H, W) and ``G.num_classes``.
"""
from gankit.registry import Registry

MODELS: Registry = Registry("model")

from gankit.models import mlp, dcgan, keras_dcgan, ebgan  # noqa: E402,F401  (register themselves)
from gankit.models.packing import PackedD, packed_shape  # noqa: E402


def build_models(cfg, shape, num_classes: int = 0):
    """Generator and discriminator for ``cfg`` on samples of ``shape`` ((C, H, W) or (D,)).

    With ``model.pack = m > 1`` (PacGAN) the family's D is built for m samples stacked along
    the first axis and wrapped to take ordinary batches (gankit/models/packing.py).
    """
    build, shape = MODELS.get(cfg.model.name), tuple(shape)
    num_classes = num_classes if cfg.model.conditional else 0
    G, D = build(cfg, shape, num_classes)
    if cfg.model.pack > 1:
        _, inner = build(cfg, packed_shape(shape, cfg.model.pack), num_classes)
        D = PackedD(inner, cfg.model.pack)
    return G, D
