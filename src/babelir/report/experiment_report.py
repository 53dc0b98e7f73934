"""``babelir report RESULTS``: REPORT.md and figures of an experiment, rebuilt from the kept
files of ``results/<experiment>/`` only (manifest.json, pairs.summary.json, leakage/, and
grid/<run>/ with each run's config, logs and evaluation JSON/npz). This module's one job is to
put the pieces together, in the report's order:

* ``runs_table``: the results folder loaded, every evaluation number in one tidy table;
* ``statistics``: the paired tests over queries and seeds (cached here per benchmark);
* ``render*``: the REPORT.md text, pure functions of the above (``render_validation``: the
  validation section, when the manifest lists validation pools; ``render_target``: the
  distance to the experiment's ``target:``);
* ``experiment_figures``: the PNG figures;
* ``paper``: the paper's numbers and settings, from the packaged ``paper_numbers.yaml``
  (``PAPER`` below; labelled as the paper's wherever they appear).

Nothing is trained, evaluated or downloaded here, and nothing depends on the clock, the
machine or the working directory: the same results folder gives byte-identical REPORT.md and
PNG files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import atomic_dir, atomic_path
from babelir.report import (
    experiment_figures,
    render_answer,
    render_context,
    render_results,
    render_setup,
    render_target,
    render_validation,
    statistics,
)
from babelir.report.paper import load_paper_numbers
from babelir.report.render import relative_change, standing  # noqa: F401 (public names)
from babelir.report.runs_table import load_experiment

PAPER = load_paper_numbers()


class Report:
    """REPORT.md of one results folder; figures are drawn into ``figure_dir`` (default:
    the folder's figures/) while the text is built."""

    def __init__(self, results_dir: Path, figure_dir: Path | None = None):
        self.exp = load_experiment(results_dir)
        self.fig_dir = Path(figure_dir) if figure_dir is not None else self.exp.dir / "figures"
        self._tests: dict[object, list[dict]] = {}  # benchmark or ("baselines", benchmark)

    def tests(self, benchmark: str) -> list[dict]:
        """Paired tests of the configured comparisons (Holm over this benchmark's family)."""
        if benchmark not in self._tests:
            self._tests[benchmark] = statistics.paired_tests(
                self.exp, benchmark, statistics.comparisons(self.exp, benchmark))
        return self._tests[benchmark]

    def baseline_tests(self, benchmark: str) -> list[dict]:
        """Paired tests against the untrained baselines (a Holm family of their own)."""
        key = ("baselines", benchmark)
        if key not in self._tests:
            self._tests[key] = statistics.paired_tests(
                self.exp, benchmark, statistics.baseline_comparisons(self.exp, benchmark))
        return self._tests[key]

    def seed_tests(self, benchmark: str) -> list[dict]:
        return statistics.seed_tests(self.exp, benchmark)

    def short_answer(self, benchmark: str) -> list[str]:
        return render_answer.short_answer(benchmark, self.tests(benchmark),
                                          self.seed_tests(benchmark))

    def answer(self) -> list[str]:
        parts = []
        for b in self.exp.benchmarks:
            seeds = self.seed_tests(b)
            parts.append(self.short_answer(b)
                         + render_answer.baseline_answer(b, self.baseline_tests(b))
                         + render_answer.comparison_answers(b, self.tests(b), seeds))
        return render_answer.answer(parts, any(self.tests(b) for b in self.exp.benchmarks),
                                    bool(statistics.comparisons(self.exp)))

    def benchmark_section(self, benchmark: str) -> list[str]:
        exp = self.exp
        return (render_results.overview(exp, benchmark, PAPER)
                + render_results.per_language(exp, benchmark)
                + render_results.significance(
                    benchmark, benchmark == exp.benchmarks[0], statistics.test_options(exp),
                    self.tests(benchmark), self.baseline_tests(benchmark),
                    self.seed_tests(benchmark))
                + render_results.sweep(exp, benchmark, experiment_figures.alpha_sweep(
                    exp, benchmark, self.fig_dir))
                + render_results.figure_links(benchmark, experiment_figures.benchmark_figures(
                    exp, benchmark, self.fig_dir))
                + self.benchmark_pareto(benchmark))

    def validation(self) -> list[str]:
        """The validation section and its Pareto figure (the first pool's)."""
        exp = self.exp
        if not exp.validation:
            return []
        link = experiment_figures.pareto(exp, exp.validation[0], self.fig_dir,
                                         render_validation.display_names(exp),
                                         render_validation.untuned(exp))
        return render_validation.validation(exp, link)

    def benchmark_pareto(self, benchmark: str) -> list[str]:
        """With validation pools: the first benchmark's Pareto figure, for reading only."""
        exp = self.exp
        if not exp.validation or benchmark != exp.benchmarks[0]:
            return []
        link = experiment_figures.pareto(exp, benchmark, self.fig_dir,
                                         render_validation.display_names(exp),
                                         render_validation.untuned(exp))
        return render_validation.benchmark_pareto(benchmark, link)

    def training(self) -> list[str]:
        link = experiment_figures.training_loss(self.exp, self.fig_dir)
        return render_setup.training(self.exp, link, experiment_figures.loss_window(self.exp)
                                     if link else 1)

    def build(self) -> str:
        exp = self.exp
        parts = [render_setup.header(exp), self.answer(), render_target.target_section(exp),
                 render_setup.setup(exp), self.validation()]
        for benchmark in exp.benchmarks:
            if any(benchmark in r.evals for r in exp.runs.values()):
                parts.append(self.benchmark_section(benchmark))
        parts += [self.training(), render_context.differences(exp, PAPER),
                  render_context.scope(exp, PAPER, {b: self.seed_tests(b)
                                                    for b in exp.benchmarks}),
                  render_setup.provenance(exp)]
        return "\n".join("\n".join(p) + "\n" for p in parts if p)


def _only_figures(folder: Path) -> bool:
    """A figures folder written before babelir marked its outputs: images only."""
    return all(p.suffix in (".png", ".svg", ".pdf") for p in folder.rglob("*") if p.is_file())


def build_report(results_dir: str | Path) -> Path:
    """Rebuild ``REPORT.md`` and ``figures/`` of an experiment's results folder (both
    replaced whole: a figure no longer produced does not linger)."""
    results_dir = Path(results_dir)
    if not (results_dir / "manifest.json").is_file():
        raise BabelirError(f"{results_dir / 'manifest.json'} not found: is {results_dir} the "
                           "results folder of `babelir experiment`?")
    with atomic_dir(results_dir / "figures", legacy=_only_figures) as tmp:
        text = Report(results_dir, tmp).build()
    target = results_dir / "REPORT.md"
    with atomic_path(target) as tmp_file:
        tmp_file.write_text(text, encoding="utf-8")
    return target


# ------------------------------------------------------------------------------ CLI


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="rebuild REPORT.md and figures of an experiment from "
                                      "its results JSON")
    p.add_argument("results", help="results folder of `babelir experiment`, "
                                   "e.g. results/xquadr-hybrid")
    p.set_defaults(handler=run_report_command)


def run_report_command(args: argparse.Namespace) -> int:
    print(f"wrote {build_report(args.results)}")
    return 0
