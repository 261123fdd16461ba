"""Optional TensorBoard logging (``train.tensorboard: true``) next to metrics.jsonl.

metrics.jsonl stays the record every gankit tool reads; TensorBoard is a live view of
the same scalars and grids for those who already use it. Events go to RUN_DIR/tensorboard.
"""
from __future__ import annotations

from pathlib import Path

from gankit.errors import ConfigError


class _Off:
    def scalars(self, row: dict) -> None: ...
    def picture(self, step: int, pixels) -> None: ...
    def close(self) -> None: ...


class TensorBoard:
    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard=true needs the tensorboard package: "
                              "pip install 'gankit[tensorboard]' (or set train.tensorboard=false)") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, row: dict) -> None:
        step = row["step"]
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def picture(self, step: int, pixels) -> None:
        """The run's monitoring picture (a sample grid, or a scatter plot of points)."""
        self.writer.add_image("samples", pixels if pixels.ndim == 3 else pixels[..., None], step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def open_writer(enabled: bool, run_root: Path):
    """A TensorBoard writer for this run, or a no-op one when disabled (or not rank 0)."""
    return TensorBoard(Path(run_root) / "tensorboard") if enabled else _Off()
