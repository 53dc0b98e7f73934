"""The figures of REPORT.md, drawn from a loaded experiment (``runs_table.Experiment``) with
``report.figures``' deterministic plotting functions: each function here computes one
figure's numbers, draws it into the figures folder and returns the link(s) REPORT.md uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from babelir.report import figures
from babelir.report.render import bench_name, run_labels
from babelir.report.runs_table import Experiment
from babelir.report.statistics import mean_std

SWEEP_SERIES = (("mono.map", "Mo"), ("cross.map", "Cr"), ("multi.map", "Mul"))


def _place(fig_dir: Path, relative: str) -> tuple[Path, str]:
    """Where to draw a figure, and its link in REPORT.md (figures/<relative>)."""
    return Path(fig_dir) / relative, f"figures/{relative}"


def alpha_sweep(exp: Experiment, benchmark: str, fig_dir: Path) -> str | None:
    """mAP and rank distance against alpha, when two or more sweep points are evaluated."""
    points = [(p, v) for p, v in exp.sweep_values(benchmark) if v is not None]
    if len(points) < 2:
        return None
    path, link = _place(fig_dir, f"{benchmark}/alpha_sweep.png")
    figures.alpha_sweep([p["alpha"] for p, _ in points],
                        {f"{label} mAP": [v[key] for _, v in points]
                         for key, label in SWEEP_SERIES},
                        [v["multi.rank_distance"] for _, v in points], path,
                        f"{bench_name(benchmark)}: alpha sweep, seed "
                        f"{exp.manifest['sweep']['seed']}")
    return link


def benchmark_figures(exp: Experiment, benchmark: str, fig_dir: Path) -> dict | None:
    """mAP bars per setting, rank distance per language and one heatmap per system: links
    ``map_bars``, ``rank_distance`` and ``heatmaps`` ((label, link) per system)."""
    name = bench_name(benchmark)
    systems = [s for s in exp.systems if exp.evaluated(s, benchmark)]
    if not systems:
        return None
    labels = [s["label"] for s in systems]
    stats = np.array([[mean_std(exp.summary_values(s, benchmark, k))[:2]
                       for k in ("mono.map", "cross.map", "multi.map")] for s in systems])
    path, bars = _place(fig_dir, f"{benchmark}/map_bars.png")
    figures.grouped_bars(["Mo", "Cr", "Mul"], labels, stats[:, :, 0].T, stats[:, :, 1].T,
                         path, f"{name}: macro mAP per setting (mean ± std over seeds)", "mAP")
    langs = exp.languages(benchmark)
    means = np.array([[mean_std(exp.lang_values(s, benchmark, "multi", lang,
                                                "rank_distance"))[0] for s in systems]
                      for lang in langs])
    path, rank = _place(fig_dir, f"{benchmark}/rank_distance.png")
    figures.grouped_bars(langs, labels, means, None, path,
                         f"{name}: language bias per query language",
                         "mean rank distance (log scale, lower is better)", log=True)
    heatmaps = []
    for s in systems:
        runs = exp.evaluated(s, benchmark)
        grid = np.mean([[[exp.value(r.name, benchmark, "pair.map", x, y) for y in langs]
                         for x in langs] for r in runs], axis=0)
        seeds = f", mean of {len(runs)} seeds" if len(runs) > 1 else ""
        path, link = _place(fig_dir, f"{benchmark}/heatmap-{s['name']}.png")
        figures.heatmap(grid, langs, path, f"{s['label']} on {name}{seeds}\n"
                        "mAP per (query, candidate) language pair")
        heatmaps.append((s["label"], link))
    return {"map_bars": bars, "rank_distance": rank, "heatmaps": heatmaps}


def loss_window(exp: Experiment) -> int:
    """The moving-average window of the loss curves: about 1/15 of the longest log."""
    return max(1, round(max(len(r.log) for r in exp.logged_runs()) / 15))


def training_loss(exp: Experiment, fig_dir: Path) -> str | None:
    """The training loss of every logged run: colour = system, line style = seed."""
    runs = exp.logged_runs()
    if not runs:
        return None
    label = run_labels(exp)
    order = [s["name"] for s in exp.trained_systems]
    curves = []
    for r in runs:
        system = next((s for s in exp.trained_systems if r.name in s["runs"]), None)
        seeds = system["seeds"] if system else []
        curves.append({
            "label": f"{label.get(r.name, r.name)} s{r.info.get('seed')}",
            "steps": [x["step"] for x in r.log], "loss": [x["loss"] for x in r.log],
            "color": order.index(system["name"]) if system else len(order) + runs.index(r),
            "linestyle": ("-", "--", ":", "-.")[seeds.index(r.info["seed"]) % 4]
            if system and r.info.get("seed") in seeds else "-.",
        })
    path, link = _place(fig_dir, "training_loss.png")
    figures.loss_curves(curves, path, "training loss (InfoNCE, in-batch negatives)",
                        loss_window(exp))
    return link


def pareto(exp: Experiment, benchmark: str, fig_dir: Path, names: dict[str, str],
           untuned: dict | None) -> str | None:
    """Mo against Mul mAP on ``benchmark`` (a validation pool or a test benchmark), every
    evaluated run of every system as a point labelled ``names[system]``, the untuned
    system's runs highlighted, the Pareto front drawn; None when fewer than 2 runs."""
    points = []
    for i, s in enumerate(exp.systems):
        for r in exp.evaluated(s, benchmark):
            points.append({"label": names[s["name"]], "color": i,
                           "x": exp.value(r.name, benchmark, "mono.map"),
                           "y": exp.value(r.name, benchmark, "multi.map"),
                           "highlight": untuned is not None and s["name"] == untuned["name"]})
    if len(points) < 2:
        return None
    path, link = _place(fig_dir, f"{benchmark}/pareto.png")
    figures.pareto(points, path, f"{bench_name(benchmark)}: Mo against Mul mAP, one point "
                                 "per run (star: the untuned model)")
    return link
