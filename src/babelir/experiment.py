"""``babelir experiment CONFIG``: run an experiment grid — what is missing, and nothing else.

An experiment (a YAML file, see ``configs/experiments/xquadr-hybrid.yaml``) names:

* ``systems``: BM25 (``model: bm25``), zero-shot dense models (``model: <name or folder>``)
  and fine-tuned systems (``strategy:`` [+ ``alpha:``] and ``seeds:``), each fine-tuned run
  being the experiment's training config with the system's strategy and seed;
* ``sweep``: hybrid runs for several ``alphas`` at one ``seed``;
* ``benchmarks``: ``auto`` (every benchmark of ``babelir.data.registry.BENCHMARKS`` whose
  files are all present: XQuAD-R, and MLQA-R once ``lareqa/mlqa-r/*.json`` exists) or a list.

Runs and aliases. A fine-tuned run is named ``<system>-s<seed>``, a sweep run
``sweep-a<alpha>-s<seed>``. Two runs whose training would be identical are trained once: the
samplers draw, for one seed, exactly the X-Y batches with hybrid alpha = 0 and exactly the
X-X-mono batches with alpha = 1 (``babelir.sampling.strategies``), so the sweep's alpha = 0,
1 (and 0.5 when a hybrid system has alpha 0.5) points are *aliases* of ``xy-s0``,
``xx-mono-s0`` and ``hybrid-s0``; ``manifest.json`` and the report say so.

Files. Weights, checkpoints and full evaluation folders (with the large TREC files) go to
the ``work`` folder (default ``runs/experiments/<name>``, ignored by git). What is kept and
committed goes to ``results/<name>`` (``results:``):

    manifest.json                 the plan: systems, runs, aliases, sweep, what is done
    experiment.yaml               the experiment config as run
    pairs.summary.json            the training pairs (rows per language pair, splits)
    leakage/<benchmark>.json      training pairs vs every evaluated benchmark
    grid/<run>/{config.yaml, run.json, leakage.json, history.json, data_summary.json,
                train_log.jsonl, model_card.md}           (fine-tuned runs)
    grid/<run>/eval/<benchmark>/{summary.json, results.json, tables.md, heatmap_map.png,
                                 per_query.npz}
    REPORT.md, figures/           ``babelir report`` (babelir.report.experiment_report)

(``grid/``, not ``runs/``: the repository's .gitignore ignores every folder named runs.)

Skip, resume. A run is done for a benchmark when its kept evaluation files exist; done runs
are skipped (after checking that they were made with the same training and evaluation
settings: a changed setting is an error, not a silent mix). A fine-tuned run whose weights
exist is evaluated without training; one with a checkpoint (a run that was killed, or
stopped with ``--stop-after``) is resumed with ``train(config, resume=True)``, which
reproduces the uninterrupted run; otherwise it is trained from the start.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from babelir.errors import BabelirError, DataError
from babelir.io import atomic_dir, atomic_path, git_commit, read_yaml_settings, write_json

GRID = "grid"  # results/<experiment>/grid/<run>/ (not "runs": ignored by .gitignore)
TRAINING_FILES = ("config.yaml", "run.json", "leakage.json", "history.json",
                  "data_summary.json", "train_log.jsonl")
EVAL_FILES = ("summary.json", "results.json", "tables.md", "heatmap_map.png", "per_query.npz")
EVAL_REQUIRED = ("summary.json", "results.json", "per_query.npz")  # "done" = these exist
#: training-config fields that locate things rather than change the model
ENV_FIELDS = ("out", "pairs", "data_dir", "cache_dir", "device", "stop_after", "log_batches",
              "save_every")
#: evaluation settings that must match for a kept evaluation to count as done
EVAL_IDENTITY = ("model", "benchmark", "languages", "max_articles", "candidate_mode",
                 "max_length", "ap_k", "bm25_tokenizer", "query_prefix", "passage_prefix")
EVAL_OPTIONS = ("languages", "max_articles", "candidate_mode", "max_length", "batch_size",
                "query_prefix", "passage_prefix", "bm25_tokenizer", "ap_k", "device")
TOP_KEYS = ("name", "description", "results", "work", "data_dir", "cache_dir", "pairs",
            "train", "systems", "sweep", "benchmarks", "eval", "comparisons", "significance")
STRATEGY_LABELS = {"xx-mono": "X-X-mono", "xy": "X-Y", "hybrid": "Hybrid", "xx": "X-X",
                   "en-en": "En-En"}


# ------------------------------------------------------------------------------ the plan


@dataclass
class System:
    name: str
    kind: str  # bm25 | zeroshot | trained
    label: str
    model: str | None = None
    strategy: str | None = None
    alpha: float | None = None
    seeds: list[int] = field(default_factory=list)
    overrides: dict = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "label": self.label, "model": self.model,
                "strategy": self.strategy, "alpha": self.alpha, "seeds": self.seeds,
                "runs": self.runs}


@dataclass
class Run:
    name: str
    kind: str  # bm25 | zeroshot | trained
    model: str  # bm25 / zero-shot model, or the base model of a fine-tuned run
    seed: int | None = None
    strategy: str | None = None
    alpha: float | None = None
    train_values: dict | None = None  # the TrainConfig values (trained runs)
    key: str | None = None  # identity of the training (for aliases)
    used_by: list[str] = field(default_factory=list)  # systems / sweep points using it

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model": self.model, "seed": self.seed,
                "strategy": self.strategy, "alpha": self.alpha, "used_by": self.used_by}


@dataclass
class Experiment:
    name: str
    path: Path
    raw: dict
    results: Path
    work: Path
    data_dir: str | None
    cache_dir: str | None
    pairs: dict
    train_base: str | None
    train_overrides: dict
    systems: list[System]
    sweep: dict | None
    benchmarks: list[str] | str
    eval: dict
    comparisons: list[list[str]] | None
    significance: dict
    description: str = ""
    runs: dict[str, Run] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # sweep run name -> run trained
    sweep_points: list[dict] = field(default_factory=list)

    def kept(self, run: str) -> Path:
        return self.results / GRID / run

    def work_dir(self, run: str) -> Path:
        return self.work / run


def _require_mapping(value, what: str, path) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BabelirError(f"experiment {path}: `{what}` must be a mapping")
    return value


def _drop_overlap_setting(value, path) -> list[str]:
    """``pairs.drop_overlap``: a benchmark name, a comma-separated string or a list of names
    (checked: xquad-r, mlqa-r, miracl)."""
    from babelir.training.decontaminate import check_benchmarks

    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BabelirError(f"experiment {path}: `pairs.drop_overlap` must be a list of "
                           f"benchmark names, got {value!r}")
    try:
        return check_benchmarks(value)
    except BabelirError as exc:
        raise BabelirError(f"experiment {path}: `pairs.drop_overlap`: {exc}") from None


def _alpha_text(alpha: float) -> str:
    return f"{alpha:g}"


def _canonical_strategy(strategy: str, alpha: float | None) -> tuple[str, float | None]:
    """hybrid(alpha=1) draws the X-X-mono batches and hybrid(alpha=0) the X-Y ones."""
    if strategy == "hybrid":
        if alpha == 1.0:
            return "xx-mono", None
        if alpha == 0.0:
            return "xy", None
        return "hybrid", float(alpha)
    return strategy, None


def training_identity(values: dict) -> dict:
    """The settings that decide a trained model (no paths, devices or stop points)."""
    return {k: v for k, v in values.items() if k not in ENV_FIELDS}


def _training_key(values: dict) -> str:
    ident = training_identity(values)
    strategy, alpha = _canonical_strategy(ident["strategy"], ident.get("alpha"))
    ident["strategy"], ident["alpha"] = strategy, alpha
    return json.dumps(ident, sort_keys=True, default=str)


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment YAML, and plan its runs (names, aliases, sweep)."""
    path = Path(path)
    raw = read_yaml_settings(path, TOP_KEYS, "experiment")
    name = raw.get("name") or path.stem
    train = _require_mapping(raw.get("train"), "train", path)
    pairs = _require_mapping(raw.get("pairs"), "pairs", path)
    if "out" not in pairs:
        raise BabelirError(f"experiment {path}: `pairs.out` (the pairs .parquet) is required")
    if pairs.get("drop_overlap") is not None:
        pairs["drop_overlap"] = _drop_overlap_setting(pairs["drop_overlap"], path)
    eval_options = _require_mapping(raw.get("eval"), "eval", path)
    bad = sorted(set(eval_options) - set(EVAL_OPTIONS))
    if bad:
        raise BabelirError(f"experiment {path}: unknown eval option(s) {', '.join(bad)}; "
                           f"known: {', '.join(EVAL_OPTIONS)}")
    if "max_articles" in eval_options:
        from babelir.data.lareqa import check_max_articles

        try:
            check_max_articles(eval_options["max_articles"])
        except BabelirError as exc:
            raise BabelirError(f"experiment {path}: `eval.max_articles`: {exc}") from None
    significance = {"permutations": 10_000, "bootstrap": 10_000, "seed": 0, "level": 0.95,
                    **_require_mapping(raw.get("significance"), "significance", path)}
    benchmarks = raw.get("benchmarks", "auto")
    if benchmarks != "auto" and not (isinstance(benchmarks, list) and benchmarks):
        raise BabelirError(f"experiment {path}: `benchmarks` is 'auto' or a list of names")
    exp = Experiment(
        name=name, path=path, raw=raw,
        results=Path(raw.get("results") or f"results/{name}"),
        work=Path(raw.get("work") or f"runs/experiments/{name}"),
        data_dir=raw.get("data_dir"), cache_dir=raw.get("cache_dir"),
        pairs=pairs, train_base=train.get("base"),
        train_overrides=dict(_require_mapping(train.get("overrides"), "train.overrides", path)),
        systems=[], sweep=raw.get("sweep"), benchmarks=benchmarks, eval=eval_options,
        comparisons=raw.get("comparisons"), significance=significance,
        description=str(raw.get("description") or ""))
    bad = sorted(set(train) - {"base", "overrides"})
    if bad:
        raise BabelirError(f"experiment {path}: unknown train setting(s) {', '.join(bad)}")
    _plan(exp)
    return exp


