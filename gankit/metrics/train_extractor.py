"""Train the shipped feature extractor for one dataset (deterministic, a few CPU minutes).

    python -m gankit.metrics.train_extractor --dataset mnist
    python -m gankit.metrics.train_extractor --dataset fashion-mnist

Trains on the train split only, with a fixed schedule (no model selection on the test
split), then writes ``gankit/weights/<dataset>-cnn.safetensors`` and records its sha256,
test accuracy and this command in ``gankit/weights/extractors.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch
from torch import nn

from gankit.data import load_dataset
from gankit.metrics.extractor import ARCH, FEATURE_DIM, FeatureNet, card_path, file_sha256, weights_dir

# Per dataset: epochs, and whether mirror images are the same class (clothing yes, digits no).
RECIPES = {"mnist": {"epochs": 6, "flip": False}, "fashion-mnist": {"epochs": 8, "flip": True}}


def augment(x: torch.Tensor, gen: torch.Generator, flip: bool, shift: int = 2) -> torch.Tensor:
    """Random integer translations of up to ``shift`` pixels (and mirror images when allowed)."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (shift,) * 4)
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    rows = (torch.arange(h)[None] + dy[:, None])[:, :, None]
    cols = (torch.arange(w)[None] + dx[:, None])[:, None, :]
    out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mirror = torch.rand(b, generator=gen) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out


@torch.no_grad()
def accuracy(net: FeatureNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    net.eval()
    hits = sum(int((net(images[i:i + batch])[1].argmax(1) == labels[i:i + batch]).sum())
               for i in range(0, len(images), batch))
    return hits / len(images)


def train(dataset: str, data_dir=None, seed: int = 0, batch_size: int = 128, lr: float = 3e-3,
          epochs: int | None = None) -> tuple[FeatureNet, dict]:
    recipe = RECIPES[dataset]
    epochs = epochs or recipe["epochs"]
    # One thread: the same float summation order on every machine (bit-reproducible
    # weights), and no OpenMP stalls when the cores are shared.
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    train_set = load_dataset(dataset, "train", data_dir)
    test_set = load_dataset(dataset, "test", data_dir)
    pixels = train_set.images.float() / 255
    mean, std = float(pixels.mean()), float(pixels.std())
    net = FeatureNet(train_set.num_classes, mean, std)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = len(train_set) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_set), generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = augment(train_set.images[idx].float(), gen, recipe["flip"])
            loss = nn.functional.cross_entropy(net(x)[1], train_set.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        print(f"{dataset} epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)
    net.eval()
    info = {
        "arch": ARCH, "feature_dim": FEATURE_DIM, "num_classes": train_set.num_classes,
        "mean": mean, "std": std, "seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "train_accuracy": round(accuracy(net, train_set.images, train_set.labels), 5),
        "test_accuracy": round(accuracy(net, test_set.images, test_set.labels), 5),
        "train_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    }
    return net, info


def save(net: FeatureNet, dataset: str, info: dict, command: str) -> None:
    from safetensors.torch import save_file

    name = f"{dataset}-cnn.safetensors"
    path = weights_dir() / name
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"dataset": dataset, "arch": ARCH})
    card = json.loads(card_path().read_text()) if card_path().is_file() else {}
    card[dataset] = {"file": name, "sha256": file_sha256(path), **info, "command": command}
    card_path().write_text(json.dumps(dict(sorted(card.items())), indent=2) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=sorted(RECIPES))
    p.add_argument("--data-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    args = p.parse_args(argv)
    net, info = train(args.dataset, args.data_dir, args.seed, epochs=args.epochs)
    command = f"python -m gankit.metrics.train_extractor --dataset {args.dataset}" + (
        f" --seed {args.seed}" if args.seed else "") + (f" --epochs {args.epochs}" if args.epochs else "")
    save(net, args.dataset, info, command)
    print(json.dumps({args.dataset: info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
