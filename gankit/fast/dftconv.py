"""Stride-1 convolutions on small feature maps, computed through the DFT as three matmuls.

Where a 5x5 kernel slides over a 7x7 map (the Keras DCGAN's first ConvT, most of its step),
a direct convolution does about 17 multiply-adds per output, per input and output channel;
in the DFT of a 9x9 grid the same convolution is one complex product per frequency, 45 of
them, so the matmul that mixes the channels does about a quarter of the arithmetic. The
map's and the kernel's transforms and the inverse are small dense matrices built once per
shape (``plan``), so the whole layer is ``x @ T_in``, a batched channel matmul, ``@ T_out``:
real fp32 matmuls that inductor compiles like any other, with gradients from autograd.
The result equals ``F.conv2d`` within fp32 rounding (about 1e-6 of its largest value).

On CPUs without bf16 units a convolution runs at the fp32 matmul peak whatever the loop
(docs/performance.md), so less arithmetic is the only way to a faster step there. ``adopt``
swaps this in only where the arithmetic it saves is large (``pays``), on CPU, in fp32.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from gankit.fast.tuning import dry_forward

# Use the DFT only where it needs at most half of the direct convolution's arithmetic. Compiled
# forward and backward at batch 128 on 2 AVX2 cores ran about 0.75x the predicted saving: the
# Keras DCGAN's ConvT 256->128 on 7x7 4.5x less arithmetic, 3.6x faster; 3x3 128->128 on 8x8
# 2.15x, 1.6x faster. Below 2x the transforms and the small matmuls' lower speed eat the gain.
MIN_SAVING = 2.0


def out_size(n: int, k: int, p: int) -> int:
    return n + 2 * p - k + 1


def grid(n: int, k: int, p: int) -> int:
    """The smallest DFT length whose circular correlation equals the zero-padded one on the output."""
    return max(n + p, out_size(n, k, p) - p + k - 1)


@functools.lru_cache(maxsize=64)
def _plan64(H: int, W: int, kh: int, kw: int, ph: int, pw: int, flip: bool):
    Ho, Wo = out_size(H, kh, ph), out_size(W, kw, pw)
    Nh, Nw = grid(H, kh, ph), grid(W, kw, pw)
    M = Nw // 2 + 1  # a real signal's DFT: the other half of the bins are conjugates
    u = torch.arange(Nh, dtype=torch.float64).view(1, Nh, 1)
    v = torch.arange(M, dtype=torch.float64).view(1, 1, M)

    def angles(rows, cols):  # 2 pi (u r / Nh + v c / Nw) for each point (r, c) and bin (u, v)
        r, c = (t.reshape(-1, 1, 1).double() for t in torch.meshgrid(rows, cols, indexing="ij"))
        return (2 * math.pi * (u * r / Nh + v * c / Nw)).reshape(r.shape[0], Nh * M)

    a = angles(torch.arange(H), torch.arange(W))
    t_in = torch.cat([a.cos(), -a.sin()], 1)  # X = sum_x x e^{-i a}
    # the kernel's transform carries the padding shift, so y is the inverse DFT's first Ho x Wo
    a = angles(torch.arange(kh) - ph, torch.arange(kw) - pw)
    t_w = torch.cat([a.cos(), a.sin()], 1)
    if flip:  # a ConvTranspose2d's kernel is the conv2d's turned by 180 degrees
        t_w = t_w.view(kh, kw, -1).flip(0, 1).reshape(kh * kw, -1)
    weight = torch.full((Nh, M), 2.0, dtype=torch.float64)  # each bin stands for itself and its conjugate...
    weight[:, 0] = 1  # ...except the self-conjugate columns
    if Nw % 2 == 0:
        weight[:, -1] = 1
    weight = weight.reshape(1, -1) / (Nh * Nw)
    a = angles(torch.arange(Ho), torch.arange(Wo))
    t_out = torch.cat([a.cos() * weight, -a.sin() * weight], 1).T.contiguous()
    return t_in, t_w, t_out


def plan(H: int, W: int, kh: int, kw: int, ph: int, pw: int, flip: bool = False, dtype=torch.float32,
         device="cpu"):
    """(T_in: HW x 2K, T_w: khkw x 2K, T_out: 2K x HoWo) for K frequency bins, real and imaginary parts
    side by side; ``flip``: for a ConvTranspose2d's kernel (``ph``, ``pw`` then its conv2d padding k - 1 - p)."""
    return tuple(t.to(dtype=dtype, device=device) for t in _plan64(H, W, kh, kw, ph, pw, flip))


def dft_conv2d(x: torch.Tensor, w: torch.Tensor, padding: tuple[int, int], mats) -> torch.Tensor:
    """``F.conv2d(x, w_conv, padding=padding)`` (stride 1, no bias) with ``mats = plan(...)``.

    ``w`` is laid out (in, out, kh, kw), a ConvTranspose2d's own layout (a Conv2d's weight
    transposed), so that every matmul below reads its operands in place or transposed: no copies.
    """
    t_in, t_w, t_out = mats
    B, Ci, H, W = x.shape
    Co, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    K = t_in.shape[1] // 2
    Ho, Wo = out_size(H, kh, padding[0]), out_size(W, kw, padding[1])
    X = (t_in.T @ x.reshape(B * Ci, H * W).T).view(2, K, B, Ci)
    Wf = (t_w.T @ w.reshape(Ci * Co, kh * kw).T).view(2, K, Ci, Co)
    # (Xr + i Xi)(Wr + i Wi) with three real products instead of four
    rr, ii = torch.bmm(X[0], Wf[0]), torch.bmm(X[1], Wf[1])
    both = torch.bmm(X[0] + X[1], Wf[0] + Wf[1])
    Y = torch.stack([rr - ii, both - rr - ii]).view(2 * K, B * Co)
    return (Y.T @ t_out).view(B, Co, Ho, Wo)