def _train_values(exp: Experiment, overrides: dict, run: str, seed: int, strategy: str,
                  alpha: float | None) -> dict:
    from babelir.training.config import FIELDS, load_config

    values = {**exp.train_overrides, **overrides}
    bad = sorted(set(values) - set(FIELDS))
    if bad:
        raise BabelirError(f"experiment {exp.path}: unknown training setting(s) "
                           f"{', '.join(bad)}")
    values.update(strategy=strategy, seed=int(seed), out=str(exp.work_dir(run)),
                  pairs=str(exp.pairs["out"]), data_dir=exp.data_dir, cache_dir=exp.cache_dir)
    if alpha is not None:
        values["alpha"] = float(alpha)
    return load_config(exp.train_base, values, source=f"experiment {exp.path}").to_dict()


def _plan(exp: Experiment) -> None:
    raw_systems = exp.raw.get("systems") or []
    if not isinstance(raw_systems, list) or not raw_systems:
        raise BabelirError(f"experiment {exp.path}: `systems` must be a non-empty list")
    seen_keys: dict[str, str] = {}
    names = set()
    for entry in raw_systems:
        if not isinstance(entry, dict) or "name" not in entry:
            raise BabelirError(f"experiment {exp.path}: every system needs a `name`")
        bad = sorted(set(entry) - {"name", "label", "model", "strategy", "alpha", "seeds",
                                   "overrides"})
        if bad:
            raise BabelirError(f"experiment {exp.path}: system {entry['name']!r}: unknown "
                               f"setting(s) {', '.join(bad)}")
        name = str(entry["name"])
        if name in names:
            raise BabelirError(f"experiment {exp.path}: two systems named {name!r}")
        names.add(name)
        if entry.get("strategy"):
            strategy = str(entry["strategy"])
            alpha = float(entry["alpha"]) if strategy == "hybrid" and "alpha" in entry else None
            overrides = dict(entry.get("overrides") or {})
            if entry.get("model"):
                overrides["model"] = entry["model"]
            seeds = entry.get("seeds", [0])
            if not isinstance(seeds, list) or not seeds:
                raise BabelirError(f"experiment {exp.path}: system {name!r}: `seeds` must be "
                                   "a non-empty list")
            system = System(name, "trained", "", strategy=strategy, alpha=alpha,
                            seeds=[int(s) for s in seeds], overrides=overrides)
            for seed in system.seeds:
                run = f"{name}-s{seed}"
                values = _train_values(exp, overrides, run, seed, strategy, alpha)
                system.alpha = values["alpha"] if strategy == "hybrid" else None
                key = _training_key(values)
                if key in seen_keys:  # two systems asking for the same training
                    exp.aliases[run] = seen_keys[key]
                    exp.runs[seen_keys[key]].used_by.append(name)
                    system.runs.append(seen_keys[key])
                    continue
                seen_keys[key] = run
                exp.runs[run] = Run(run, "trained", values["model"], seed, strategy,
                                    system.alpha, values, key, [name])
                system.runs.append(run)
            system.label = entry.get("label") or (
                f"Hybrid (α = {_alpha_text(system.alpha)})" if strategy == "hybrid"
                else STRATEGY_LABELS.get(strategy, strategy))
        else:
            model = entry.get("model")
            if not model:
                raise BabelirError(f"experiment {exp.path}: system {name!r} needs `model` "
                                   "(bm25 or a dense model) or `strategy` (fine-tuned)")
            kind = "bm25" if model == "bm25" else "zeroshot"
            label = entry.get("label") or ("BM25" if kind == "bm25"
                                           else f"{Path(str(model)).name} (zero-shot)")
            system = System(name, kind, label, model=str(model), runs=[name])
            if name in exp.runs:
                raise BabelirError(f"experiment {exp.path}: run name {name!r} is taken")
            exp.runs[name] = Run(name, kind, str(model), used_by=[name])
        exp.systems.append(system)
    if exp.sweep:
        sweep = _require_mapping(exp.sweep, "sweep", exp.path)
        alphas = sweep.get("alphas") or []
        seed = int(sweep.get("seed", 0))
        if not isinstance(alphas, list) or not alphas:
            raise BabelirError(f"experiment {exp.path}: `sweep.alphas` must be a list")
        for alpha in alphas:
            alpha = float(alpha)
            if not 0.0 <= alpha <= 1.0:
                raise BabelirError(f"experiment {exp.path}: sweep alpha {alpha} not in [0, 1]")
            name = f"sweep-a{_alpha_text(alpha)}-s{seed}"
            values = _train_values(exp, {}, name, seed, "hybrid", alpha)
            key = _training_key(values)
            point = {"alpha": alpha, "seed": seed, "name": name}
            if key in seen_keys:
                target = seen_keys[key]
                exp.aliases[name] = target
                exp.runs[target].used_by.append(f"sweep alpha={_alpha_text(alpha)}")
                point.update(run=target, alias=True)
            else:
                seen_keys[key] = name
                exp.runs[name] = Run(name, "trained", values["model"], seed, "hybrid", alpha,
                                     values, key, [f"sweep alpha={_alpha_text(alpha)}"])
                point.update(run=name, alias=False)
            exp.sweep_points.append(point)
        exp.sweep = {"alphas": [float(a) for a in alphas], "seed": seed}
    _check_comparisons(exp)


