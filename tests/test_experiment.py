"""The experiment runner and its report, end to end on a tiny grid (tiny encoder, 3 languages,
2 articles, 3 steps): runs, aliases, skip, resume, byte-identical report; and the paired
significance test against independent computations."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_tiny_experiment
from scipy import stats

from babelir import experiment
from babelir.errors import BabelirError
from babelir.experiment import (
    detect_benchmarks,
    execution_order,
    load_experiment,
    run_experiment,
)
from babelir.models.tiny import build_tiny_model
from babelir.report.experiment_report import (
    PAPER,
    Report,
    add_report_parser,
    build_report,
    relative_change,
    standing,
)
from babelir.report.significance import (
    bootstrap_ci,
    holm,
    macro_query_values,
    paired_comparison,
    sign_flip_test,
)
from babelir.settings import cache_dir

LANGS = ["de", "es", "zh"]


# ------------------------------------------------------------------------ significance


def test_sign_flip_exact_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.5, 0.2, 10), rng.normal(0.45, 0.2, 10)
    ours = sign_flip_test(a - b, permutations=10_000)
    assert ours["exact"] and ours["permutations"] == 2 ** 10
    ref = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf,
                                 alternative="two-sided")
    assert ours["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_sign_flip_brute_force_and_monte_carlo():
    d = np.array([0.3, -0.1, 0.25, 0.05, -0.2, 0.4, 0.15])
    signs = np.array(np.meshgrid(*[[-1, 1]] * d.size)).reshape(d.size, -1).T
    brute = np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12)
    assert sign_flip_test(d)["p_value"] == pytest.approx(brute, abs=1e-12)
    # Monte Carlo (fewer permutations than 2^n) agrees within its sampling error
    mc = sign_flip_test(d, permutations=100, seed=1)
    assert not mc["exact"] and abs(mc["p_value"] - brute) < 0.15
    # zero differences are dropped: the same exact distribution
    assert sign_flip_test(np.r_[d, np.zeros(30)])["p_value"] == pytest.approx(brute)


@pytest.mark.slow
def test_clearly_significant_and_clearly_not():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 2000)
    better = base + 0.05 + rng.normal(0, 0.05, 2000)
    same = base + rng.normal(0, 0.05, 2000)
    hit = paired_comparison(better, base, permutations=2000, bootstrap=2000)
    miss = paired_comparison(same, base, permutations=2000, bootstrap=2000)
    assert hit["p_value"] == pytest.approx(1 / 2001)  # nothing reaches the observed mean
    assert hit["ci_low"] > 0.04 and hit["ci_high"] < 0.06 and hit["cohen_dz"] > 0.5
    assert miss["p_value"] > 0.05 and miss["ci_low"] < 0 < miss["ci_high"]
    # deterministic: fixed seed
    assert paired_comparison(same, base, 2000, 2000) == miss
    # the bootstrap CI is close to the normal one for a large sample
    d = better - base
    low, high = bootstrap_ci(d, 4000)
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert low == pytest.approx(d.mean() - 1.96 * se, abs=se / 4)
    assert high == pytest.approx(d.mean() + 1.96 * se, abs=se / 4)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_standing_names_where_a_system_lies_against_the_others():
    assert standing({"X-X-mono": -1, "X-Y": 1}) == \
        "between them (better than X-Y, worse than X-X-mono)"
    assert standing({"X-X-mono": 1, "X-Y": 1}) == "better than both"
    assert standing({"a": 1, "b": 1, "c": 1}) == "better than all of them"
    assert standing({"X-X-mono": -1, "X-Y": -1}) == "worse than both"
    assert standing({"X-X-mono": 0, "X-Y": 0}) == "no significant difference from any of them"
    assert standing({"X-X-mono": 1, "X-Y": 0}) == \
        "better than X-X-mono, no significant difference from X-Y"
    assert standing({"a": 1, "b": -1, "c": 0}) == \
        "between them (better than a, worse than b, no significant difference from c)"


def test_short_answer_places_hybrid_between_or_above_both():
    hybrid = {"name": "hybrid", "label": "Hybrid"}
    mono, xy = {"name": "xx-mono", "label": "X-X-mono"}, {"name": "xy", "label": "X-Y"}

    def test(b, setting, p, difference):
        return {"a": hybrid, "b": b, "setting": setting, "p_value": p, "difference": difference}

    report = Report.__new__(Report)  # only the tests are needed
    report.tests = lambda benchmark: [
        test(mono, "mono.map", 0.001, -0.01), test(xy, "mono.map", 0.001, +0.01),
        test(mono, "multi.rank_distance", 0.001, -40.0),
        test(xy, "multi.rank_distance", 0.001, -5.0),
        test(mono, "cross.map", 0.2, +0.001), test(xy, "cross.map", 0.01, -0.01)]
    report.seed_tests = lambda benchmark: [
        {"a": hybrid, "b": mono, "setting": "multi.rank_distance", "p_value": 0.01},
        {"a": hybrid, "b": xy, "setting": "mono.map", "p_value": 0.3}]
    (line,) = [x for x in report.short_answer("xquad-r") if x]
    assert line == (
        "**In short, XQuAD-R: Hybrid is significantly better than every strategy it is "
        "compared with in 1 of 3 settings (Mul rank distance) over queries.** "
        "Mo mAP between them (better than X-Y, worse than X-X-mono); "
        "Mul rank distance better than both; "
        "Cr mAP worse than X-Y, no significant difference from X-X-mono. "
        "Across seeds (Welch's t-test over per-seed values) 1 of 2 differences reach "
        "p < 0.05: Mul rank distance vs X-X-mono.")
    # one strategy only: nothing to place between
    report.tests = lambda benchmark: [test(mono, "mono.map", 0.001, -0.01)]
    assert report.short_answer("xquad-r") == []


def test_relative_change_is_a_percentage_of_the_second_system():
    assert relative_change(-47.3, 406.2) == "-11.6 %"
    assert relative_change(0.019, 0.516) == "+3.7 %"
    assert relative_change(0.1, 0.0) == "— %"
    assert relative_change(float("nan"), 1.0) == "— %"


def test_macro_query_values_average_to_macro_numbers():
    ids = np.array(["de/1", "de/2", "es/1", "es/2", "es/3", "zh/1"])
    pq = {"query_ids": ids, "multi.map": np.array([0.2, 0.4, 0.1, 0.2, 0.3, 0.9]),
          "multi.rank_distance": np.array([1.0, 3.0, 5.0, 6.0, 7.0, np.nan])}
    langs = ["de", "es", "zh"]
    rows = {"de": [0, 1], "es": [2, 3, 4], "zh": [5]}
    for x in langs:
        for y in langs:
            pq[f"pair.{x}.{y}.map"] = np.linspace(0.1, 0.9, len(rows[x])) * (1 + langs.index(y))
    pq["pair.es.zh.map"] = np.array([0.5, np.nan, 0.7])  # es/2 has no zh parallel (MLQA-R)
    v = macro_query_values(pq, "multi.map")
    assert v.mean() == pytest.approx(np.mean([0.3, 0.2, 0.9]))
    assert macro_query_values(pq, "multi.rank_distance").mean() == pytest.approx(
        np.mean([2.0, 6.0]))  # zh has no value: averaged over de and es
    assert macro_query_values(pq, "mono.map").mean() == pytest.approx(
        np.mean([np.nanmean(pq[f"pair.{x}.{x}.map"]) for x in langs]))
    cross = np.mean([np.mean([np.nanmean(pq[f"pair.{x}.{y}.map"]) for y in langs if y != x])
                     for x in langs])
    assert macro_query_values(pq, "cross.map").mean() == pytest.approx(cross)


# ------------------------------------------------------------------------ the runner


def test_benchmarks_auto_detects_present_files(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    for lang in LANGS:
        (data / "lareqa" / "xquad-r").mkdir(parents=True, exist_ok=True)
        (data / "lareqa" / "xquad-r" / f"{lang}.json").write_text("{}")
    assert detect_benchmarks(data, cache, LANGS)[0] == ["xquad-r"]
    (data / "lareqa" / "mlqa-r").mkdir()
    for lang in LANGS[:2]:
        (data / "lareqa" / "mlqa-r" / f"{lang}.json").write_text("{}")
    found, missing = detect_benchmarks(data, cache, LANGS)
    assert found == ["xquad-r"] and "mlqa-r" in missing  # zh is missing
    (data / "lareqa" / "mlqa-r" / "zh.json").write_text("{}")
    assert detect_benchmarks(data, cache, LANGS)[0] == ["xquad-r", "mlqa-r"]


def test_committed_config_plans_eleven_trainings(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # its paths are repo-relative
    exp = load_experiment("configs/experiments/xquadr-hybrid.yaml")
    trained = [r for r in exp.runs.values() if r.kind == "trained"]
    assert len(trained) == 11
    assert exp.aliases == {"sweep-a0-s0": "xy-s0", "sweep-a0.5-s0": "hybrid-s0",
                           "sweep-a1-s0": "xx-mono-s0"}
    values = [r.train_values for r in trained]
    for key in ("steps", "batch_size", "learning_rate", "pairs", "model", "max_length"):
        assert len({json.dumps(v[key]) for v in values}) == 1, key
    assert {v["seed"] for v in values} == {0, 1, 2}
    assert values[0]["steps"] == 150 and values[0]["batch_size"] == 32
    assert values[0]["freeze_embeddings"] and values[0]["max_length"] == 128
    # one seed of every system at a time, so a grid stopped half-way stays balanced
    assert execution_order(exp) == [
        "bm25", "zeroshot", "xx-mono-s0", "xy-s0", "hybrid-s0", "sweep-a0.25-s0",
        "sweep-a0.75-s0", "xx-mono-s1", "xy-s1", "hybrid-s1", "xx-mono-s2", "xy-s2",
        "hybrid-s2"]


def test_mt_config_differs_from_the_grid_only_in_its_pairs(monkeypatch):
    """benchmarks/compare_mt.py compares xquadr-mt's run with the grid's hybrid-s0: the two
    must be the same training on other pairs."""
    from babelir.experiment import training_identity

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    grid = load_experiment("configs/experiments/xquadr-hybrid.yaml").runs["hybrid-s0"]
    mt = load_experiment("configs/experiments/xquadr-mt.yaml")
    assert list(mt.runs) == ["hybrid-mt-s0"]
    assert training_identity(mt.runs["hybrid-mt-s0"].train_values) == \
        training_identity(grid.train_values)
    assert mt.runs["hybrid-mt-s0"].train_values["pairs"] != grid.train_values["pairs"]
    grid_sources = load_experiment("configs/experiments/xquadr-hybrid.yaml").pairs["sources"]
    assert mt.pairs["sources"][:len(grid_sources)] == grid_sources


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine, two threads mostly wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", cache_dir())


def _write_config(tmp_path, tiny_model, data_dir):
    return write_tiny_experiment(
        tmp_path, tiny_model, data_dir,
        [{"name": "bm25", "model": "bm25"},
         {"name": "zeroshot", "model": str(tiny_model), "label": "tiny (zero-shot)"},
         {"name": "xx-mono", "strategy": "xx-mono", "seeds": [0, 1]},
         {"name": "hybrid", "strategy": "hybrid", "alpha": 0.5, "seeds": [0, 1]}],
        steps=3, eval_articles=2, sweep={"alphas": [0, 0.5, 1], "seed": 0},
        significance={"permutations": 2000, "bootstrap": 2000, "seed": 0})


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_experiment_end_to_end(tiny_model, data_dir, tmp_path, monkeypatch, one_thread):
    path = _write_config(tmp_path, tiny_model, data_dir)
    exp = load_experiment(path)
    # alpha = 1 is xx-mono-s0, alpha = 0.5 is hybrid-s0; alpha = 0 needs its own run
    assert exp.aliases == {"sweep-a0.5-s0": "hybrid-s0", "sweep-a1-s0": "xx-mono-s0"}
    assert sorted(exp.runs) == ["bm25", "hybrid-s0", "hybrid-s1", "sweep-a0-s0", "xx-mono-s0",
                                "xx-mono-s1", "zeroshot"]
    calls = {"train": [], "eval": []}
    real_train, real_eval = experiment._train, experiment._evaluate

    def counting_train(config, resume):
        calls["train"].append((config.out.rsplit("/", 1)[-1], resume))
        return real_train(config, resume)

    def counting_eval(config):
        calls["eval"].append(config.out)
        return real_eval(config)

    monkeypatch.setattr(experiment, "_train", counting_train)
    monkeypatch.setattr(experiment, "_evaluate", counting_eval)

    # a run stopped half-way (as if killed after its step-2 checkpoint)
    results = run_experiment(path, only=["hybrid-s0"], stop_after=2, report=False)
    assert calls["train"] == [("hybrid-s0", False)] and calls["eval"] == []
    log = (tmp_path / "work" / "hybrid-s0" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in log] == [1, 2]
    manifest = json.loads((results / "manifest.json").read_text())
    assert not manifest["complete"] and not manifest["runs"]["hybrid-s0"]["done"]["xquad-r"]

    # the whole grid: the stopped run is resumed, not restarted; aliases are not trained
    calls["train"].clear()
    run_experiment(path, report=False)
    assert sorted(calls["train"]) == [("hybrid-s0", True), ("hybrid-s1", False),
                                      ("sweep-a0-s0", False), ("xx-mono-s0", False),
                                      ("xx-mono-s1", False)]
    assert len(calls["eval"]) == 7
    resumed = (tmp_path / "work" / "hybrid-s0" / "train_log.jsonl").read_text().splitlines()
    assert resumed[:2] == log and [json.loads(x)["step"] for x in resumed] == [1, 2, 3]
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["complete"]
    assert manifest["sweep"]["points"][2] == {"alpha": 1.0, "seed": 0, "name": "sweep-a1-s0",
                                             "run": "xx-mono-s0", "alias": True}
    kept = results / "grid" / "hybrid-s1"
    for name in ("config.yaml", "run.json", "history.json", "train_log.jsonl",
                 "data_summary.json", "leakage.json", "model_card.md", "model_size.json",
                 "eval/xquad-r/summary.json",
                 "eval/xquad-r/results.json", "eval/xquad-r/per_query.npz"):
        assert (kept / name).is_file(), name
    assert json.loads((kept / "run.json").read_text())["seed"] == 1
    assert not list(results.rglob("*.trec")) and not list(results.rglob("*.safetensors"))
    assert json.loads((results / "leakage" / "xquad-r.json").read_text())["verdict"] == "clean"

    # again: everything is skipped, nothing is rewritten
    before = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
    calls["train"].clear()
    calls["eval"].clear()
    run_experiment(path, report=False)
    assert calls == {"train": [], "eval": []}
    assert {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()} == before

    # the report, twice: byte-identical REPORT.md and PNGs
    report = build_report(results)
    first = _digests(results / "figures") | {"REPORT.md": _digests(results)["REPORT.md"]}
    assert _report_cli(["report", str(results)]) == 0
    second = _digests(results / "figures") | {"REPORT.md": _digests(results)["REPORT.md"]}
    assert first == second
    assert {"xquad-r/map_bars.png", "xquad-r/rank_distance.png", "xquad-r/alpha_sweep.png",
            "xquad-r/heatmap-hybrid.png", "training_loss.png"} <= set(first)
    text = report.read_text(encoding="utf-8")
    assert " ± " in text and "Hybrid (α = 0.5) vs X-X-mono" in text
    # 2 seeds a side: the seed-level Welch test is there, on the per-seed table values
    assert "Across seeds (Welch's t-test over per-seed values): Mo mAP p" in text
    from scipy.stats import ttest_ind

    mono = {run: json.loads((results / "grid" / run / "eval" / "xquad-r" / "summary.json")
                            .read_text())["mono.map"]
            for run in ("hybrid-s0", "hybrid-s1", "xx-mono-s0", "xx-mono-s1")}
    welch = ttest_ind([mono["hybrid-s0"], mono["hybrid-s1"]],
                      [mono["xx-mono-s0"], mono["xx-mono-s1"]], equal_var=False).pvalue
    if not np.isnan(welch):
        expected = "< 0.0001" if welch < 0.0001 else f"= {welch:.4f}"
        assert f"Mo mAP p {expected}, seed ranges" in text
    assert "not significant at 0.05" in text or "significant at 0.05:" in text
    # one strategy to compare hybrid with: the per-comparison lines say it all, no "In short"
    assert "**In short" not in text
    # baselines: hybrid against BM25 and the zero-shot model, a Holm family of 8 tests
    assert "*Against BM25* (XQuAD-R, Hybrid (α = 0.5) minus BM25" in text
    assert "**Against the baselines** (same test; Holm over these 8 tests" in text
    assert "| Hybrid (α = 0.5) vs BM25 | Mo mAP |" in text
    # what the numbers show: scope, and the seed-level test over the 4 settings (2 seeds a side)
    scope = text.split("## What these numbers show and do not show", 1)[1].split("\n## ", 1)[0]
    assert "**Scope.** One backbone" in scope and "3 steps of" in scope
    assert "of the 4 differences tested" in scope
    assert "`sweep-a1-s0` is run `xx-mono-s0`" in text
    paper = PAPER["table1"][("XLM-R", "hybrid")]["xquad-r"]
    assert f"| XLM-R | Hybrid | {paper[0]:.3f} | {paper[1]:.3f} | {paper[2]:.3f} | 287 |" in text
    # our numbers: mean ± std over the two seeds, as in the summaries
    maps = [json.loads((results / "grid" / f"hybrid-s{s}" / "eval" / "xquad-r" /
                        "summary.json").read_text())["mono.map"] for s in (0, 1)]
    assert f"{np.mean(maps):.3f} ± {np.std(maps, ddof=1):.3f}" in text

    # a changed training setting is refused before anything is written, not mixed in
    changed = yaml.safe_load(path.read_text())
    changed["train"]["overrides"]["steps"] = 4
    other = tmp_path / "changed.yaml"
    other.write_text(yaml.safe_dump(changed, sort_keys=False))
    with pytest.raises(BabelirError, match="other training settings.*steps: 3 -> 4"):
        run_experiment(other, report=False)
    assert (results / "experiment.yaml").read_bytes() == path.read_bytes()


def _report_cli(argv):
    """``babelir report`` through the parser this module exposes (cli.py wires it)."""
    parser = argparse.ArgumentParser(prog="babelir")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
