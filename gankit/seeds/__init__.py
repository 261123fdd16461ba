"""Many seeds of one configuration trained at once: ``gankit train PRESET --seeds S``."""
from gankit.seeds.batch import SeedBatch, unbatchable

__all__ = ["SeedBatch", "unbatchable"]