def _check_comparisons(exp: Experiment) -> None:
    names = {s.name for s in exp.systems}
    if exp.comparisons is None:
        return
    for pair in exp.comparisons:
        if not (isinstance(pair, list) and len(pair) == 2 and set(pair) <= names):
            raise BabelirError(f"experiment {exp.path}: each comparison is [system, system] "
                               f"of: {', '.join(sorted(names))}; got {pair!r}")


def execution_order(exp: Experiment) -> list[str]:
    """Baselines, then every fine-tuned system's first seed, the sweep, then the other
    seeds, one seed of every system at a time: an experiment stopped half-way already has
    one complete seed to compare, and the systems' seed counts never differ by more than
    one."""
    order = [n for n, r in exp.runs.items() if r.kind != "trained"]
    trained = [s for s in exp.systems if s.kind == "trained"]
    head = [s.runs[0] for s in trained]
    sweep = [p["run"] for p in exp.sweep_points if not p["alias"]]
    depth = max((len(s.runs) for s in trained), default=0)
    tail = [s.runs[i] for i in range(1, depth) for s in trained if i < len(s.runs)]
    for name in head + sweep + tail:
        if name not in order:
            order.append(name)
    return order


# ------------------------------------------------------------------------------ benchmarks


def detect_benchmarks(data_dir: Path | None, cache_dir: Path | None,
                      languages: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Benchmarks of the registry whose files (for the languages evaluated) are all found
    without downloading; and, for the others, why not."""
    from babelir.data.registry import BENCHMARKS, resolve_file

    found, missing = [], {}
    for name, spec in BENCHMARKS.items():
        langs = [lang for lang in spec.languages if not languages or lang in languages]
        if not langs:
            missing[name] = "none of the evaluated languages"
            continue
        absent = []
        for lang in langs:
            try:
                resolve_file(spec, lang, data_dir, cache_dir, online=False)
            except DataError:
                absent.append(spec.relative_path(lang))
        if absent:
            missing[name] = (f"{', '.join(absent[:3])}{' …' if len(absent) > 3 else ''} not "
                             "found in the data folder or the cache")
            continue
        found.append(name)
    return found, missing


def benchmark_languages(benchmark: str, languages: list[str] | None) -> list[str] | None:
    """The evaluated languages that ``benchmark`` has (None = all of its languages)."""
    from babelir.data.registry import get_benchmark

    if not languages:
        return None
    return [lang for lang in get_benchmark(benchmark).languages if lang in languages]


# ------------------------------------------------------------------------------ state


def eval_done(exp: Experiment, run: str, benchmark: str) -> bool:
    folder = exp.kept(run) / "eval" / benchmark
    return all((folder / name).is_file() for name in EVAL_REQUIRED)


def training_state(exp: Experiment, run: str) -> str:
    """``trained`` (weights exist), ``checkpoint <step>``, or ``new``."""
    from babelir.training.checkpoint import latest_checkpoint

    work = exp.work_dir(run)
    if (work / "final" / "model.safetensors").is_file() and (work / "history.json").is_file():
        return "trained"
    found = latest_checkpoint(work / "checkpoints")
    if found is not None:
        return f"checkpoint {int(found.name.split('-')[1])}"
    return "new"


def _check_training_identity(exp: Experiment, run: Run, config_path: Path) -> None:
    if not config_path.is_file():
        return
    from babelir.training.config import TrainConfig

    old = training_identity(yaml.safe_load(config_path.read_text(encoding="utf-8")) or {})
    new = training_identity(run.train_values)
    defaults = TrainConfig().to_dict()
    # a setting the old run did not know (added to TrainConfig since) counts as its default
    old = {**{k: defaults[k] for k in new if k not in old and k in defaults}, **old}
    diff = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
                     for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
    if diff:
        raise BabelirError(
            f"run {run.name}: {config_path} was made with other training settings ({diff}). "
            f"Delete {config_path.parent} to redo it, or give the experiment a new name")


def _eval_values(exp: Experiment, run: Run, benchmark: str) -> dict:
    options = dict(exp.eval)
    options["languages"] = benchmark_languages(benchmark, options.get("languages"))
    if run.kind == "trained" and "max_length" not in options:
        options["max_length"] = run.train_values["max_length"]
    return options


def _check_eval_identity(exp: Experiment, run: Run, benchmark: str) -> None:
    from babelir.eval_job import EvalConfig

    path = exp.kept(run.name) / "eval" / benchmark / "results.json"
    old = json.loads(path.read_text(encoding="utf-8")).get("config", {})
    defaults = EvalConfig(model=run.model)
    new = {k: getattr(defaults, k) for k in EVAL_IDENTITY}
    new.update({k: v for k, v in _eval_values(exp, run, benchmark).items()
                if k in EVAL_IDENTITY})
    new["benchmark"] = benchmark
    keys = [k for k in EVAL_IDENTITY if not (k == "model" and run.kind == "trained")]
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    if diff:
        raise BabelirError(
            f"run {run.name}: {path.parent} was evaluated with other settings "
            f"({', '.join(diff)}). Delete that folder to redo it, or give the experiment a new "
            "name")


# ------------------------------------------------------------------------------ steps


def _train(config, resume: bool):
    """One training (a seam for tests that count trainings)."""
    from babelir.training.run import train

    return train(config, resume=resume)


def _evaluate(config) -> dict:
    """One evaluation (a seam for tests that count evaluations)."""
    from babelir.eval_job import run_eval

    return run_eval(config)


def ensure_pairs(exp: Experiment) -> Path:
    """Build the training pairs when the file is missing; keep their summary."""
    out = Path(exp.pairs["out"])
    summary = out.with_name(f"{out.stem}.summary.json")
    if not out.is_file():
        from babelir.data.pairs import build_pairs
        from babelir.settings import data_dir

        folder = data_dir(exp.data_dir)
        if folder is None:
            raise BabelirError("no data folder: set `data_dir:` in the experiment or "
                               "$BABELIR_DATA")
        sources = exp.pairs.get("sources")
        if not sources:
            raise BabelirError(f"{out} does not exist and the experiment gives no "
                               "`pairs.sources` to build it from")
        _say(f"building training pairs {out} from {', '.join(sources)}")
        from babelir.settings import cache_dir

        drop = exp.pairs.get("drop_overlap")  # checked by load_experiment
        build_pairs(list(sources), folder, out, positive=exp.pairs.get("positive", "paragraph"),
                    dev_fraction=exp.pairs.get("dev_fraction", 0.05),
                    seed=exp.pairs.get("seed", 0), languages=exp.pairs.get("languages"),
                    drop_overlap=drop, cache_dir=cache_dir(exp.cache_dir) if drop else None)
    if summary.is_file():
        _check_pairs_spec(exp, json.loads(summary.read_text(encoding="utf-8")), summary)
    kept = exp.results / "pairs.summary.json"
    if summary.is_file() and (not kept.is_file() or kept.read_bytes() != summary.read_bytes()):
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(summary, kept)
    return out


def _check_pairs_spec(exp: Experiment, summary: dict, path: Path) -> None:
    """An existing pairs file must have been built as the experiment says."""
    defaults = {"positive": "paragraph", "dev_fraction": 0.05, "seed": 0, "languages": None,
                "drop_overlap": None}
    spec = {**defaults, **{k: v for k, v in exp.pairs.items() if k != "out"}}
    if spec.get("languages") is not None:
        spec["languages"] = sorted(spec["languages"])
    built = dict(summary)
    built["drop_overlap"] = (summary.get("drop_overlap") or {}).get("benchmarks")
    diff = [f"{k}: {built.get(k)!r} (file) vs {v!r} (experiment)" for k, v in spec.items()
            if k in ("sources", "positive", "dev_fraction", "seed", "languages",
                     "drop_overlap") and built.get(k) != v]
    if diff:
        raise BabelirError(f"{path} was built otherwise than the experiment's `pairs:` says "
                           f"({'; '.join(diff)}); delete the pairs file to rebuild it, or give "
                           "another `pairs.out`")


def ensure_leakage_checks(exp: Experiment, benchmarks: list[str]) -> None:
    """Training pairs vs every evaluated benchmark (train() itself checks only the one in
    its config); refused on overlap unless the training config allows leakage."""
    todo = [b for b in benchmarks if not (exp.results / "leakage" / f"{b}.json").is_file()]
    allow = bool(exp.train_overrides.get("allow_leakage"))
    if todo:
        from babelir.data.pairs import load_pairs
        from babelir.settings import cache_dir, data_dir
        from babelir.training.leakage import check_leakage, write_report

        folder = data_dir(exp.data_dir)
        if folder is None:
            raise BabelirError("the leakage check needs the data folder (`data_dir:` or "
                               "$BABELIR_DATA)")
        pairs = load_pairs(ensure_pairs(exp))
        for benchmark in todo:
            _say(f"leakage check: training pairs vs {benchmark}")
            report = check_leakage(pairs, benchmark, folder, cache_dir(exp.cache_dir))
            write_report(report, exp.results / "leakage" / f"{benchmark}.json")
    for benchmark in benchmarks:
        report = json.loads((exp.results / "leakage" / f"{benchmark}.json").read_text())
        if report.get("verdict") == "leak" and not allow:
            raise BabelirError(f"the training pairs overlap {benchmark}: see "
                               f"{exp.results / 'leakage' / (benchmark + '.json')}")


def keep_training(exp: Experiment, run: str) -> None:
    work, kept = exp.work_dir(run), exp.kept(run)
    kept.mkdir(parents=True, exist_ok=True)
    for name in TRAINING_FILES:
        if (work / name).is_file():
            with atomic_path(kept / name) as tmp:
                shutil.copyfile(work / name, tmp)
    card = work / "final" / "README.md"
    if card.is_file():
        with atomic_path(kept / "model_card.md") as tmp:
            shutil.copyfile(card, tmp)
    size = model_size(work / "final", exp.runs[run].train_values.get("freeze_embeddings", False))
    if size:
        write_json(kept / "model_size.json", size)


def model_size(folder: Path, frozen_embeddings: bool) -> dict | None:
    """Parameter counts of a saved model, from its safetensors header and config.json (no
    weights are loaded): for the report's comparison of model sizes."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return None
    with weights.open("rb") as fh:
        header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
    shapes = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
    total = sum(math.prod(shape) for shape in shapes.values())
    embeddings = sum(math.prod(shape) for k, shape in shapes.items() if "word_embeddings" in k)
    config = {}
    if (folder / "config.json").is_file():
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return {"parameters": total, "word_embedding_parameters": embeddings,
            "trained_parameters": total - embeddings if frozen_embeddings else total,
            "model_type": config.get("model_type"), "layers": config.get("num_hidden_layers"),
            "hidden_size": config.get("hidden_size"), "vocab_size": config.get("vocab_size")}


def keep_eval(source: Path, target: Path) -> None:
    with atomic_dir(target, legacy=lambda folder: {p.name for p in folder.iterdir()}
                    <= set(EVAL_FILES)) as tmp:  # kept before babelir marked its outputs
        for name in EVAL_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)


