"""Rendering of REPORT.md's per-benchmark section: our Tables 1 and 2 beside the paper's,
recall, the per-language tables, the significance tables, the alpha sweep and the links to
the benchmark's figures. Pure functions of the loaded experiment, the paper's numbers, the
tests and the figure links. A benchmark's tables list the systems with at least one run
evaluated on it (a validation-only system, ``evaluate: validation``, is in none of them)."""

from __future__ import annotations

from babelir.report.render import (
    TEST_HEADER,
    bench_name,
    fmt,
    pm,
    seed_test_rows,
    test_rows,
)
from babelir.report.runs_table import Experiment
from babelir.report.statistics import mean_std
from babelir.report.tables import markdown_table

PAPER_SAMPLING = {"xx-mono": "X-X-mono", "xy": "X-Y", "hybrid": "Hybrid"}
MAP_KEYS = ("mono.map", "cross.map", "multi.map")
MAP_HEADER = ["Mo mAP", "Cr mAP", "Mul mAP", "Mul rank distance"]
SEED_HEADER = ["comparison", "setting", "first (seeds)", "second (seeds)", "difference",
               "Welch p", "ranges overlap"]
NO_SEED_TEST = ("**Across seeds**: not available until both systems of a comparison have at "
                "least 2 evaluated seeds; until then the tests above say whether these "
                "particular models differ, not whether the strategies do.")
SEED_TEST = ("**Across seeds.** The query-level test treats each system's seed average as "
             "one model, so it does not see seed-to-seed variation. Here each seed's table "
             "value is one observation: mean ± sample std, the difference of means, Welch's "
             "two-sided t-test (scipy) and whether the two systems' ranges of seed values "
             "overlap. With so few seeds this test has little power; a difference that is "
             "significant over queries but whose seed ranges overlap is not established as a "
             "difference between strategies.")


def overview(exp: Experiment, benchmark: str, paper: dict) -> list[str]:
    """The section's heading and size, our Tables 1 and 2, the paper's, and recall."""
    name = bench_name(benchmark)
    evals = [r.evals[benchmark]["summary"] for r in exp.runs.values() if benchmark in r.evals]
    n_q = evals[0]["n_queries"] if evals else None
    n_c = evals[0]["n_candidates"] if evals else None
    lines = [f"## {name}", "",
             (f"{n_q:,} queries in {len(exp.languages(benchmark))} languages, {n_c:,} "
              "candidates in the multilingual pool. Mean ± sample standard deviation over "
              "seeds (no ± for single runs).")]
    rows = [[s["label"], str(len(exp.evaluated(s, benchmark)))]
            + [pm(exp.summary_values(s, benchmark, k), 3) for k in MAP_KEYS]
            + [pm(exp.summary_values(s, benchmark, "multi.rank_distance"), 1)]
            for s in exp.systems_on(benchmark)]
    lines += ["", f"### Table 1 and 2 (ours): mAP and rank distance on {name}", "",
              markdown_table(["system", "runs"] + MAP_HEADER, rows)]
    rows = [[backbone, PAPER_SAMPLING[sampling]] + [fmt(v) for v in values[benchmark]]
            + [str(paper["table2"][(backbone, sampling)][benchmark])]
            for (backbone, sampling), values in paper["table1"].items() if benchmark in values]
    if rows:
        lines += ["", (f"The paper's numbers for {name} (**not ours**: {paper['citation']}, "
                  "Tables 1 and 2; other backbones, training data and training length, one "
                  "run each, see [Differences](#differences-from-the-papers-setting)):"), "",
                  markdown_table(["paper backbone", "sampling"] + MAP_HEADER, rows)]
    rows = [[s["label"]] + [pm(exp.summary_values(s, benchmark, k), 3) for k in
                            ("mono.recall@1", "cross.recall@1", "multi.recall@10")]
            for s in exp.systems_on(benchmark)]
    return lines + ["", f"### Recall on {name}", "",
                    markdown_table(["system", "Mo R@1", "Cr R@1", "Mul R@10"], rows)]


def _lang_mean(exp: Experiment, system: dict, benchmark: str, lang: str, setting: str,
               metric: str, digits: int) -> str:
    """The mean over seeds of one language's value ("mean": the macro summary value)."""
    values = (exp.summary_values(system, benchmark, f"{setting}.{metric}") if lang == "mean"
              else exp.lang_values(system, benchmark, setting, lang, metric))
    return fmt(mean_std(values)[0], digits)


