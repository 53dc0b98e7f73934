"""Statistics of an experiment's runs (a loaded ``runs_table.Experiment``): which systems are
compared, the paired sign-flip tests over queries (bootstrap CI, Cohen's d_z, Holm's
adjustment: ``report.significance``), Welch's t-test over seeds, mean ± std over seeds, and
the verdicts drawn from the tests. Nothing here formats text or reads files other than the
runs' per_query.npz."""

from __future__ import annotations

import math

import numpy as np

from babelir.errors import BabelirError
from babelir.report.runs_table import Experiment, is_missing
from babelir.report.significance import SETTINGS, holm, macro_query_values, paired_comparison

ALPHA = 0.05
LOWER_IS_BETTER = {"multi.rank_distance"}


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean and sample standard deviation (ddof = 1; NaN for fewer than 2 values)."""
    v = np.asarray([x for x in values if not is_missing(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def test_options(exp: Experiment) -> dict:
    """The manifest's significance options, with their defaults."""
    sig = exp.sig
    return {"permutations": int(sig.get("permutations", 10_000)),
            "bootstrap": int(sig.get("bootstrap", 10_000)), "seed": int(sig.get("seed", 0)),
            "level": float(sig.get("level", 0.95))}


# ------------------------------------------------------------------------------ comparisons


def comparisons(exp: Experiment, benchmark: str | None = None) -> list[tuple[dict, dict]]:
    """The manifest's ``comparisons``; without them, every hybrid system against every pure
    strategy. Systems evaluated on the validation pools only are never compared; with
    ``benchmark``, only the comparisons whose two systems are both evaluated there."""
    by_name = {s["name"]: s for s in exp.systems}
    pairs = exp.manifest.get("comparisons")
    if pairs is None:
        hybrids = [s for s in exp.trained_systems if s["strategy"] == "hybrid"]
        others = [s for s in exp.trained_systems if s["strategy"] in ("xx-mono", "xy")]
        chosen = [(h, o) for h in hybrids for o in others]
    else:
        chosen = [(by_name[a], by_name[b]) for a, b in pairs]
    chosen = [(a, b) for a, b in chosen
              if not exp.validation_only(a) and not exp.validation_only(b)]
    if benchmark is None:
        return chosen
    return [(a, b) for a, b in chosen
            if exp.evaluated(a, benchmark) and exp.evaluated(b, benchmark)]


def baseline_comparisons(exp: Experiment, benchmark: str | None = None
                         ) -> list[tuple[dict, dict]]:
    """Each system that is compared above (the first of a comparison) against each system
    that was not trained (BM25, the zero-shot model); with ``benchmark``, those evaluated
    there."""
    firsts = list({a["name"]: a for a, _ in comparisons(exp)}.values())
    baselines = exp.baselines
    if benchmark is not None:
        firsts, baselines = (exp.systems_on(benchmark, firsts),
                             exp.systems_on(benchmark, baselines))
    return [(a, b) for a in firsts for b in baselines]


# ------------------------------------------------------------------------------ tests


def system_query_values(exp: Experiment, system: dict, benchmark: str, setting: str):
    """Per query, the macro-weighted value averaged over the system's seeds (and the query
    ids); checked against each run's summary value in the table."""
    runs = exp.evaluated(system, benchmark)
    if not runs:
        return None, None
    ids = runs[0].per_query(benchmark)["query_ids"]
    stack = []
    for run in runs:
        data = run.per_query(benchmark)
        if not np.array_equal(data["query_ids"], ids):
            raise BabelirError(f"{run.name} on {benchmark}: other queries than "
                               f"{runs[0].name}; the runs are not comparable")
        values = macro_query_values(data, setting)
        expected = exp.value(run.name, benchmark, setting)
        if not np.isclose(values.mean(), expected, rtol=1e-4, atol=1e-6):
            raise BabelirError(f"{run.name} on {benchmark}: per-query {setting} averages "
                               f"to {values.mean()} but summary.json says {expected}")
        stack.append(values)
    return np.mean(stack, axis=0), ids


def paired_tests(exp: Experiment, benchmark: str, pairs: list[tuple[dict, dict]]) -> list[dict]:
    """Per pair and setting, the paired comparison over queries of the two systems'
    seed-averaged values; Holm-adjusted over all of them (``p_holm``)."""
    options = test_options(exp)
    out = []
    for a, b in pairs:
        for setting in SETTINGS:
            va, ids_a = system_query_values(exp, a, benchmark, setting)
            vb, ids_b = system_query_values(exp, b, benchmark, setting)
            if va is None or vb is None:
                continue
            if not np.array_equal(ids_a, ids_b):
                raise BabelirError(f"{a['name']} and {b['name']} were evaluated on other "
                                   f"queries of {benchmark}")
            result = paired_comparison(va, vb, **options)
            result.update(a=a, b=b, setting=setting,
                          seeds_a=len(exp.evaluated(a, benchmark)),
                          seeds_b=len(exp.evaluated(b, benchmark)))
            out.append(result)
    for result, adjusted in zip(out, holm([r["p_value"] for r in out]) if out else []):
        result["p_holm"] = adjusted
    return out


def seed_tests(exp: Experiment, benchmark: str) -> list[dict]:
    """Per comparison and setting, when both systems have >= 2 evaluated seeds: the
    per-seed table values, their difference of means and Welch's t-test over seeds (the
    query-level test treats each system's seed average as one model)."""
    from scipy.stats import ttest_ind

    out = []
    for a, b in comparisons(exp, benchmark):
        for setting in SETTINGS:
            va = exp.summary_values(a, benchmark, setting)
            vb = exp.summary_values(b, benchmark, setting)
            if len(va) < 2 or len(vb) < 2:
                continue
            p = float(ttest_ind(va, vb, equal_var=False).pvalue)
            out.append({"a": a, "b": b, "setting": setting, "values_a": va,
                        "values_b": vb, "difference": float(np.mean(va) - np.mean(vb)),
                        "p_value": p if not math.isnan(p) else 1.0,
                        "overlap": max(min(va), min(vb)) <= min(max(va), max(vb))})
    return out


# ------------------------------------------------------------------------------ verdicts


def outcome(test: dict) -> int:
    """+1: the first system is significantly better (p < ALPHA), -1: significantly worse,
    0: no significant difference."""
    if test["p_value"] >= ALPHA:
        return 0
    better = test["difference"] < 0 if test["setting"] in LOWER_IS_BETTER \
        else test["difference"] > 0
    return 1 if better else -1


def verdict(test: dict) -> str:
    sign = outcome(test)
    if sign == 0:
        return "not significant at 0.05"
    return f"significant at 0.05: {test['a']['label']} {'better' if sign > 0 else 'worse'}"