def _say(message: str) -> None:
    print(f"[experiment] {message}", flush=True)


def _train_run(exp: Experiment, run: Run, stop_after: int | None, prefix: str) -> bool:
    """Train (or resume) ``run`` until done; False when it stopped early (checkpointed)."""
    from babelir.training.config import load_config

    _check_training_identity(exp, run, exp.work_dir(run.name) / "config.yaml")
    state = training_state(exp, run.name)
    if state == "trained":
        return True
    config = load_config(None, {**run.train_values, "stop_after": stop_after})
    resume = state.startswith("checkpoint")
    what = f"resuming from step {state.split()[1]}" if resume else "training"
    _say(f"{prefix} {run.name}: {what} ({config.strategy}"
         + (f", alpha {config.alpha:g}" if config.strategy == "hybrid" else "")
         + f", seed {config.seed}, {config.steps} steps of {config.batch_size})")
    started = time.perf_counter()
    _train(config, resume)
    minutes = (time.perf_counter() - started) / 60
    if training_state(exp, run.name) != "trained":
        _say(f"{prefix} {run.name}: stopped at step {stop_after} after {minutes:.1f} min "
             "(checkpointed; run the experiment again to resume)")
        return False
    _say(f"{prefix} {run.name}: trained in {minutes:.1f} min")
    return True


