"""The picture `make bench` writes beside bench.json: each figure that has a target, as its median's share of that
target (min and max as whiskers), and the distribution of the end-to-end latencies (MySQL commit to visible in
Delta) with their p50, p99 and goal."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def draw(figures: list[Any], latencies: list[float], goal: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, nor needed
    import matplotlib.pyplot as plt

    targeted = [figure for figure in figures if figure.target]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(15, max(4.5, 0.42 * len(targeted) + 1.5)), gridspec_kw={"width_ratios": [3, 2]}
    )
    names = [figure.name for figure in targeted]
    shares = [100 * figure.median / figure.target for figure in targeted]
    low = [share - 100 * min(figure.samples) / figure.target for share, figure in zip(shares, targeted, strict=True)]
    high = [100 * max(figure.samples) / figure.target - share for share, figure in zip(shares, targeted, strict=True)]
    colours = ["#2e7d32" if figure.meets_target else "#c62828" for figure in targeted]
    rows = range(len(targeted))
    left.barh(rows, shares, xerr=[low, high], color=colours, alpha=0.8, capsize=3)
    left.axvline(100, color="black", linestyle="--", linewidth=1)
    left.set_yticks(list(rows), names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("median as % of its target (whiskers: min and max); the dashed line is the target")
    left.set_title("Each figure against its target (green: met)")
    for row, figure in zip(rows, targeted, strict=True):
        left.annotate(
            f"{figure.median:.4g} {figure.unit} / {figure.target_text}",
            (max(shares[row] + high[row], 0) + 2, row),
            va="center",
            fontsize=7,
        )
    left.set_xlim(0, max([*(s + h for s, h in zip(shares, high, strict=True)), 100]) * 1.6)

    if latencies:
        quantiles = statistics.quantiles(latencies, n=100)
        right.hist(latencies, bins=min(20, max(5, len(latencies) // 2)), color="#1565c0", alpha=0.8)
        for value, label, style in ((quantiles[49], "p50", "-"), (quantiles[98], "p99", ":"), (goal, "goal", "--")):
            right.axvline(value, color="black", linestyle=style, linewidth=1, label=f"{label} {value:.2f} s")
        right.legend()
    right.set_xlabel("seconds, MySQL commit to row visible in Delta (delta-rs)")
    right.set_ylabel("single-row changes")
    right.set_title(f"End-to-end latency ({len(latencies)} changes)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
