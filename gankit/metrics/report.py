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


# The mode-collapse benchmarks' numbers (gankit/metrics/modes.py).
MODE_ROWS = (
    ("modes_captured", "modes the samples reach (2D: a high-quality sample nearest to it; Stacked MNIST: a triple)"),
    ("high_quality_pct", "% of samples within 3 std of their nearest mode (2D mixtures)"),
    ("reverse_kl", "KL(generated mode histogram || true), nats; 0 = every mode equally often"),
    ("kl", "KL(generated triple histogram || uniform over 1000), nats (Stacked MNIST)"),
)


def format_modes(result: dict, head: str) -> str:
    lines = [head]
    for key, meaning in MODE_ROWS:
        if key in result:
            v = result[key]
            shown = "n/a (no good sample)" if v is None else (f"{v} of {result['num_modes']}" if key == "modes_captured"
                                                             else f"{v:.4f}")
            lines.append(f"  {key:<16}  {shown:<18} {meaning}")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    source = result.get("run") or result.get("samples")
    where = f" (checkpoint {result['checkpoint']}, step {result['step']})" if "run" in result else ""
    if "modes_captured" in result:
        return format_modes(result, f"{source}{where}: {result['n']} samples, {result['dataset']}, "
                                    f"{result['seconds']:.1f}s")
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