def per_language(exp: Experiment, benchmark: str) -> list[str]:
    """Tables 3 (fine-tuned systems; mAP, recall), the baselines' mAP and Table 7."""
    name = bench_name(benchmark)
    langs = exp.languages(benchmark) + ["mean"]
    lines = []
    systems = exp.systems_on(benchmark, exp.trained_systems)
    if systems:
        for title, metrics in (("mAP", ("map", "map", "map")),
                               ("recall (R@1 for Mo and Cr, R@10 for Mul)",
                                ("recall@1", "recall@1", "recall@10"))):
            header = ["q-lang"] + [f"{st} {s['label']}" for st in ("Mo", "Cr", "Mul")
                                   for s in systems]
            rows = [[lang] + [_lang_mean(exp, s, benchmark, lang, setting, metric, 4)
                              for setting, metric in zip(("mono", "cross", "multi"), metrics)
                              for s in systems] for lang in langs]
            lines += ["", f"### Per query language, {title} (Table 3 layout), {name}", "",
                      "Fine-tuned systems, mean over seeds.", "", markdown_table(header, rows)]
    baselines = exp.systems_on(benchmark, exp.baselines)
    if baselines:
        header = ["q-lang"] + [f"{st} {s['label']}" for s in baselines
                               for st in ("Mo", "Cr", "Mul")]
        rows = [[lang] + [_lang_mean(exp, s, benchmark, lang, setting, "map", 4)
                          for s in baselines for setting in ("mono", "cross", "multi")]
                for lang in langs]
        lines += ["", f"### Per query language, baselines (mAP), {name}", "",
                  markdown_table(header, rows)]
    shown = exp.systems_on(benchmark)
    rows = [[lang] + [_lang_mean(exp, s, benchmark, lang, "multi", "rank_distance", 1)
                      for s in shown] for lang in langs]
    return lines + ["", f"### Language bias per query language (Table 7 layout), {name}", "",
                    ("Mean rank distance in the multilingual pool (lower is better), mean "
                     "over seeds."), "",
                    markdown_table(["q-lang"] + [s["label"] for s in shown], rows)]


def _method(options: dict, n_tests: int) -> str:
    return (
        "Paired randomization (sign-flip permutation) test over queries, two-sided: "
        "for each query, d = (first system) − (second system); under the null "
        "hypothesis each d is as likely to have the other sign, and p is the share of "
        f"{options['permutations']:,} random sign vectors s (numpy, seed {options['seed']}; "
        "all 2^n of them when that is fewer) with |mean(s·d)| ≥ |mean(d)|, the observed signs "
        "counted as one of them. **Multi-seed systems: each query's value is first averaged "
        "over the system's seeds.** Per-query values are weighted so that their plain mean is "
        "the macro average of the tables (equal weights on XQuAD-R), so the tested "
        "difference is the table's difference. Effect size: that mean difference, with "
        f"a percentile bootstrap {options['level']:.0%} CI ({options['bootstrap']:,} resamples "
        "of the queries, same seed), and Cohen's d_z = mean(d) / sd(d). p (Holm): adjusted "
        f"over the {n_tests} tests of this benchmark.")


def significance(benchmark: str, first: bool, options: dict, tests: list[dict],
                 baseline_tests: list[dict], seed_tests: list[dict]) -> list[str]:
    """The method, the table of the comparisons' tests, the baselines' and the seeds'."""
    lines = ["", "### Significance" if first else f"### Significance on {bench_name(benchmark)}",
             "", _method(options, len(tests))]
    if not tests:
        return lines + ["", "No comparison available yet."]
    lines += ["", markdown_table(TEST_HEADER, test_rows(tests)),
              "", f"{tests[0]['n']:,} paired queries per test."]
    if baseline_tests:
        lines += ["", (f"**Against the baselines** (same test; Holm over these "
                       f"{len(baseline_tests)} tests, a family of their own):"), "",
                  markdown_table(TEST_HEADER, test_rows(baseline_tests))]
    if not seed_tests:
        return lines + ["", NO_SEED_TEST]
    return lines + ["", SEED_TEST, "", markdown_table(SEED_HEADER, seed_test_rows(seed_tests))]


def sweep(exp: Experiment, benchmark: str, link: str | None) -> list[str]:
    """The alpha sweep's table (one row per point) and its figure's link."""
    if not exp.manifest.get("sweep"):
        return []
    rows = []
    for point, values in exp.sweep_values(benchmark):
        note = f"= `{point['run']}` (alias)" if point["alias"] else f"`{point['run']}`"
        rows.append([f"{point['alpha']:g}", note] + (
            ["—"] * 4 if values is None else
            [fmt(values[k], 4) for k in MAP_KEYS] + [fmt(values["multi.rank_distance"], 1)]))
    seed = exp.manifest["sweep"]["seed"]
    lines = ["", f"### Alpha sweep on {bench_name(benchmark)} (seed {seed})", "",
             "alpha = probability of an X-X-mono batch (0: X-Y only, 1: X-X-mono only).", "",
             markdown_table(["alpha", "run"] + MAP_HEADER, rows)]
    if link is not None:
        lines += ["", f"![mAP and rank distance against alpha]({link})"]
    return lines


def figure_links(benchmark: str, links: dict | None) -> list[str]:
    """The benchmark's figures (``experiment_figures.benchmark_figures``'s links)."""
    if links is None:
        return []
    return ["", f"### Figures, {bench_name(benchmark)}", "",
            f"![mAP per setting and system]({links['map_bars']})", "",
            f"![rank distance per language]({links['rank_distance']})", "",
            "mAP for every (query language, candidate language) pair:", "",
            " ".join(f"![{label}]({link})" for label, link in links["heatmaps"])]
