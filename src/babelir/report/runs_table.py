"""Loading: the kept files of an experiment's results folder (manifest.json,
pairs.summary.json, leakage/, grid/<run>/), with every evaluation number of its runs in one
tidy pandas DataFrame (``runs_table``). Nothing is computed here beyond reading and reshaping.

The tidy table has one row per number of a run's ``eval/<benchmark>/results.json``:

* ``run``, ``benchmark``: which run, on which benchmark;
* ``setting``: ``mono``, ``cross``, ``multi`` or ``pair`` (one (query, candidate) language pair);
* ``metric``: ``map``, ``recall@1``, ``rank_distance``, ...;
* ``query_lang``: the query language, or ``ALL`` for the benchmark's macro summary value;
* ``candidate_lang``: the candidate language of a ``pair`` row (empty otherwise);
* ``value``: the number (NaN where results.json holds null).

A run counts as evaluated on a benchmark when both its results.json and per_query.npz are
kept; only those runs' numbers are in the table. The validation pools of the manifest
(``validation``: mlqa-val, xnli-val, kept under grid/<run>/eval/<pool>/ like benchmarks) are
loaded the same way: their rows are in the table with the pool as ``benchmark``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from babelir.errors import BabelirError

GRID = "grid"
ALL = "all"  # query_lang of a benchmark-level (macro-averaged) summary value
KEY_COLUMNS = ["run", "benchmark", "setting", "metric", "query_lang", "candidate_lang"]
COLUMNS = KEY_COLUMNS + ["value"]
LANG_SETTINGS = ("mono", "cross", "multi")


def read_json(path: Path):
    """The JSON file's content, or None when there is no such file."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def is_missing(value) -> bool:
    """None or NaN: a number that is not there."""
    return value is None or math.isnan(value)


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
    run.run = read_json(folder / "run.json")
    run.history = read_json(folder / "history.json")
    run.data_summary = read_json(folder / "data_summary.json")
    run.leakage = read_json(folder / "leakage.json")
    run.model_size = read_json(folder / "model_size.json")
    if (folder / "train_log.jsonl").is_file():
        run.log = [json.loads(line) for line in
                   (folder / "train_log.jsonl").read_text(encoding="utf-8").splitlines() if line]
    for benchmark in benchmarks:
        results = read_json(folder / "eval" / benchmark / "results.json")
        if results is not None and (folder / "eval" / benchmark / "per_query.npz").is_file():
            run.evals[benchmark] = results
    return run


# ------------------------------------------------------------------------------ the table


def _numbers(metrics: dict):
    """(metric, value) for the numbers of a results.json dict (null as NaN; flags skipped)."""
    for metric, value in metrics.items():
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            yield metric, float("nan") if value is None else float(value)


def tidy_rows(run: str, benchmark: str, results: dict) -> list[tuple]:
    """The rows of one run's results.json on one benchmark (see the module doc)."""
    summary = {tuple(k.split(".", 1)): v for k, v in results["summary"].items() if "." in k}
    rows = [(run, benchmark, setting, metric, ALL, "", value)
            for (setting, metric), value in _numbers(summary)]
    for setting in LANG_SETTINGS:
        for lang, metrics in results.get(setting, {}).items():
            rows += [(run, benchmark, setting, metric, lang, "", value)
                     for metric, value in _numbers(metrics)]
    for x, row in results.get("pairs", {}).items():
        for y, metrics in row.items():
            rows += [(run, benchmark, "pair", metric, x, y, value)
                     for metric, value in _numbers(metrics)]
    return rows


def runs_table(runs: dict[str, RunFiles]) -> pd.DataFrame:
    """Every evaluated run's numbers, one row each, in run then benchmark order."""
    rows = [row for run in runs.values() for benchmark, results in run.evals.items()
            for row in tidy_rows(run.name, benchmark, results)]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"value": "float64"})


# ------------------------------------------------------------------------------ the experiment