def direct_macs(H: int, W: int, kh: int, kw: int, ph: int, pw: int) -> int:
    """Multiply-adds per (input, output) channel pair of a direct convolution that skips the padding."""
    def taps(n, k, p):
        return sum(min(n, i - p + k) - max(0, i - p) for i in range(out_size(n, k, p)))
    return taps(H, kh, ph) * taps(W, kw, pw)


def dft_macs(H: int, W: int, kh: int, kw: int, ph: int, pw: int, ci: int, co: int) -> float:
    """The same through the DFT, per channel pair: the channel matmul plus both transforms."""
    K = grid(H, kh, ph) * (grid(W, kw, pw) // 2 + 1)
    Ho, Wo = out_size(H, kh, ph), out_size(W, kw, pw)
    return 3 * K + 2 * K * H * W / co + 2 * K * Ho * Wo / ci


def _as_conv(layer: nn.Module) -> tuple[int, int, int, int, int, int] | None:
    """(ci, co, kh, kw, ph, pw) of ``layer`` as a stride-1 convolution, or None where the DFT path cannot run it."""
    if type(layer) not in (nn.Conv2d, nn.ConvTranspose2d):  # not a subclass: spectral norm's, or already switched
        return None
    if (layer.stride != (1, 1) or layer.dilation != (1, 1) or layer.groups != 1 or layer.padding_mode != "zeros"
            or isinstance(layer.padding, str)):
        return None
    kh, kw = layer.kernel_size
    ph, pw = layer.padding
    if isinstance(layer, nn.ConvTranspose2d):  # = conv2d with the kernel flipped, in/out swapped, padding k-1-p
        if layer.output_padding != (0, 0) or ph > kh - 1 or pw > kw - 1:
            return None
        return layer.in_channels, layer.out_channels, kh, kw, kh - 1 - ph, kw - 1 - pw
    return layer.in_channels, layer.out_channels, kh, kw, ph, pw


def pays(layer: nn.Module, H: int, W: int) -> bool:
    """Whether ``layer`` on an ``H x W`` input takes the DFT path: it can, and saves at least ``MIN_SAVING``x."""
    spec = _as_conv(layer)
    if spec is None:
        return False
    ci, co, kh, kw, ph, pw = spec
    if min(out_size(H, kh, ph), out_size(W, kw, pw)) < 1:
        return False
    return direct_macs(H, W, kh, kw, ph, pw) >= MIN_SAVING * dft_macs(H, W, kh, kw, ph, pw, ci, co)


class _DFTConv:
    """Mixed into a Conv2d / ConvTranspose2d whose input size is fixed: ``forward`` runs ``dft_conv2d``.

    The parameters, ``state_dict`` and ``isinstance`` stay those of the torch layer; an input of
    another size takes torch's own path.
    """

    dft_hw: tuple[int, int]  # the input size the matrices were built for
    dft_padding: tuple[int, int]  # as a stride-1 conv2d (a ConvTranspose2d's is k - 1 - p)
    dft_mats: tuple

    def _weight_in_out(self) -> torch.Tensor:  # (in, out, kh, kw)
        return self.weight.transpose(0, 1)

    def forward(self, x, *args):
        if tuple(x.shape[-2:]) != self.dft_hw or x.dtype != self.dft_mats[0].dtype:
            return super().forward(x, *args)
        y = dft_conv2d(x, self._weight_in_out(), self.dft_padding, self.dft_mats)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y


class DFTConv2d(_DFTConv, nn.Conv2d):
    pass


class DFTConvTranspose2d(_DFTConv, nn.ConvTranspose2d):
    def _weight_in_out(self) -> torch.Tensor:  # already (in, out, kh, kw); its plan flips the taps
        return self.weight


def input_sizes(G: nn.Module, D: nn.Module, z_dim: int, device, num_classes: int = 0) -> dict[nn.Module, tuple]:
    """The spatial size of every conv layer's input in one G and D forward (eval mode, no grad)."""
    sizes: dict[nn.Module, tuple] = {}

    def record(layer, args) -> None:  # a pre-hook that returned a value would replace the layer's input
        sizes.setdefault(layer, tuple(args[0].shape[-2:]))

    hooks = [m.register_forward_pre_hook(record)
             for net in (G, D) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        dry_forward(G, D, z_dim, device, num_classes)
    finally:
        for h in hooks:
            h.remove()
    return sizes


def adopt(G: nn.Module, D: nn.Module, z_dim: int, device, num_classes: int = 0) -> list[str]:
    """Switch the layers of ``G`` and ``D`` where ``pays`` to the DFT path; return their names."""
    if torch.device(device).type != "cpu":
        return []
    sizes = input_sizes(G, D, z_dim, device, num_classes)
    names = {m: f"{tag}.{name}" for tag, net in (("G", G), ("D", D)) for name, m in net.named_modules()}
    switched = []
    for layer, (H, W) in sizes.items():
        if pays(layer, H, W):
            switch(layer, H, W)
            switched.append(names[layer])
    return switched


def switch(layer: nn.Module, H: int, W: int) -> None:
    """Put ``layer`` (one ``_as_conv`` accepts) on the DFT path for ``H x W`` inputs, in place."""
    _, _, kh, kw, ph, pw = _as_conv(layer)
    transposed = isinstance(layer, nn.ConvTranspose2d)
    layer.__class__ = DFTConvTranspose2d if transposed else DFTConv2d
    layer.dft_hw, layer.dft_padding = (H, W), (ph, pw)
    layer.dft_mats = plan(H, W, kh, kw, ph, pw, transposed, layer.weight.dtype, layer.weight.device)
