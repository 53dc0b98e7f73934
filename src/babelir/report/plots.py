"""Figures: the (query language × candidate language) mAP heatmap."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def pair_heatmap(results: dict, path: Path, metric: str = "map") -> None:
    """Heatmap of ``metric`` for every (query language, candidate language) pair."""
    langs = results["languages"]
    grid = np.array([[results["pairs"][x][y][metric] for y in langs] for x in langs])
    size = 1.0 + 0.62 * len(langs)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_yticks(range(len(langs)), langs)
    ax.set_xlabel("candidate (passage) language")
    ax.set_ylabel("query language")
    for i in range(len(langs)):
        for j in range(len(langs)):
            if grid[i, j] == grid[i, j]:
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] < 0.6 else "black")
    summary = results["summary"]
    label = metric.replace("map", "mAP")
    ax.set_title(f"{summary['model']} on {summary['benchmark']}\n"
                 f"{label} per (query, candidate) language pair", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})  # byte-stable PNGs
    plt.close(fig)