def _eval_run(exp: Experiment, run: Run, benchmark: str, prefix: str) -> None:
    from babelir.eval_job import EvalConfig

    model = run.model if run.kind != "trained" else str(exp.work_dir(run.name) / "final")
    out = exp.work_dir(run.name) / f"eval-{benchmark}"
    config = EvalConfig(model=model, benchmark=benchmark, out=str(out), data_dir=exp.data_dir,
                        cache_dir=exp.cache_dir,
                        embedding_cache=run.kind != "trained",  # evaluated once
                        **_eval_values(exp, run, benchmark))
    _say(f"{prefix} {run.name}: evaluating on {benchmark}")
    started = time.perf_counter()
    results = _evaluate(config)
    s = results["summary"]
    keep_eval(out, exp.kept(run.name) / "eval" / benchmark)
    _say(f"{prefix} {run.name} on {benchmark}: Mo {s['mono.map']:.3f} Cr {s['cross.map']:.3f} "
         f"Mul {s['multi.map']:.3f} RD {s['multi.rank_distance']:.1f} "
         f"({time.perf_counter() - started:.0f} s)")


# ------------------------------------------------------------------------------ manifest


def manifest(exp: Experiment, benchmarks: list[str], missing: dict[str, str]) -> dict:
    runs = {}
    for name, run in exp.runs.items():
        entry = run.to_dict()
        if run.kind == "trained":
            entry["training_done"] = (exp.kept(name) / "history.json").is_file()
        entry["done"] = {b: eval_done(exp, name, b) for b in benchmarks}
        runs[name] = entry
    return {
        "experiment": exp.name,
        "description": exp.description,
        "config": str(exp.path),
        "benchmarks": benchmarks,
        "benchmarks_not_found": missing,
        "eval": exp.eval,
        "systems": [s.to_dict() for s in exp.systems],
        "runs": runs,
        "aliases": exp.aliases,
        "sweep": ({**exp.sweep, "points": exp.sweep_points} if exp.sweep else None),
        "comparisons": exp.comparisons,
        "significance": exp.significance,
        "pairs": {k: v for k, v in exp.pairs.items() if k != "out"},
        "complete": all(all(r["done"].values()) for r in runs.values()),
    }


