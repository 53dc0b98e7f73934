"""Rendering of REPORT.md's "Answer" section from the test results of ``report.statistics``:
per benchmark, where a system stands against the strategies it is compared with, its
differences from the baselines, and one paragraph per comparison. Pure functions."""

from __future__ import annotations

from babelir.report.render import (
    SETTING_LABELS,
    bench_name,
    digits_for,
    fmt,
    p_phrase,
    relative_change,
    signed,
    standing,
)
from babelir.report.statistics import ALPHA, outcome, verdict

INTRO = ("Paired sign-flip tests over queries (method in [Significance](#significance)); "
         "differences are the first system minus the second, 95% bootstrap CI in "
         "brackets, then as a percentage of the second system's value; rank distance: "
         "lower is better. Counts use p < 0.05 per test "
         "(Holm-adjusted p in the significance tables).")
NO_COMPARISON = ("This experiment compares no systems with each other (no "
                 "`comparisons:` in its config, and no hybrid system beside an X-X-mono "
                 "or X-Y one).")
NOTHING_YET = "No comparison can be made yet (the systems compared have no evaluated run)."


def answer(benchmark_lines: list[list[str]], any_test: bool, any_comparison: bool) -> list[str]:
    """The section, from each benchmark's lines (``short_answer`` + ``baseline_answer`` +
    ``comparison_answers``)."""
    lines = ["## Answer", "", INTRO]
    for part in benchmark_lines:
        lines += part
    if not any_test:
        lines += ["", NO_COMPARISON if not any_comparison else NOTHING_YET]
    return lines


def short_answer(benchmark: str, tests: list[dict], seed_tests: list[dict]) -> list[str]:
    """Per system compared with two or more others on this benchmark: per setting, whether
    it is better than all of them (over queries, p < 0.05), between them, or worse; and
    the settings where the seed-level test agrees."""
    outcomes: dict[str, dict[str, dict[str, int]]] = {}
    labels = {}
    for t in tests:
        outcomes.setdefault(t["a"]["name"], {}).setdefault(t["setting"], {})[
            t["b"]["label"]] = outcome(t)
        labels[t["a"]["name"]] = t["a"]["label"]
    lines = []
    for name, per_setting in outcomes.items():
        if max(len(o) for o in per_setting.values()) < 2:
            continue
        best = [SETTING_LABELS[s] for s, o in per_setting.items()
                if len(o) >= 2 and all(v > 0 for v in o.values())]
        rows = "; ".join(f"{SETTING_LABELS[s]} {standing(o)}" for s, o in per_setting.items())
        mine = [t for t in seed_tests if t["a"]["name"] == name]
        held = [f"{SETTING_LABELS[t['setting']]} vs {t['b']['label']}" for t in mine
                if t["p_value"] < ALPHA]
        across = ("" if not mine else
                  f" Across seeds (Welch's t-test over per-seed values) {len(held)} of "
                  f"{len(mine)} differences reach p < 0.05"
                  + (f": {', '.join(held)}." if held else "."))
        lines += ["", (f"**In short, {bench_name(benchmark)}: "
                  f"{labels[name]} is significantly better than every strategy it is "
                  f"compared with in {len(best)} of {len(per_setting)} settings"
                  + (f" ({', '.join(best)})" if best else "") + " over queries.** "
                  f"{rows}.{across}")]
    return lines


def _group(tests: list[dict], key) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for t in tests:
        groups.setdefault((t["a"][key], t["b"][key]), []).append(t)
    return groups


def baseline_answer(benchmark: str, tests: list[dict]) -> list[str]:
    """One sentence per (compared system, baseline): the table differences with p."""
    lines = []
    for (a, b), group in _group(tests, "label").items():
        parts = []
        for t in group:
            digits = digits_for(t["setting"], 3)
            parts.append(f"{SETTING_LABELS[t['setting']]} {signed(t['difference'], digits)} "
                         f"({relative_change(t['difference'], t['mean_b'])}, "
                         f"{verdict(t).replace(' at 0.05', '')})")
        lines += ["", (f"*Against {b}* ({bench_name(benchmark)}, {a} "
                  f"minus {b}, paired over queries, p < 0.05): " + "; ".join(parts) + ".")]
    return lines


def _test_phrase(t: dict) -> str:
    digits = digits_for(t["setting"], 3)
    return (f"{SETTING_LABELS[t['setting']]} {fmt(t['mean_a'], digits)} vs "
            f"{fmt(t['mean_b'], digits)} ({signed(t['difference'], digits)} "
            f"[{signed(t['ci_low'], digits)}, {signed(t['ci_high'], digits)}], "
            f"{relative_change(t['difference'], t['mean_b'])}, "
            f"{p_phrase(t['p_value'])}: {verdict(t)})")


def _across_seeds(seeds: list[dict]) -> str:
    if not seeds:
        return " Seed-to-seed variation not yet measured (fewer than 2 seeds on a side)."
    return " Across seeds (Welch's t-test over per-seed values): " + "; ".join(
        f"{SETTING_LABELS[t['setting']]} {p_phrase(t['p_value'])}, seed ranges "
        f"{'overlap' if t['overlap'] else 'do not overlap'}" for t in seeds) + "."


def comparison_answers(benchmark: str, tests: list[dict], seed_tests: list[dict]) -> list[str]:
    """One paragraph per compared pair: the count of significant settings, each setting's
    difference with its CI and p, and the seed-level test."""
    lines = []
    for (a, b), group in _group(tests, "name").items():
        first, second = group[0]["a"], group[0]["b"]
        signs = [outcome(t) for t in group]
        better, worse = signs.count(1), signs.count(-1)
        seeds = [t for t in seed_tests if t["a"]["name"] == a and t["b"]["name"] == b]
        lines += ["", f"- **{bench_name(benchmark)}, {first['label']} vs "
                  f"{second['label']}** ({group[0]['seeds_a']} vs {group[0]['seeds_b']} "
                  f"seeds): significantly better in {better}, worse in {worse}, no "
                  f"significant difference in {len(group) - better - worse} of "
                  f"{len(group)} settings over queries. "
                  + "; ".join(_test_phrase(t) for t in group) + "." + _across_seeds(seeds)]
    return lines
