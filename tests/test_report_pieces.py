"""The pieces of the experiment report (babelir.report: runs_table, statistics, render_*,
paper), each checked against an independent oracle: the files on disk of the committed
results/xquadr-hybrid, scipy, the committed REPORT.md, and the paper's numbers as they were
typed into the code before they moved to paper_numbers.yaml."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_ind

from babelir.report import render_results, render_setup, statistics
from babelir.report.paper import load_paper_numbers
from babelir.report.runs_table import ALL, COLUMNS, load_experiment, read_runs_table

RESULTS = Path(__file__).resolve().parents[1] / "results" / "xquadr-hybrid"
BENCHMARK = "xquad-r"


@pytest.fixture(scope="module")
def exp():
    return load_experiment(RESULTS)


def _results(run: str) -> dict:
    return json.loads((RESULTS / "grid" / run / "eval" / BENCHMARK / "results.json")
                      .read_text(encoding="utf-8"))


def _evaluated_on_disk() -> list[tuple[str, str]]:
    """(run, benchmark) for every kept run with results.json and per_query.npz on disk."""
    manifest = json.loads((RESULTS / "manifest.json").read_text(encoding="utf-8"))
    return [(run, b) for run in manifest["runs"] for b in manifest["benchmarks"]
            if (RESULTS / "grid" / run / "eval" / b / "results.json").is_file()
            and (RESULTS / "grid" / run / "eval" / b / "per_query.npz").is_file()]


def _count_numbers(node) -> int:
    """Numbers (and nulls) anywhere below a JSON node; flags (true/false) are not numbers."""
    if isinstance(node, dict):
        return sum(_count_numbers(v) for v in node.values())
    if isinstance(node, bool) or isinstance(node, (str, list)):
        return 0
    return 1 if node is None or isinstance(node, (int, float)) else 0


# ------------------------------------------------------------------------------ runs_table


def test_tidy_table_has_one_row_per_number_of_each_kept_run(exp):
    table = read_runs_table(RESULTS)
    assert list(table.columns) == COLUMNS
    on_disk = _evaluated_on_disk()
    assert len(on_disk) == 13  # 13 kept runs, one benchmark
    pairs = set(zip(table["run"], table["benchmark"]))
    assert pairs == set(on_disk)
    # one macro mono.map row per kept run and benchmark
    macro = table[(table["setting"] == "mono") & (table["metric"] == "map")
                  & (table["query_lang"] == ALL)]
    assert len(macro) == len(on_disk)
    for run, benchmark in on_disk:
        results = _results(run)
        summary = {k: v for k, v in results["summary"].items() if "." in k}
        expected = sum(_count_numbers(results[part]) for part in ("mono", "cross", "multi",
                                                                  "pairs"))
        expected += _count_numbers(summary)
        rows = table[(table["run"] == run) & (table["benchmark"] == benchmark)]
        assert len(rows) == expected, run
    assert len(table) == len(exp.table)


def test_table_values_are_the_json_numbers(exp):
    results = _results("hybrid-s1")
    assert exp.value("hybrid-s1", BENCHMARK, "multi.rank_distance") == \
        results["summary"]["multi.rank_distance"]
    assert exp.value("hybrid-s1", BENCHMARK, "cross.recall@1", "de") == \
        results["cross"]["de"]["recall@1"]
    assert exp.value("hybrid-s1", BENCHMARK, "pair.map", "de", "zh") == \
        results["pairs"]["de"]["zh"]["map"]
    assert math.isnan(exp.value("hybrid-s1", BENCHMARK, "mono.map", "xx"))
    hybrid = next(s for s in exp.systems if s["name"] == "hybrid")
    assert exp.summary_values(hybrid, BENCHMARK, "mono.map") == \
        [_results(r)["summary"]["mono.map"] for r in ("hybrid-s0", "hybrid-s1", "hybrid-s2")]


# ------------------------------------------------------------------------------ render


def _cells(lines: list[str], title: str, row: str) -> list[str]:
    """The cells of the table row starting with ``row`` under the heading ``title``."""
    text = "\n".join(lines).split(title, 1)[1]
    line = next(x for x in text.splitlines() if x.startswith(f"| {row} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_rendered_cells_are_the_json_numbers(exp):
    paper = load_paper_numbers()
    lines = render_results.overview(exp, BENCHMARK, paper)
    bm25 = _results("bm25")["summary"]
    cells = _cells(lines, "### Table 1 and 2 (ours)", "BM25")
    assert cells == ["BM25", "1", f"{bm25['mono.map']:.3f}", f"{bm25['cross.map']:.3f}",
                     f"{bm25['multi.map']:.3f}", f"{bm25['multi.rank_distance']:.1f}"]
    hybrid = [_results(f"hybrid-s{s}")["summary"]["cross.map"] for s in range(3)]
    cells = _cells(lines, "### Table 1 and 2 (ours)", "Hybrid (α = 0.5)")
    assert cells[3] == f"{np.mean(hybrid):.3f} ± {np.std(hybrid, ddof=1):.3f}"
    lines = render_results.per_language(exp, BENCHMARK)
    cells = _cells(lines, "### Per query language, baselines (mAP)", "de")
    assert cells[1] == f"{_results('bm25')['mono']['de']['map']:.4f}"
    lines = render_results.sweep(exp, BENCHMARK, None)
    cells = _cells(lines, "### Alpha sweep", "0.25")
    assert cells[2] == f"{_results('sweep-a0.25-s0')['summary']['mono.map']:.4f}"


def test_rendered_sections_are_those_of_the_committed_report(exp):
    committed = (RESULTS / "REPORT.md").read_text(encoding="utf-8")
    paper = load_paper_numbers()
    for lines in (render_setup.header(exp), render_setup.setup(exp),
                  render_results.overview(exp, BENCHMARK, paper),
                  render_results.per_language(exp, BENCHMARK),
                  render_setup.provenance(exp)):
        assert "\n".join(lines) + "\n" in committed


# ------------------------------------------------------------------------------ statistics


def test_seed_tests_are_welch_over_the_json_values(exp):
    tests = statistics.seed_tests(exp, BENCHMARK)
    assert len(tests) == 2 * 4  # 2 comparisons x 4 settings, 3 seeds a side
    t = next(t for t in tests if t["b"]["name"] == "xy" and t["setting"] == "multi.map")
    va = [_results(f"hybrid-s{s}")["summary"]["multi.map"] for s in range(3)]
    vb = [_results(f"xy-s{s}")["summary"]["multi.map"] for s in range(3)]
    assert t["values_a"] == va and t["values_b"] == vb
    assert t["p_value"] == pytest.approx(ttest_ind(va, vb, equal_var=False).pvalue, rel=1e-12)
    assert t["difference"] == pytest.approx(np.mean(va) - np.mean(vb), abs=1e-15)


@pytest.mark.slow
def test_paired_tests_compare_the_seed_averaged_table_values(exp):
    hybrid, xy = (next(s for s in exp.systems if s["name"] == n) for n in ("hybrid", "xy"))
    tests = statistics.paired_tests(exp, BENCHMARK, [(hybrid, xy)])
    assert [t["setting"] for t in tests] == ["mono.map", "cross.map", "multi.map",
                                             "multi.rank_distance"]
    for t in tests:
        for side, system in (("mean_a", "hybrid"), ("mean_b", "xy")):
            seeds = [_results(f"{system}-s{s}")["summary"][t["setting"]] for s in range(3)]
            assert t[side] == pytest.approx(np.mean(seeds), rel=1e-4)
        assert t["p_value"] <= t["p_holm"] <= 1.0


# ------------------------------------------------------------------------------ paper


# the literal that experiment_report.PAPER was before the numbers moved to paper_numbers.yaml
OLD_PAPER = {
    "citation": "Elmahdy, Lin & Ahmad (2024), arXiv 2408.10536",
    "table1": {
        ("XLM-R", "xx-mono"): {"xquad-r": (0.792, 0.674, 0.547), "mlqa-r": (0.648, 0.584, 0.473)},
        ("XLM-R", "xy"): {"xquad-r": (0.755, 0.700, 0.593), "mlqa-r": (0.626, 0.620, 0.508)},
        ("XLM-R", "hybrid"): {"xquad-r": (0.798, 0.705, 0.593), "mlqa-r": (0.648, 0.623, 0.512)},
        ("LaBSE", "xx-mono"): {"xquad-r": (0.808, 0.752, 0.652), "mlqa-r": (0.681, 0.656, 0.550)},
        ("LaBSE", "xy"): {"xquad-r": (0.801, 0.762, 0.679), "mlqa-r": (0.671, 0.677, 0.576)},
        ("LaBSE", "hybrid"): {"xquad-r": (0.817, 0.767, 0.682), "mlqa-r": (0.686, 0.681, 0.579)},
    },
    "table2": {
        ("XLM-R", "xx-mono"): {"xquad-r": 410, "mlqa-r": 288},
        ("XLM-R", "xy"): {"xquad-r": 295, "mlqa-r": 227},
        ("XLM-R", "hybrid"): {"xquad-r": 287, "mlqa-r": 227},
        ("LaBSE", "xx-mono"): {"xquad-r": 262, "mlqa-r": 225},
        ("LaBSE", "xy"): {"xquad-r": 225, "mlqa-r": 198},
        ("LaBSE", "hybrid"): {"xquad-r": 221, "mlqa-r": 195},
    },
    "alpha": 0.5,
    "batch_size": 100,
    "learning_rate": 3e-5,
    "weight_decay": 0.01,
    "training_languages": 9,
    "mmarco_rows": 39_780_811,
    "backbones": "XLM-RoBERTa (size not stated) and LaBSE",
    "hardware": "1 × NVIDIA A100 80 GB",
}


def test_paper_numbers_file_holds_the_old_literal_and_its_source():
    paper = load_paper_numbers()
    for key, value in OLD_PAPER.items():
        assert paper[key] == value and type(paper[key]) is type(value), key
        if isinstance(value, dict):  # the paper's row order, as the report prints it
            assert list(paper[key]) == list(value)
    assert "arXiv 2408.10536" in paper["source"]
    assert "Table 1" in paper["source"] and "Table 2" in paper["source"]
    # it is package data: read through importlib.resources, as an installed wheel reads it
    text = resources.files("babelir.report").joinpath("paper_numbers.yaml").read_text("utf-8")
    assert load_paper_numbers(text) == paper


# ------------------------------------------------------------- settings and the untuned model
def _stub_experiment(**fields):
    from types import SimpleNamespace

    return SimpleNamespace(run_info=lambda system, key: (fields.get("post") or {}).get(
        system["name"]) if key == "post" else None, **fields)


def test_a_setting_a_config_yaml_lacks_means_the_value_babelir_used_then():
    """A config.yaml written before ``merge`` / ``select_on`` existed was trained without a
    merge and selected on dev loss (training.config.DEFAULTS_BEFORE), not with today's
    defaults: it differs from a new config only where the values really differ."""
    from types import SimpleNamespace

    old = SimpleNamespace(config={"steps": 150})
    new = SimpleNamespace(config={"steps": 150, "merge": 1.0, "select_on": "dev_loss"})
    exp = _stub_experiment(trained_runs=lambda: [old, new])
    assert render_setup.differing_training_settings(exp) == []
    assert render_setup.common_training_settings(exp) == {"steps": 150, "merge": 1.0,
                                                          "select_on": "dev_loss"}
    new.config["select_on"] = "mlqa-val:mean_map"
    assert render_setup.differing_training_settings(exp) == ["select_on"]
    assert "select_on" not in render_setup.common_training_settings(exp)


def test_a_system_not_trained_yet_shows_no_settings_it_does_not_have():
    """Its settings are in the experiment YAML, not in a config.yaml: none shown, never a
    default."""
    from types import SimpleNamespace

    exp = _stub_experiment(runs={"a-s0": SimpleNamespace(config=None)})
    system = {"name": "a", "kind": "trained", "model": None, "strategy": "xy", "runs": ["a-s0"]}
    what = render_setup._what(exp, system, ["distill_weight"])
    assert what == "fine-tuned, strategy `xy`, not trained yet"


def test_fine_tuning_cost_is_measured_against_the_plain_untuned_model():
    """A centred zero-shot system is a post-processed variant, not the start of training."""
    from babelir.report.render_context import _fine_tuning_cost

    values = {"zeroshot": (0.80, 0.60, 0.30), "zeroshot-centred": (0.79, 0.66, 0.52),
              "hybrid": (0.78, 0.69, 0.54)}
    systems = [{"name": n, "kind": "trained" if n == "hybrid" else "zeroshot", "model": n,
                "label": n} for n in values]
    settings = ("mono.map", "cross.map", "multi.map")
    exp = _stub_experiment(systems=systems, post={"zeroshot-centred": {"centre": True}},
                           summary_values=lambda s, b, k: [values[s["name"]][settings.index(k)]])
    items = _fine_tuning_cost(exp, BENCHMARK, [systems[2]])
    assert len(items) == 1 and "Mo mAP (0.800 untuned, best fine-tuned 0.780)" in items[0]
    assert "untuned zeroshot is" in items[0] and "centred" not in items[0]


def test_a_system_shows_only_the_settings_where_it_departs_from_most_runs():
    """Three runs at lr 3e-5 and one at 1e-5: the usual value is 3e-5; only the 1e-5
    system's *what* names its learning rate, in the set-up and the validation table; a tie
    goes to the first run's value."""
    from types import SimpleNamespace

    from babelir.report import render_validation
    from babelir.report.render import usual_settings

    configs = {"a-s0": {"learning_rate": 3e-5}, "a-s1": {"learning_rate": 3e-5},
               "b-s0": {"learning_rate": 3e-5, "lora_rank": 0},
               "c-s0": {"learning_rate": 1e-5, "lora_rank": 16}}
    runs = {n: SimpleNamespace(config=c, trained=True) for n, c in configs.items()}
    systems = [{"name": n, "kind": "trained", "model": None, "strategy": "xy", "alpha": None,
                "runs": [r for r in runs if r.startswith(n)]} for n in "abc"]
    exp = _stub_experiment(runs=runs, systems=systems, trained_systems=systems,
                           trained_runs=lambda: list(runs.values()),
                           validation_only=lambda s: False)
    assert usual_settings(exp) == {"learning_rate": 3e-5, "lora_rank": 0}
    differing = render_setup.differing_training_settings(exp)
    assert differing == ["learning_rate", "lora_rank"]  # a missing lora_rank reads as 0
    shown = [render_setup._what(exp, s, differing) for s in systems]
    assert shown[:2] == ["fine-tuned, strategy `xy`"] * 2
    assert shown[2] == "fine-tuned, strategy `xy`, learning_rate `1e-05`, lora_rank `16`"
    varying = render_validation.varying_choices(exp)
    assert render_validation.what(exp, systems[2], varying) == \
        "fine-tuned, `xy`, lr 1e-05, LoRA r 16"
    assert render_validation.what(exp, systems[0], varying) == "fine-tuned, `xy`"
    runs["c-s0"].config["learning_rate"] = 3e-5
    runs["a-s1"].config["learning_rate"] = 1e-5  # 2 : 2, the first run's value wins
    assert usual_settings(exp)["learning_rate"] == 3e-5


def test_checkpoint_scores_show_every_step_and_bold_the_selected_one():
    """Two trainings on different checkpoint grids: the union of steps as columns, '—' where
    a run has no checkpoint, the history's best_step in bold; a run without scores (dev-loss
    selection) has no row."""
    from types import SimpleNamespace

    runs = [SimpleNamespace(name="a", history={"best_step": 20, "dev": [
                {"step": 10, "score": 0.5}, {"step": 20, "score": 0.61234}]}),
            SimpleNamespace(name="b", history={"best_step": 25, "dev": [
                {"step": 25, "score": 0.7}]}),
            SimpleNamespace(name="c", history={"best_step": 5, "dev": [
                {"step": 5, "dev_loss": 0.3}]})]
    lines = render_setup.checkpoint_scores(runs)
    table = [line for text in lines for line in text.splitlines() if line.startswith("|")]
    assert table[0] == "| run | step 10 | step 20 | step 25 |"
    assert table[2] == "| `a` | 0.5000 | **0.6123** | — |"
    assert table[3] == "| `b` | — | — | **0.7000** |"
    assert len(table) == 4
    assert render_setup.checkpoint_scores(runs[2:]) == []
