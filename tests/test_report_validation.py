"""The report's validation section (``babelir.report.render_validation``), its Pareto figures
and the filtering of validation-only systems out of the test benchmark's tables, on a small
results folder made from the committed results/xquadr-hybrid: five of its systems (one seed
each), the validation pool mlqa-val added to the manifest, and two validation-only systems
(``evaluate: validation``; one WiSE-FT post-processed run sharing hybrid-s0's training, one
with ``distill_weight`` 1). The mlqa-val files of each run are its XQuAD-R files relabelled,
every number scaled by a per-run factor (so no cell can come from the XQuAD-R files by
mistake); a data-tier test puts a real ``babelir eval --model bm25 --benchmark mlqa-val``
in their place. Oracle: the numbers of the summary.json files on disk."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from babelir.report import figures, render_validation, statistics
from babelir.report.experiment_report import build_report
from babelir.report.runs_table import load_experiment

SOURCE = Path(__file__).resolve().parents[1] / "results" / "xquadr-hybrid"
POOL = "mlqa-val"
BENCHMARK = "xquad-r"
KEPT = {"bm25": "bm25", "zeroshot": "zeroshot", "xx-mono": "xx-mono-s0", "xy": "xy-s0",
        "hybrid": "hybrid-s0"}
# validation-only systems: name -> (run, label or None, post, config changes, factor)
EXTRA = {"hybrid-wise": ("hybrid-wise-s0", "WiSE-FT λ 0.5", {"merge": 0.5}, {}, 0.97),
         "distill": ("distill-s0", None, {}, {"distill_weight": 1.0}, 0.93)}
FACTORS = {"bm25": 0.91, "zeroshot": 1.02, "xx-mono-s0": 0.95, "xy-s0": 0.89,
           "hybrid-s0": 0.99}


def _scaled(node, factor: float):
    """Every number below a JSON node times ``factor`` (flags and strings unchanged)."""
    if isinstance(node, dict):
        return {k: v if k.startswith("n_") else _scaled(v, factor) for k, v in node.items()}
    if isinstance(node, list):
        return [_scaled(v, factor) for v in node]
    if isinstance(node, float):
        return node * factor
    return node


def _write_pool(run_dir: Path, source_run: str, factor: float) -> None:
    """grid/<run>/eval/mlqa-val/: the source run's XQuAD-R files, relabelled and scaled."""
    src = SOURCE / "grid" / source_run / "eval" / BENCHMARK
    out = run_dir / "eval" / POOL
    out.mkdir(parents=True)
    results = json.loads((src / "results.json").read_text(encoding="utf-8"))
    results = {**results, "summary": {**_scaled(results["summary"], factor), "benchmark": POOL},
               **{k: _scaled(results[k], factor) for k in ("mono", "cross", "multi", "pairs")}}
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(results["summary"]), encoding="utf-8")
    shutil.copyfile(src / "per_query.npz", out / "per_query.npz")


def _extra_system(folder: Path, manifest: dict, name: str) -> None:
    run, label, post, changes, factor = EXTRA[name]
    run_dir = folder / "grid" / run
    run_dir.mkdir(parents=True)
    config = yaml.safe_load((SOURCE / "grid" / "hybrid-s0" / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**config, **changes}))
    for kept in ("train_log.jsonl", "history.json", "run.json"):  # a training's own files
        shutil.copyfile(SOURCE / "grid" / "hybrid-s0" / kept, run_dir / kept)
    _write_pool(run_dir, "hybrid-s0", factor)
    manifest["systems"].append({**next(s for s in manifest["systems"] if s["name"] == "hybrid"),
                                "name": name, "runs": [run],
                                **({"label": label} if label else {})})
    manifest["runs"][run] = {**manifest["runs"]["hybrid-s0"], "used_by": [name],
                             "evaluate": "validation", "done": {POOL: True},
                             **({"post": post, "source": "hybrid-s0"} if post else {})}


