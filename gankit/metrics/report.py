"""The metric table ``gankit eval`` prints: one line per number, with what direction is good."""
from __future__ import annotations

# (key, how to read it) in the order a reader wants them.
ROWS = (
    ("fid", "lower is better; 0 = same feature statistics as the test set"),
    ("kid", "lower is better; ~0 = indistinguishable"),
    ("precision", "share of samples that look real (0..1)"),
    ("recall", "share of real variety the samples reach (0..1)"),
    ("density", "~1 for real data; >1 crowded on typical images"),
    ("coverage", "share of real neighbourhoods with a sample (0..1)"),
    ("class_coverage", "share of classes present (mode collapse shows here)"),
    ("class_kl", "KL(class histogram || uniform), nats; 0 = balanced"),
    ("inception_score", "with the dataset's classifier; max = number of classes"),
    ("inception_fid", "standard Inception FID (comparable with papers)"),
)


def _value(result: dict, key: str) -> str:
    v = result.get(key)
    if v is None:
        return result.get(f"{key}_note", "n/a")
    std = result.get(f"{key}_std")
    return f"{v:.4f} ± {std:.4f}" if std is not None else f"{v:.4f}"


def format_table(result: dict) -> str:
    source = result.get("run") or result.get("samples")
    where = f" (checkpoint {result['checkpoint']}, step {result['step']})" if "run" in result else ""
    head = (f"{source}{where}: {result['n']} samples vs {result['n_real']} {result['dataset']} test images, "
            f"extractor {result['extractor']}, {result['seconds']:.1f}s")
    width = max(len(k) for k, _ in ROWS)
    lines = [head]
    for key, meaning in ROWS:
        value = _value(result, key)
        lines.append(f"  {key:<{width}}  {value:<18} {meaning}" if result.get(key) is not None
                     else f"  {key:<{width}}  {value}")
    if result.get("class_histogram"):
        shares = " ".join(f"{i}:{100 * h:.0f}%" for i, h in enumerate(result["class_histogram"]))
        lines.append(f"  {'classes':<{width}}  {shares}")
    for p in result.get("plots", []):
        lines.append(f"  picture: {p}")
    return "\n".join(lines)
