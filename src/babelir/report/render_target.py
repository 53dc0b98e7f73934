"""Rendering of REPORT.md's "Distance to the target" section, present when the manifest has a
``target`` (experiment YAML ``target:``): a bar that one system's mean over seeds must reach on
one benchmark (``at_least``: value ≥ bound; ``at_most``: value ≤ bound). One row per system
evaluated there (test systems only, never a validation-only row): its mean ± std over the
seeds evaluated so far, and per bound the distance ``mean − bound`` (signed so that ≥ 0 means
the bound is met, for ``at_most`` ``bound − mean``). Pure functions of the loaded
experiment."""

from __future__ import annotations

from babelir.report.render import SETTING_LABELS as NAMES, bench_name, fmt, pm, signed
from babelir.report.runs_table import Experiment, is_missing
from babelir.report.statistics import mean_std
from babelir.report.tables import markdown_table

TITLE = "Distance to the target"


def bounds(target: dict) -> list[tuple[str, str, float]]:
    """(summary key, "at_least" | "at_most", bound) of every bound of the target."""
    return ([(k, "at_least", v) for k, v in target.get("at_least", {}).items()]
            + [(k, "at_most", v) for k, v in target.get("at_most", {}).items()])


def margin(value: float, side: str, bound: float) -> float:
    """How far ``value`` is on the good side of ``bound`` (≥ 0: met; NaN stays NaN)."""
    return value - bound if side == "at_least" else bound - value


def _digits(key: str) -> int:
    return 1 if key.endswith("distance") else 3


def _bound_text(key: str, side: str, bound: float) -> str:
    return f"{NAMES.get(key, key)} {'≥' if side == 'at_least' else '≤'} {fmt(bound, _digits(key))}"


def verdict(exp: Experiment, target: dict) -> str:
    """One sentence: whether the target system's seed mean meets every bound."""
    system = next(s for s in exp.systems if s["name"] == target["system"])
    benchmark = target["benchmark"]
    seeds = len(exp.summary_values(system, benchmark, "mono.map"))
    if not seeds:
        return f"`{system['name']}` has no evaluated run on {bench_name(benchmark)} yet."
    misses = []
    for key, side, bound in bounds(target):
        mean = mean_std(exp.summary_values(system, benchmark, key))[0]
        short = margin(mean, side, bound)
        if is_missing(short) or short < 0:
            misses.append(f"{NAMES.get(key, key)} by {fmt(abs(short), _digits(key))}")
    planned = len(system["runs"])
    count = f"mean of {seeds} of its {planned} planned seed{'s' if planned > 1 else ''}"
    if not misses:
        return f"**Met** by `{system['name']}` ({count})."
    return f"**Not met** by `{system['name']}` ({count}): short on " + ", ".join(misses) + "."


def target_section(exp: Experiment) -> list[str]:
    """The section (empty without a target in the manifest)."""
    target = exp.manifest.get("target")
    if not target:
        return []
    benchmark, limits = target["benchmark"], bounds(target)
    systems = [s for s in exp.systems_on(benchmark) if not exp.validation_only(s)]
    header = ["system", "seeds"] + [h for key, side, bound in limits
                                    for h in (NAMES.get(key, key), "distance")]
    rows = []
    for system in systems:
        row = [system["label"], str(len(exp.summary_values(system, benchmark, "mono.map")))]
        for key, side, bound in limits:
            values = exp.summary_values(system, benchmark, key)
            row += [pm(values, _digits(key)),
                    signed(margin(mean_std(values)[0], side, bound), _digits(key))]
        rows.append(row)
    goal = "; ".join(_bound_text(*b) for b in limits)
    return [f"## {TITLE}", "",
            (f"The bar set for `{target['system']}` on {bench_name(benchmark)}, mean over seeds: "
             f"{goal}. *distance*: the mean's margin over the bound (≥ 0: met; for rank "
             "distance, bound − mean). Every system is shown for comparison; mean ± sample "
             "std over the seeds evaluated so far."), "",
            verdict(exp, target), "", markdown_table(header, rows)]