def make_results(folder: Path) -> Path:
    """The small results folder described in the module doc."""
    manifest = json.loads((SOURCE / "manifest.json").read_text(encoding="utf-8"))
    manifest["systems"] = [{**s, "runs": [KEPT[s["name"]]], "seeds": s["seeds"][:1]}
                           for s in manifest["systems"] if s["name"] in KEPT]
    manifest["runs"] = {r: {**manifest["runs"][r], "done": {BENCHMARK: True, POOL: True}}
                        for r in KEPT.values()}
    manifest.update(validation=[POOL], aliases={}, sweep=None,
                    significance={"permutations": 200, "bootstrap": 200, "seed": 0,
                                  "level": 0.95},
                    comparisons=[["hybrid", "xx-mono"], ["hybrid", "xy"],
                                 ["hybrid-wise", "hybrid"]])
    folder.mkdir(parents=True)
    for name in ("pairs.summary.json", "leakage"):
        (shutil.copytree if (SOURCE / name).is_dir() else shutil.copyfile)(
            SOURCE / name, folder / name)
    for run in KEPT.values():
        shutil.copytree(SOURCE / "grid" / run, folder / "grid" / run)
        _write_pool(folder / "grid" / run, run, FACTORS[run])
    for name in EXTRA:
        _extra_system(folder, manifest, name)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The folder, REPORT.md and Pareto PNGs of a first build, then a second build."""
    folder = make_results(tmp_path_factory.mktemp("validation") / "exp")
    build_report(folder)
    first = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in [folder / "REPORT.md", *sorted((folder / "figures").rglob("*.png"))]}
    build_report(folder)
    return folder, first


def _summary(folder: Path, run: str) -> dict:
    return json.loads((folder / "grid" / run / "eval" / POOL / "summary.json")
                      .read_text(encoding="utf-8"))


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _table(section: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first Markdown table of a section."""
    lines = []
    for line in section.splitlines():
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            break
    cells = [[c.strip() for c in x.strip("|").split("|")] for x in lines]
    return cells[0], cells[2:]


@pytest.mark.slow  # builds the report twice (~30 s)
def test_tidy_table_and_scope_include_the_pool(built):
    folder, _ = built
    exp = load_experiment(folder)
    assert exp.validation == [POOL]
    assert set(exp.runs["distill-s0"].evals) == {POOL}
    assert exp.value("hybrid-s0", POOL, "multi.map") == _summary(folder, "hybrid-s0")["multi.map"]
    assert exp.scope(exp.runs["distill-s0"]) == [POOL]
    assert exp.scope(exp.runs["bm25"]) == [POOL, BENCHMARK]
    assert [s["name"] for s in exp.systems_on(BENCHMARK)] == list(KEPT)
    assert [s["name"] for s in exp.systems_on(POOL)] == list(KEPT) + list(EXTRA)


@pytest.mark.slow  # builds the report twice (~30 s)
def test_validation_cells_are_the_summary_json_numbers(built):
    folder, _ = built
    text = (folder / "REPORT.md").read_text(encoding="utf-8")
    section = _section(text, render_validation.TITLE)
    assert "never on the test" in section and "identity" not in section  # no xnli-val here
    header, rows = _table(section)
    assert header[3:] == ["mlqa-val Mo", "mlqa-val Cr", "mlqa-val Mul", "mlqa-val RD",
                          "mlqa-val Mo − untuned", "score"]
    runs = {**KEPT, **{n: v[0] for n, v in EXTRA.items()}}
    assert len(rows) == len(runs)
    untuned = _summary(folder, "zeroshot")
    scores = {}
    for (name, run), row in zip(runs.items(), rows):
        s = _summary(folder, run)
        assert row[3:7] == [f"{s['mono.map']:.3f}", f"{s['cross.map']:.3f}",
                            f"{s['multi.map']:.3f}", f"{s['multi.rank_distance']:.1f}"], name
        assert row[7] == f"{s['mono.map'] - untuned['mono.map']:+.3f}"
        scores[name] = (s["mono.map"] + s["cross.map"] + s["multi.map"]) / 3
        assert row[8].strip("*") == f"{scores[name]:.3f}"
    best = max(scores, key=scores.get)
    marked = [name for name, row in zip(runs, rows) if row[0].endswith("(best)")]
    assert marked == [best]
    # the labels the two hybrids share get their names; the choices that vary are shown
    assert rows[-1][0].endswith("[distill]") or rows[-1][0].endswith("[distill]** (best)")
    assert "β 1" in rows[-1][1] and "validation only" in rows[-1][1]
    assert "WiSE-FT λ 0.5" in rows[-2][1]
    assert "(mlqa-val Mo + mlqa-val Cr + mlqa-val Mul) / 3" in section
    # the choice rule: the best-scoring validation-only row whose Mo is within 0.003 of
    # the untuned model's (here every lever's scaled Mo is far below it: none qualifies)
    allowed = [n for n in EXTRA if _summary(folder, EXTRA[n][0])["mono.map"]
               - untuned["mono.map"] >= -0.003]
    assert "**Choice rule**" in section and f"among the {len(EXTRA)} " in section
    if allowed:
        assert f"chosen: **{max(allowed, key=scores.get)}" in section
    else:
        assert "No row qualifies" in section


