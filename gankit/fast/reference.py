"""The plain eager loop the benchmark races against, written the way tutorials write it.

Models are ``nn.Sequential`` stacks defined here (the vanilla MLP, and the Keras-style
DCGAN of the TensorFlow tutorial as the reference architecture), the loss is
``nn.BCEWithLogitsLoss`` against freshly made label tensors, and each update is
``zero_grad(); backward(); step()`` with ``torch.optim.Adam``'s defaults. It runs the same
algorithm as gankit (one D update, then one G update on fresh noise) on batches drawn by
index from a tensor already on the device, so only the step itself is being compared.
"""
from __future__ import annotations

import torch
from torch import nn


def mlp_models(z_dim: int = 100, hidden: int = 128, image: int = 784):
    G = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, image), nn.Sigmoid())
    D = nn.Sequential(nn.Flatten(), nn.Linear(image, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    return G, D


class _Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


def keras_dcgan_models(z_dim: int = 100):
    """TensorFlow's DCGAN tutorial: Dense 7x7x256 -> ConvT 128 -> 64 -> 1 (BN + LeakyReLU,
    tanh out); D: Conv 64 -> 128 (LeakyReLU, dropout 0.3) -> linear. 'same' padding."""
    G = nn.Sequential(
        nn.Linear(z_dim, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3),
        _Reshape(256, 7, 7),
        nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
        nn.BatchNorm2d(64), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )
    return G, D


class TutorialLoop:
    """One call = one D update and one G update, exactly as a tutorial's loop body."""

    def __init__(self, G, D, images: torch.Tensor, batch_size: int, z_dim: int, z_dist: str,
                 lr: float, betas=(0.9, 0.999)):
        self.G, self.D, self.images, self.B, self.z_dim, self.z_dist = G, D, images, batch_size, z_dim, z_dist
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
        self.criterion = nn.BCEWithLogitsLoss()

    def noise(self):
        dev = self.images.device
        if self.z_dist == "normal":
            return torch.randn(self.B, self.z_dim, device=dev)
        return torch.rand(self.B, self.z_dim, device=dev) * 2 - 1

    def __call__(self):
        dev = self.images.device
        real = self.images[torch.randint(0, self.images.shape[0], (self.B,), device=dev)]
        ones, zeros = torch.ones(self.B, 1, device=dev), torch.zeros(self.B, 1, device=dev)
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad()
        fake = self.G(self.noise())
        loss_d = self.criterion(self.D(real), ones) + self.criterion(self.D(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()
        # (2) G: maximise log D(G(z)) on fresh noise
        self.opt_g.zero_grad()
        loss_g = self.criterion(self.D(self.G(self.noise())), ones)
        loss_g.backward()
        self.opt_g.step()
        return loss_d.detach(), loss_g.detach()


class AsGenerator(nn.Module):
    """A tutorial's ``nn.Sequential`` G in gankit's generator contract (``G(z, y)``, ``shape``,
    ``num_classes``), so ``gankit.sample.generate`` and evaluation can draw from it."""

    def __init__(self, net: nn.Module, z_dim: int, shape: tuple):
        super().__init__()
        self.net, self.z_dim, self.shape, self.num_classes = net, z_dim, shape, 0

    def forward(self, z, y=None):
        return self.net(z).view(z.shape[0], *self.shape)
