"""Rendering primitives of REPORT.md: how numbers, p-values, commits and test outcomes are
written, the display names of benchmarks and settings, and the rows of the test tables. Pure
functions of their arguments."""

from __future__ import annotations

import functools
import json
from collections import Counter

from babelir.report.runs_table import Experiment, is_missing
from babelir.report.statistics import LOWER_IS_BETTER, mean_std, verdict

BENCH_NAMES = {"xquad-r": "XQuAD-R", "mlqa-r": "MLQA-R"}
SETTING_LABELS = {"mono.map": "Mo mAP", "cross.map": "Cr mAP", "multi.map": "Mul mAP",
                  "multi.rank_distance": "Mul rank distance"}
TEST_HEADER = ["comparison", "setting", "first", "second", "difference", "95% CI", "d_z", "p",
               "p (Holm)", "verdict"]


def bench_name(benchmark: str) -> str:
    return BENCH_NAMES.get(benchmark, benchmark)


def digits_for(setting: str, digits: int) -> int:
    """``digits`` for a mAP-like setting, 1 for the rank distance."""
    return 1 if setting in LOWER_IS_BETTER else digits


def fmt(value, digits: int = 3) -> str:
    return "—" if is_missing(value) else f"{value:.{digits}f}"


def signed(value, digits: int = 3) -> str:
    return "—" if is_missing(value) else f"{value:+.{digits}f}"


def pm(values: list[float], digits: int = 3) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "—"
    return fmt(mean, digits) if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1_000_000 else f"{n:,}"


def relative_change(difference: float, reference: float) -> str:
    """difference / reference as a signed percentage of the second system's value."""
    if is_missing(difference) or is_missing(reference) or reference == 0:
        return "— %"
    return f"{100 * difference / reference:+.1f} %"


def p_text(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def p_phrase(p: float) -> str:
    """"p = 0.0123" or "p < 0.0001"."""
    return f"p {'= ' if p >= 0.0001 else ''}{p_text(p)}"


def short(commit) -> str:
    return f"`{commit[:10]}`" if commit else "—"


def standing(outcomes: dict[str, int]) -> str:
    """Where one system stands against several others in one setting, from one outcome per
    other system: +1 significantly better, -1 significantly worse, 0 no significant difference.

    >>> standing({"X-X-mono": -1, "X-Y": +1})
    'between them (better than X-Y, worse than X-X-mono)'
    """
    better = [name for name, o in outcomes.items() if o > 0]
    worse = [name for name, o in outcomes.items() if o < 0]
    same = [name for name, o in outcomes.items() if o == 0]
    if len(better) == len(outcomes):
        return "better than all of them" if len(outcomes) > 2 else "better than both"
    if len(worse) == len(outcomes):
        return "worse than all of them" if len(outcomes) > 2 else "worse than both"
    if len(same) == len(outcomes):
        return "no significant difference from any of them"
    parts = ([f"better than {', '.join(better)}"] if better else []) + \
        ([f"worse than {', '.join(worse)}"] if worse else []) + \
        ([f"no significant difference from {', '.join(same)}"] if same else [])
    return f"between them ({', '.join(parts)})" if better and worse else ", ".join(parts)


def run_labels(exp: Experiment) -> dict[str, str]:
    """Run name -> the label of the first trained system (or sweep point) that uses it."""
    label: dict[str, str] = {}
    for s in exp.trained_systems:
        for run in s["runs"]:
            label.setdefault(run, s["label"])
    for point in (exp.manifest.get("sweep") or {}).get("points", []):
        label.setdefault(point["run"], f"sweep alpha {point['alpha']:g}")
    return label


def _rows(tests: list[dict], cells) -> list[list[str]]:
    """Test table rows: the comparison, the setting, then ``cells(test, digits)``."""
    return [[f"{t['a']['label']} vs {t['b']['label']}", SETTING_LABELS[t["setting"]],
             *cells(t, digits_for(t["setting"], 4))] for t in tests]


def _paired_cells(t: dict, digits: int) -> list[str]:
    return [fmt(t["mean_a"], digits), fmt(t["mean_b"], digits), signed(t["difference"], digits),
            f"[{signed(t['ci_low'], digits)}, {signed(t['ci_high'], digits)}]",
            f"{t['cohen_dz']:+.3f}", p_text(t["p_value"]), p_text(t["p_holm"]), verdict(t)]


def _seed_cells(t: dict, digits: int) -> list[str]:
    return [f"{pm(t['values_a'], digits)} (n = {len(t['values_a'])})",
            f"{pm(t['values_b'], digits)} (n = {len(t['values_b'])})",
            signed(t["difference"], digits), p_text(t["p_value"]),
            "yes" if t["overlap"] else "no"]


def test_rows(tests: list[dict]) -> list[list[str]]:
    """Rows of a TEST_HEADER table, one per paired test over queries."""
    return _rows(tests, _paired_cells)


def seed_test_rows(tests: list[dict]) -> list[list[str]]:
    """Rows of the seed-level (Welch) table, one per seed test."""
    return _rows(tests, _seed_cells)


def lever_parts(exp: Experiment, system: dict) -> list[str]:
    """What sets a system apart besides its training settings: its pair set and its
    post-processing (WiSE-FT weight, centring), as the set-up and validation tables say it."""
    parts = []
    if exp.run_info(system, "pairs"):
        parts.append(f"training pairs `{exp.run_info(system, 'pairs')}`")
    post = exp.run_info(system, "post") or {}
    if "merge" in post:
        parts.append(f"WiSE-FT λ {post['merge']:g}")
    if post.get("centre"):
        parts.append("centred per language")
    return parts


#: config.yaml keys that are not compared between fine-tuned runs: what every table shows on
#: its own (strategy, alpha, seed) and where / how a run ran
NOT_COMPARED = {"strategy", "alpha", "seed", "out", "stop_after", "log_batches", "data_dir",
                "cache_dir", "device"}


@functools.cache
def _implied_defaults() -> dict:
    from babelir.training.config import implied_settings

    return implied_settings({})


def setting_default(key: str):
    """What a config.yaml written before the setting existed means: the value babelir used
    then, else today's default (``training.config.implied_settings``, as resume reads it)."""
    return _implied_defaults().get(key)


def setting(config: dict, key: str):
    return config.get(key, setting_default(key))


def full_settings(config: dict) -> dict:
    """Every setting of a run's config.yaml, those it lacks filled in as ``setting`` does."""
    return {**_implied_defaults(), **config}


def departures(exp: Experiment, config: dict, keys) -> list[tuple[str, object]]:
    """(key, value) of the settings among ``keys`` where ``config`` differs from the value
    most fine-tuned runs have (``usual_settings``)."""
    usual = usual_settings(exp)
    return [(k, setting(config, k)) for k in keys if setting(config, k) != usual.get(k)]


def usual_settings(exp: Experiment) -> dict:
    """Each compared training setting's most common value over the fine-tuned runs (a tie:
    the value of the first run that has one of them): the recipe, which a system's *what*
    mentions only where it has another value."""
    runs = exp.trained_runs()
    keys = dict.fromkeys(k for r in runs for k in r.config if k not in NOT_COMPARED)
    usual = {}
    for key in keys:
        values = [json.dumps(setting(r.config, key)) for r in runs]
        counts = Counter(values)
        top = max(counts.values())
        usual[key] = json.loads(next(v for v in values if counts[v] == top))
    return usual