def test_the_choice_rule_picks_the_best_score_that_keeps_mo(monkeypatch):
    """render_validation.choice on hand-set numbers: the higher-scoring row loses 0.004 Mo
    (refused), the other loses exactly 0.003 (allowed)."""
    systems = {"untuned": {"name": "untuned", "kind": "zeroshot"},
               "a": {"name": "a", "kind": "trained"}, "b": {"name": "b", "kind": "trained"}}
    mo = {"untuned": 0.800, "a": 0.796, "b": 0.797}
    scores = {"a": 0.90, "b": 0.85}

    class Exp:
        trained_systems = [systems["a"], systems["b"]]

        @staticmethod
        def validation_only(system):
            return True

    monkeypatch.setattr(render_validation, "untuned", lambda exp: systems["untuned"])
    monkeypatch.setattr(render_validation, "mo_pools", lambda exp: ["mlqa-val"])
    monkeypatch.setattr(render_validation, "score", lambda exp, s: scores[s["name"]])
    monkeypatch.setattr(render_validation, "mean", lambda exp, s, pool, key: mo[s["name"]])
    monkeypatch.setattr(render_validation, "display_names", lambda exp: {n: n for n in systems})
    monkeypatch.setattr(render_validation, "varying_choices", lambda exp: [])
    monkeypatch.setattr(render_validation, "what", lambda exp, s, varying: f"what {s['name']}")
    text = " ".join(render_validation.choice(Exp()))
    assert "1 qualify; chosen: **b** (what b; score 0.850)" in text
    mo["b"] = 0.7969  # 0.0031 below: neither qualifies
    assert "No row qualifies" in " ".join(render_validation.choice(Exp()))


def test_the_choice_rule_says_when_the_final_systems_follow_another_row(monkeypatch):
    """A row added after the final runs wins: the report says that the final systems were
    trained with the earlier row's recipe, not the chosen one."""
    systems = {n: {"name": n, "kind": "zeroshot" if n == "untuned" else "trained"}
               for n in ("untuned", "early", "late", "final")}
    recipes = {"early": "r1", "late": "r2", "final": "r1"}
    scores = {"early": 0.85, "late": 0.90}

    class Exp:
        trained_systems = [systems["early"], systems["late"], systems["final"]]

        @staticmethod
        def validation_only(system):
            return system["name"] != "final"

    monkeypatch.setattr(render_validation, "untuned", lambda exp: systems["untuned"])
    monkeypatch.setattr(render_validation, "mo_pools", lambda exp: ["mlqa-val"])
    monkeypatch.setattr(render_validation, "score", lambda exp, s: scores.get(s["name"], 0.0))
    monkeypatch.setattr(render_validation, "mean", lambda exp, s, pool, key: 0.8)
    monkeypatch.setattr(render_validation, "display_names", lambda exp: {n: n for n in systems})
    monkeypatch.setattr(render_validation, "varying_choices", lambda exp: [])
    monkeypatch.setattr(render_validation, "what", lambda exp, s, varying: "w")
    monkeypatch.setattr(render_validation, "recipe", lambda exp, s: recipes[s["name"]])
    text = " ".join(render_validation.choice(Exp()))
    assert "among the 2 " in text and "chosen: **late**" in text
    assert "do not use it yet" in text and "recipe of **early**" in text
    assert "Next: early (0.8500; the choice wins by 0.0500, one seed each)" in text
    recipes["final"] = "r2"
    assert "The final systems use its recipe." in " ".join(render_validation.choice(Exp()))