def write_manifest(exp: Experiment, data: dict) -> None:
    """Rewritten only when something changed (then with the current commit)."""
    old = _read_manifest(exp)
    old.pop("commit", None)
    if old == data:
        return
    write_json(exp.results / "manifest.json", {**data, "commit": git_commit()})


def _copy_config(exp: Experiment) -> None:
    target = exp.results / "experiment.yaml"
    text = exp.path.read_bytes()
    if not target.is_file() or target.read_bytes() != text:
        exp.results.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_bytes(text)


def resolve_benchmarks(exp: Experiment) -> tuple[list[str], list[str], dict[str, str]]:
    """(benchmarks to evaluate now, benchmarks to report, why others are not evaluated).

    ``auto``: those whose files are found; a benchmark evaluated before but whose files are
    not found now (another machine) stays in the report with what was kept."""
    from babelir.data.registry import BENCHMARKS, get_benchmark
    from babelir.settings import cache_dir, data_dir

    if exp.benchmarks != "auto":
        for name in exp.benchmarks:
            get_benchmark(name)
        return list(exp.benchmarks), list(exp.benchmarks), {}
    found, missing = detect_benchmarks(data_dir(exp.data_dir), cache_dir(exp.cache_dir),
                                       exp.eval.get("languages"))
    old = _read_manifest(exp).get("benchmarks", [])
    kept = [b for b in old if b not in found
            and any(eval_done(exp, run, b) for run in exp.runs)]
    reported = [b for b in BENCHMARKS if b in found or b in kept]
    if not reported:
        raise BabelirError("no benchmark found in the data folder "
                           f"({'; '.join(f'{k}: {v}' for k, v in missing.items())})")
    return found, reported, {k: v for k, v in missing.items() if k not in kept}


