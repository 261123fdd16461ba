"""Evaluation metrics. Each metric is one registered function ``fn(real, fake, **options) -> dict``.

``real`` and ``fake`` are :class:`~gankit.metrics.features.FeatureSet` objects (pixels,
classifier features, logits); a metric returns one or more named numbers. ``gankit list``
shows what is registered; :func:`gankit.metrics.evaluate.evaluate` runs them.
"""
from gankit.registry import Registry

METRICS: Registry = Registry("metric")

from gankit.metrics import classifier_metrics, fid, inception, prdc  # noqa: E402,F401  (register)

__all__ = ["METRICS"]