@pytest.mark.slow  # builds the report twice (~30 s)
def test_validation_only_systems_are_not_in_the_benchmark_tables(built):
    folder, _ = built
    text = (folder / "REPORT.md").read_text(encoding="utf-8")
    section = _section(text, "XQuAD-R")
    assert "WiSE-FT λ 0.5" not in section and "[distill]" not in section
    for title in ("Table 1 and 2 (ours)", "Recall on", "Language bias per query language"):
        part = section[section.index(title):]
        header, rows = _table(part)
        if title.startswith("Language bias"):
            assert len(header) == 1 + len(KEPT)
        else:
            assert len(rows) == len(KEPT), title
    exp = load_experiment(folder)
    assert [(a["name"], b["name"]) for a, b in statistics.comparisons(exp, BENCHMARK)] == \
        [("hybrid", "xx-mono"), ("hybrid", "xy")]
    assert all(b["name"] in ("bm25", "zeroshot")
               for _, b in statistics.baseline_comparisons(exp, BENCHMARK))
    assert "WiSE-FT λ 0.5" not in _section(text, "Answer")


@pytest.mark.slow  # builds the report twice (~30 s)
def test_pareto_figures_exist_and_are_deterministic(built):
    folder, first = built
    text = (folder / "REPORT.md").read_text(encoding="utf-8")
    for link in ("figures/mlqa-val/pareto.png", "figures/xquad-r/pareto.png"):
        assert f"]({link})" in text
        assert (folder / link).read_bytes() == first[link]
    assert (folder / "REPORT.md").read_bytes() == first["REPORT.md"]
    assert text.index(f"## {render_validation.TITLE}") < text.index("## XQuAD-R")
    assert text.index("## Set-up") < text.index(f"## {render_validation.TITLE}")


def test_pareto_front_keeps_the_undominated_points():
    points = [(0.5, 0.2), (0.4, 0.4), (0.3, 0.3), (0.2, 0.5), (0.5, 0.1), (0.4, 0.4)]
    assert figures.pareto_front(points) == [3, 1, 5, 0]
    assert figures.pareto_front([]) == []


@pytest.mark.slow  # builds the report twice (~30 s)
def test_untuned_model_is_the_zero_shot_system_without_post_processing(built):
    folder, _ = built
    exp = load_experiment(folder)
    assert render_validation.untuned(exp)["name"] == "zeroshot"
    exp.runs["zeroshot"].info["post"] = {"centre": True}
    assert render_validation.untuned(exp) is None
    assert render_validation.columns("xnli-val")[0] == ("cross.map", "xnli-val Cr")


def test_a_pool_without_parallel_questions_shows_mo_only():
    assert render_validation.columns("tydi-val") == [("mono.map", "tydi-val Mo")]
    exp = load_experiment(SOURCE)
    exp.manifest["validation"] = ["mlqa-val", "xnli-val", "tydi-val"]
    parts = render_validation.score_parts(exp)
    assert parts == [("mlqa-val", "mono.map"), ("mlqa-val", "cross.map"),
                     ("mlqa-val", "multi.map"), ("xnli-val", "cross.map"),
                     ("xnli-val", "multi.map"), ("tydi-val", "mono.map")]
    assert render_validation.mo_pools(exp) == ["mlqa-val", "tydi-val"]


def test_no_validation_no_section():
    exp = load_experiment(SOURCE)
    assert exp.validation == []
    assert render_validation.validation(exp, None) == []


