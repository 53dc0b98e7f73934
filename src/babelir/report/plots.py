"""The per-run figure: the (query language × candidate language) mAP heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from babelir.report.figures import heatmap


def pair_heatmap(results: dict, path: Path, metric: str = "map") -> None:
    """Heatmap of ``metric`` for every (query language, candidate language) pair of a run."""
    langs = results["languages"]
    grid = np.array([[results["pairs"][x][y][metric] for y in langs] for x in langs])
    summary = results["summary"]
    label = metric.replace("map", "mAP")
    heatmap(grid, langs, path, f"{summary['model']} on {summary['benchmark']}\n"
                               f"{label} per (query, candidate) language pair")