@dataclass
class Experiment:
    """An experiment's results folder, loaded: the manifest, each run's kept files, the
    training-data summary, the leakage reports and the tidy table of every evaluation."""

    dir: Path
    manifest: dict
    runs: dict[str, RunFiles]
    pairs: dict | None
    leakage: dict[str, dict | None]
    table: pd.DataFrame
    _index: dict = field(default_factory=dict, repr=False)
    #: the other named pair sets (``pair_sets:``): set -> (pairs summary, {benchmark: leakage})
    pair_sets: dict[str, tuple[dict | None, dict]] = field(default_factory=dict)

    @property
    def benchmarks(self) -> list[str]:
        return self.manifest["benchmarks"]

    @property
    def systems(self) -> list[dict]:
        return self.manifest["systems"]

    @property
    def validation(self) -> list[str]:
        """The validation pools every run is evaluated on (none before they existed)."""
        return self.manifest.get("validation", [])

    def scope(self, run: RunFiles) -> list[str]:
        """What the run is to be evaluated on: the validation pools, then the benchmarks
        unless it is a validation-only run (``evaluate: validation``)."""
        tests = [] if run.info.get("evaluate") == "validation" else self.benchmarks
        return self.validation + tests

    def systems_on(self, benchmark: str, systems: list[dict] | None = None) -> list[dict]:
        """The systems (default all) with at least one evaluated run on ``benchmark``."""
        return [s for s in (self.systems if systems is None else systems)
                if self.evaluated(s, benchmark)]

    def run_info(self, system: dict, key: str):
        """The first value of manifest run field ``key`` among the system's runs (None)."""
        return next((self.runs[r].info.get(key) for r in system["runs"]
                     if self.runs[r].info.get(key)), None)

    def validation_only(self, system: dict) -> bool:
        """Whether the system is evaluated on the validation pools only."""
        return bool(system["runs"]) and all(self.runs[r].info.get("evaluate") == "validation"
                                            for r in system["runs"])

    @property
    def sig(self) -> dict:
        return self.manifest.get("significance") or {}

    @property
    def trained_systems(self) -> list[dict]:
        return [s for s in self.systems if s["kind"] == "trained"]

    @property
    def baselines(self) -> list[dict]:
        return [s for s in self.systems if s["kind"] != "trained"]

    def trained_runs(self) -> list[RunFiles]:
        return [r for r in self.runs.values() if r.trained and r.config]

    def logged_runs(self) -> list[RunFiles]:
        """The trained runs with a training log."""
        return [r for r in self.runs.values() if r.trained and r.log]

    def evaluated(self, system: dict, benchmark: str) -> list[RunFiles]:
        return [self.runs[r] for r in system["runs"] if benchmark in self.runs[r].evals]

    def value(self, run: str, benchmark: str, key: str, lang: str = ALL,
              candidate: str = "") -> float:
        """One number of the table (``key`` = "<setting>.<metric>"); NaN when absent."""
        if not self._index:
            keys = zip(*(self.table[c].tolist() for c in KEY_COLUMNS))
            self._index.update(zip(keys, self.table["value"].tolist()))
        setting, metric = key.split(".", 1)
        return self._index.get((run, benchmark, setting, metric, lang, candidate), math.nan)

    def summary_values(self, system: dict, benchmark: str, key: str) -> list[float]:
        """The summary value ``key`` of each of the system's evaluated runs."""
        return [self.value(r.name, benchmark, key) for r in self.evaluated(system, benchmark)]

    def lang_values(self, system: dict, benchmark: str, setting: str, lang: str,
                    metric: str) -> list[float]:
        """``setting.metric`` for one query language, per evaluated run of the system."""
        return [self.value(r.name, benchmark, f"{setting}.{metric}", lang)
                for r in self.evaluated(system, benchmark)]

    def sweep_values(self, benchmark: str) -> list[tuple[dict, dict | None]]:
        """The manifest's alpha-sweep points, each with its run's mAP per setting and rank
        distance on ``benchmark`` (None where the run is not evaluated there)."""
        keys = ("mono.map", "cross.map", "multi.map", "multi.rank_distance")
        return [(p, {k: self.value(p["run"], benchmark, k) for k in keys}
                 if benchmark in self.runs[p["run"]].evals else None)
                for p in (self.manifest.get("sweep") or {"points": []})["points"]]

    def languages(self, benchmark: str) -> list[str]:
        for run in self.runs.values():
            if benchmark in run.evals:
                return run.evals[benchmark]["languages"]
        return []


def load_experiment(results_dir: str | Path) -> Experiment:
    """Read an experiment's results folder (BabelirError when it has no manifest.json)."""
    results_dir = Path(results_dir)
    manifest = read_json(results_dir / "manifest.json")
    if manifest is None:
        raise BabelirError(f"{results_dir / 'manifest.json'} not found: is {results_dir} the "
                           "results folder of `babelir experiment`?")
    benchmarks = manifest["benchmarks"]
    evaluated = benchmarks + manifest.get("validation", [])
    runs = {name: load_run(results_dir / GRID / name, name, info, evaluated)
            for name, info in manifest["runs"].items()}
    leakage = {b: read_json(results_dir / "leakage" / f"{b}.json") for b in benchmarks}
    sets = sorted({info["pairs"] for info in manifest["runs"].values() if info.get("pairs")})
    pair_sets = {name: (read_json(results_dir / f"pairs-{name}.summary.json"),
                        {b: read_json(results_dir / "leakage" / name / f"{b}.json")
                         for b in benchmarks}) for name in sets}
    return Experiment(results_dir, manifest, runs, read_json(results_dir / "pairs.summary.json"),
                      leakage, runs_table(runs), pair_sets=pair_sets)


def read_runs_table(results_dir: str | Path) -> pd.DataFrame:
    """The tidy table of an experiment's results folder (see the module doc)."""
    return load_experiment(results_dir).table