@pytest.mark.data
def test_real_bm25_mlqa_val_evaluation_in_the_table(tmp_path, data_dir):
    """A real ``babelir eval --model bm25 --benchmark mlqa-val`` as bm25's pool files."""
    from babelir.cli import main

    folder = make_results(tmp_path / "exp")
    out = tmp_path / "eval"
    assert main(["eval", "--model", "bm25", "--benchmark", POOL, "--out", str(out),
                 "--data-dir", str(data_dir)]) == 0
    target = folder / "grid" / "bm25" / "eval" / POOL
    for name in ("results.json", "summary.json", "per_query.npz"):
        shutil.copyfile(out / name, target / name)
    exp = load_experiment(folder)
    _, rows = _table("\n".join(render_validation.table(exp)))
    s = _summary(folder, "bm25")
    assert s["benchmark"] == POOL and s["model"] == "bm25"
    assert rows[0][3:7] == [f"{s['mono.map']:.3f}", f"{s['cross.map']:.3f}",
                            f"{s['multi.map']:.3f}", f"{s['multi.rank_distance']:.1f}"]
    assert not math.isnan(render_validation.score(exp, exp.systems[0]))
    assert np.isclose(float(re.sub(r"[*]", "", rows[0][-1])),
                      (s["mono.map"] + s["cross.map"] + s["multi.map"]) / 3, atol=5e-4)


@pytest.mark.slow  # builds the report (~30 s)
def test_setup_and_training_tables_show_levers_and_shared_trainings(built):
    folder, _ = built
    text = (folder / "REPORT.md").read_text(encoding="utf-8")
    _, rows = _table(_section(text, "Set-up"))
    what = {row[3]: row[1] for row in rows}
    assert what["hybrid-wise-s0"].endswith("WiSE-FT λ 0.5")
    assert "distill_weight `1.0`" in what["distill-s0"]
    assert "distill_weight" not in what["hybrid-s0"]  # the usual value: not repeated
    shared = _section(text, "Set-up")
    assert "| distill_weight | `0.0`, unless column *what* names another value |" in shared
    assert "**Warning**" not in _section(text, "Set-up")  # differing on purpose: validated
    training = _section(text, "Training")
    header, rows = _table(training)
    assert "validation score" not in header  # every run here selects on dev loss
    names = [row[0].strip("`") for row in rows]
    assert "distill-s0" in names and "hybrid-wise-s0" not in names  # shared training


@pytest.mark.slow  # builds a report (~15 s)
def test_target_section_shows_each_systems_distance_to_the_bar(tmp_path):
    """manifest ``target``: the hybrid's XQuAD-R mean against hand-set bounds; oracle: the
    summary.json numbers on disk, the margins computed here."""
    from babelir.report import render_target

    folder = make_results(tmp_path / "exp")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    hybrid = json.loads((folder / "grid" / "hybrid-s0" / "eval" / BENCHMARK / "summary.json")
                        .read_text(encoding="utf-8"))
    bar_mo = round(hybrid["mono.map"] - 0.01, 3)  # met
    bar_rd = round(hybrid["multi.rank_distance"] - 5.0, 1)  # missed by 5
    manifest["target"] = {"system": "hybrid", "benchmark": BENCHMARK,
                          "at_least": {"mono.map": bar_mo},
                          "at_most": {"multi.rank_distance": bar_rd}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    build_report(folder)
    section = _section((folder / "REPORT.md").read_text(encoding="utf-8"), render_target.TITLE)
    header, rows = _table(section)
    assert header == ["system", "seeds", "Mo mAP", "distance", "Mul rank distance",
                      "distance"]
    row = next(r for r in rows if r[0].startswith("Hybrid"))
    assert row[2:] == [f"{hybrid['mono.map']:.3f}", f"{hybrid['mono.map'] - bar_mo:+.3f}",
                       f"{hybrid['multi.rank_distance']:.1f}",
                       f"{bar_rd - hybrid['multi.rank_distance']:+.1f}"]
    assert "**Not met** by `hybrid` (mean of 1 of its 1 planned seed): short on Mul rank " \
           "distance by 5.0." in section
    assert not any("distill" in r[0] for r in rows)  # validation-only rows are not shown
