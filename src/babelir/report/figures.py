"""Figures of the experiment report, drawn deterministically.

Every figure is drawn with matplotlib's Agg backend under matplotlib's default style plus
``STYLE`` (the user's matplotlibrc cannot change them) and saved without the ``Software``
metadata entry, so the same inputs give byte-identical PNG files (for one matplotlib and
FreeType version). The inputs are plain numbers: this module reads no files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

DPI = 110
STYLE = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: no system font lookup
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
}
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd")


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with plt.style.context("default"), plt.rc_context(STYLE):
        yield


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def grouped_bars(groups: Sequence[str], series: Sequence[str], means: np.ndarray,
                 stds: np.ndarray | None, path: Path, title: str, ylabel: str,
                 log: bool = False) -> Path:
    """Bars of ``means[g, s]``: one group per ``groups[g]``, one bar per ``series[s]``,
    error bars ``stds`` (NaN = none)."""
    means = np.asarray(means, dtype=float)
    with _style():
        width = max(5.5, 0.5 + 0.32 * len(groups) * len(series))
        fig, ax = plt.subplots(figsize=(min(width, 14.0), 3.6))
        bar = 0.8 / max(1, len(series))
        x = np.arange(len(groups))
        for s, name in enumerate(series):
            err = None
            if stds is not None and not np.isnan(np.asarray(stds, dtype=float)[:, s]).all():
                err = np.nan_to_num(np.asarray(stds, dtype=float)[:, s], nan=0.0)
            ax.bar(x - 0.4 + bar * (s + 0.5), np.nan_to_num(means[:, s], nan=0.0), bar,
                   yerr=err, capsize=2, label=name, color=color(s), error_kw={"lw": 0.8})
        ax.set_xticks(x, groups)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, ncols=min(len(series), 4), frameon=False, loc="upper left",
                  bbox_to_anchor=(0, -0.12))
        fig.tight_layout()
        return _save(fig, path)


def heatmap(grid: np.ndarray, languages: Sequence[str], path: Path, title: str) -> Path:
    """Values per (query language, candidate language), annotated, on a 0–1 colour scale."""
    grid = np.asarray(grid, dtype=float)
    with _style():
        size = 1.0 + 0.62 * len(languages)
        fig, ax = plt.subplots(figsize=(size + 1.2, size))
        ax.grid(False)
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(languages)), languages)
        ax.set_yticks(range(len(languages)), languages)
        ax.set_xlabel("candidate (passage) language")
        ax.set_ylabel("query language")
        for i in range(len(languages)):
            for j in range(len(languages)):
                if grid[i, j] == grid[i, j]:
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if grid[i, j] < 0.6 else "black")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        return _save(fig, path)


def alpha_sweep(alphas: Sequence[float], lines: Mapping[str, Sequence[float]],
                rank_distance: Sequence[float], path: Path, title: str) -> Path:
    """mAP per setting against alpha (left) and the multilingual rank distance (right)."""
    with _style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.2))
        for i, (name, values) in enumerate(lines.items()):
            left.plot(alphas, values, marker="o", label=name, color=color(i))
        left.set_xlabel("alpha (probability of an X-X-mono batch)")
        left.set_ylabel("mAP")
        left.set_xticks(list(alphas))
        left.legend(fontsize=7, frameon=False)
        right.plot(alphas, rank_distance, marker="o", color=color(3))
        right.set_xlabel("alpha (probability of an X-X-mono batch)")
        right.set_ylabel("Mul rank distance (lower is better)")
        right.set_xticks(list(alphas))
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, path)


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or window <= 1:
        return v
    cumulative = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    start = np.maximum(0, idx - window)
    return (cumulative[idx] - cumulative[start]) / (idx - start)


def loss_curves(curves: Sequence[dict], path: Path, title: str, window: int) -> Path:
    """Training loss per step, smoothed; ``curves``: dicts with label, steps, loss, color
    index and linestyle."""
    with _style():
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        for curve in curves:
            ax.plot(curve["steps"], smooth(curve["loss"], window), lw=1.0,
                    color=color(curve["color"]), linestyle=curve.get("linestyle", "-"),
                    label=curve["label"])
        ax.set_xlabel("step")
        ax.set_ylabel(f"InfoNCE loss (moving average of {window} steps)" if window > 1
                      else "InfoNCE loss")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6, ncols=3, frameon=False)
        fig.tight_layout()
        return _save(fig, path)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (higher is better
    on both; a tie on one and better on the other beats), in increasing x."""
    front = []
    for i, (x, y) in enumerate(points):
        if not any((ox >= x and oy >= y) and (ox > x or oy > y) for ox, oy in points):
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1], i))


def pareto(points: Sequence[Mapping], path: Path, title: str) -> Path:
    """Mo mAP (x) against Mul mAP (y), one point per run (``points``: dicts with ``label``,
    ``x``, ``y``, ``color`` index and ``highlight``: the untuned model, drawn as a large
    star); each point labelled with its system; the Pareto front as a step line."""
    shown = [p for p in points if p["x"] == p["x"] and p["y"] == p["y"]]  # NaN: not drawn
    with _style():
        fig, ax = plt.subplots(figsize=(7.0, 4.8))
        for p in shown:
            star = bool(p.get("highlight"))
            ax.scatter([p["x"]], [p["y"]], s=140 if star else 28, marker="*" if star else "o",
                       color=color(p.get("color", 0)), edgecolors="black" if star else "none",
                       linewidths=0.8, zorder=3)
            ax.annotate(p["label"], (p["x"], p["y"]), xytext=(4, 3),
                        textcoords="offset points", fontsize=6,
                        fontweight="bold" if star else "normal")
        front = [shown[i] for i in pareto_front([(p["x"], p["y"]) for p in shown])]
        if front:
            ax.step([p["x"] for p in front], [p["y"] for p in front], where="pre",
                    color="black", lw=0.9, linestyle="--", zorder=2, label="Pareto front")
            ax.legend(fontsize=7, frameon=False, loc="best")
        ax.margins(x=0.2, y=0.08)  # room for the labels right of the points
        ax.set_xlabel("Mo mAP (monolingual)")
        ax.set_ylabel("Mul mAP (multilingual pool)")
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, path)