def _read_manifest(exp: Experiment) -> dict:
    path = exp.results / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run_experiment(path: str | Path, only: list[str] | None = None,
                   stop_after: int | None = None, report: bool = True,
                   dry_run: bool = False) -> Path:
    """Run what is missing of the experiment at ``path``; returns its results folder.

    ``only``: run names to work on (default all); ``stop_after``: stop every training run
    started or resumed now at that step (checkpointed, resumed by the next call);
    ``report``: rebuild REPORT.md at the end; ``dry_run``: print the plan and states only.
    """
    exp = load_experiment(path)
    order = execution_order(exp)
    if only:
        unknown = sorted(set(only) - set(exp.runs) - set(exp.aliases))
        if unknown:
            raise BabelirError(f"unknown run(s) {', '.join(unknown)}; runs: {', '.join(order)}")
        wanted = {exp.aliases.get(n, n) for n in only}
        order = [n for n in order if n in wanted]
    benchmarks, reported, missing = resolve_benchmarks(exp)
    for name, why in missing.items():
        _say(f"benchmark {name} not evaluated: {why}")
    for name in reported:
        if name not in benchmarks:
            _say(f"benchmark {name}: files not found here; keeping what was evaluated before")
    trainings = sum(1 for r in exp.runs.values() if r.kind == "trained")
    _say(f"{exp.name}: {len(exp.runs)} runs ({trainings} trainings; aliases: "
         + (", ".join(f"{a} = {t}" for a, t in exp.aliases.items()) or "none")
         + f"), benchmarks {', '.join(benchmarks)}; results in {exp.results}")
    if dry_run:
        for i, name in enumerate(order, 1):
            run = exp.runs[name]
            done = [b for b in benchmarks if eval_done(exp, name, b)]
            state = training_state(exp, name) if run.kind == "trained" else "-"
            _say(f"[{i}/{len(order)}] {name}: evaluated on {', '.join(done) or 'nothing'}; "
                 f"training: {state}")
        return exp.results
    for name in order:  # before anything is written: a changed setting is an error
        run = exp.runs[name]
        for b in benchmarks:
            if eval_done(exp, name, b):
                _check_eval_identity(exp, run, b)
        if run.kind == "trained":
            _check_training_identity(exp, run, exp.kept(name) / "config.yaml")
    exp.results.mkdir(parents=True, exist_ok=True)
    _copy_config(exp)
    write_manifest(exp, manifest(exp, reported, missing))
    pending = [n for n in order if not all(eval_done(exp, n, b) for b in benchmarks)]
    if any(exp.runs[n].kind == "trained" for n in pending) or not all(
            (exp.results / "leakage" / f"{b}.json").is_file() for b in benchmarks):
        ensure_leakage_checks(exp, benchmarks)
    started = time.perf_counter()
    for i, name in enumerate(order, 1):
        run = exp.runs[name]
        prefix = f"[{i}/{len(order)}]"
        todo = [b for b in benchmarks if not eval_done(exp, name, b)]
        if not todo:
            _say(f"{prefix} {name}: done (skipped)")
            continue
        if run.kind == "trained":
            ensure_pairs(exp)
            if not _train_run(exp, run, stop_after, prefix):
                write_manifest(exp, manifest(exp, reported, missing))
                continue
            keep_training(exp, name)
            # the run is complete: its resume checkpoint (~0.65 GB for e5-small) is not needed
            shutil.rmtree(exp.work_dir(name) / "checkpoints", ignore_errors=True)
        for benchmark in todo:
            _eval_run(exp, run, benchmark, prefix)
        write_manifest(exp, manifest(exp, reported, missing))
    state = manifest(exp, reported, missing)
    write_manifest(exp, state)
    left = [n for n, r in state["runs"].items() if not all(r["done"].values())]
    _say(f"{len(exp.runs) - len(left)} of {len(exp.runs)} runs complete "
         f"({(time.perf_counter() - started) / 60:.1f} min this call)"
         + (f"; still to do: {', '.join(left)}" if left else ""))
    if report:
        from babelir.report.experiment_report import build_report

        _say(f"report: {build_report(exp.results)}")
    return exp.results


# ------------------------------------------------------------------------------ CLI


def add_experiment_parser(sub) -> None:
    p = sub.add_parser("experiment", help="run an experiment grid (skips what is done, "
                                          "resumes what was stopped)")
    p.add_argument("config", help="experiment YAML, e.g. configs/experiments/xquadr-hybrid.yaml")
    p.add_argument("--only", action="append", metavar="RUN",
                   help="work on this run only (repeatable); see --dry-run for the names")
    p.add_argument("--stop-after", type=int, metavar="STEP",
                   help="stop each training at this step (checkpointed; the next call resumes)")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not rebuild REPORT.md at the end")
    p.add_argument("--dry-run", action="store_true", help="print the runs and their state")
    p.set_defaults(handler=run_experiment_command)


def run_experiment_command(args: argparse.Namespace) -> int:
    run_experiment(args.config, only=args.only, stop_after=args.stop_after,
                   report=args.report, dry_run=args.dry_run)
    return 0


__all__ = [
    "add_experiment_parser",
    "detect_benchmarks",
    "execution_order",
    "load_experiment",
    "run_experiment",
]
