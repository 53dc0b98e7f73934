"""The plan of an experiment (``babelir experiment``): its YAML read and checked, its systems,
runs, aliases and sweep, and the order they run in. Nothing here trains or evaluates; the
runner (``babelir.experiment``) and the state checks (``babelir.experiment_state``) use it.
See ``babelir.experiment`` for the file layout and the meaning of runs and aliases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import read_yaml_settings

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
            "train", "systems", "sweep", "benchmarks", "eval", "comparisons", "significance",
            "validation", "pair_sets", "target")
SYSTEM_KEYS = ("name", "label", "model", "strategy", "alpha", "seeds", "overrides", "merge",
               "centre", "evaluate", "pairs")
#: validation pools built from the training side (``data/validation.py``): every run is
#: evaluated on those the experiment lists under ``validation:``
VALIDATION_POOLS = ("mlqa-val", "xnli-val", "tydi-val")
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
    post: dict = field(default_factory=dict)  # {"merge": lambda, "centre": true}: after training
    source: str | None = None  # the run whose training this one uses (None: its own)
    evaluate: str = "all"  # all | validation (the validation pools only)
    pairs: str = ""  # the named pair set it trains on ("": the experiment's `pairs:`)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "model": self.model, "seed": self.seed,
               "strategy": self.strategy, "alpha": self.alpha, "used_by": self.used_by}
        extra = {"post": self.post, "source": self.source,
                 "evaluate": self.evaluate if self.evaluate != "all" else None,
                 "pairs": self.pairs}
        return {**out, **{k: v for k, v in extra.items() if v}}

    @property
    def trainer(self) -> str:
        """The run whose work folder holds the training (trained runs)."""
        return self.source or self.name


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
    validation: list[str] = field(default_factory=list)  # validation pools (every run)
    trainers: dict[str, str] = field(default_factory=dict)  # training key -> run training it
    pair_sets: dict[str, dict] = field(default_factory=dict)  # other named training pairs
    target: dict | None = None  # a bar one system's seed mean must reach (``_target``)

    def pairs_spec(self, name: str = "") -> dict:
        """The `pairs:` spec of a named pair set ("": the experiment's own `pairs:`)."""
        return self.pair_sets[name] if name else self.pairs

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
    pairs = _pairs_setting(raw.get("pairs"), "pairs", path)
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
    exp.validation = _validation_pools(raw.get("validation"), path)
    exp.pair_sets = {str(k): _pairs_setting(v, f"pair_sets.{k}", path) for k, v in
                     _require_mapping(raw.get("pair_sets"), "pair_sets", path).items()}
    outs = [str(spec["out"]) for spec in (pairs, *exp.pair_sets.values())]
    if len(set(outs)) != len(outs):
        raise BabelirError(f"experiment {path}: every pair set needs its own `out` file")
    _plan(exp)
    exp.target = _target(raw.get("target"), exp)
    return exp


def _target(value, exp: Experiment) -> dict | None:
    """``target:``: a bar for one system's mean over seeds on one benchmark, e.g.
    ``{system: hybrid, benchmark: xquad-r, at_least: {mono.map: 0.796}, at_most:
    {multi.rank_distance: 330}}`` (keys of the runs' summary.json); the report shows each
    system's distance to it."""
    if value is None:
        return None
    target = dict(_require_mapping(value, "target", exp.path))
    bad = sorted(set(target) - {"system", "benchmark", "at_least", "at_most"})
    names = [s.name for s in exp.systems]
    if bad or target.get("system") not in names or not isinstance(target.get("benchmark"), str):
        raise BabelirError(f"experiment {exp.path}: `target` needs `system` (one of "
                           f"{', '.join(names)}), `benchmark`, and `at_least` / `at_most` "
                           "mappings of summary keys to numbers"
                           + (f"; unknown: {', '.join(bad)}" if bad else ""))
    for side in ("at_least", "at_most"):
        bounds = _require_mapping(target.get(side), f"target.{side}", exp.path)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in bounds.values()):
            raise BabelirError(f"experiment {exp.path}: `target.{side}` maps summary keys "
                               f"(e.g. mono.map) to numbers; got {bounds!r}")
        target[side] = {str(k): float(v) for k, v in bounds.items()}
    return target


def _pairs_setting(value, what: str, path) -> dict:
    """A `pairs:` mapping (the experiment's, or a named set under `pair_sets:`), checked."""
    pairs = dict(_require_mapping(value, what, path))
    if "out" not in pairs:
        raise BabelirError(f"experiment {path}: `{what}.out` (the pairs .parquet) is required")
    if pairs.get("drop_overlap") is not None:
        pairs["drop_overlap"] = _drop_overlap_setting(pairs["drop_overlap"], path)
    return pairs


def _validation_pools(value, path) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(v in VALIDATION_POOLS for v in value):
        raise BabelirError(f"experiment {path}: `validation` is a list of "
                           f"{', '.join(VALIDATION_POOLS)}; got {value!r}")
    return list(value)


def _train_values(exp: Experiment, overrides: dict, run: str, seed: int, strategy: str,
                  alpha: float | None, pair_set: str = "") -> dict:
    from babelir.training.config import FIELDS, load_config

    values = {**exp.train_overrides, **overrides}
    bad = sorted(set(values) - set(FIELDS))
    if bad:
        raise BabelirError(f"experiment {exp.path}: unknown training setting(s) "
                           f"{', '.join(bad)}")
    if "merge" in values:
        raise BabelirError(f"experiment {exp.path}: `merge` is a system's setting here "
                           "(`merge: lambda` beside `strategy:`), not a training override: "
                           "one training then serves every lambda")
    # WiSE-FT is the runner's post-processing (model_for), so training never merges
    values.update(merge=1.0, strategy=strategy, seed=int(seed), out=str(exp.work_dir(run)),
                  pairs=str(exp.pairs_spec(pair_set)["out"]), data_dir=exp.data_dir,
                  cache_dir=exp.cache_dir)
    if alpha is not None:
        values["alpha"] = float(alpha)
    return load_config(exp.train_base, values, source=f"experiment {exp.path}").to_dict()


def _post_settings(exp: Experiment, entry: dict, name: str) -> tuple[dict, str]:
    """A system's post-processing (``merge: lambda``, ``centre: true``) and ``evaluate``."""
    post = {}
    if entry.get("merge") is not None:
        weight = entry["merge"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not 0.0 <= weight <= 1.0:
            raise BabelirError(f"experiment {exp.path}: system {name!r}: `merge` is the weight "
                               f"of the fine-tuned model, in [0, 1]; got {weight!r}")
        if not entry.get("strategy"):
            raise BabelirError(f"experiment {exp.path}: system {name!r}: `merge` needs a "
                               "fine-tuned system (`strategy:`)")
        post["merge"] = float(weight)
    if entry.get("centre") not in (None, False):
        if entry["centre"] is not True:
            raise BabelirError(f"experiment {exp.path}: system {name!r}: `centre` is true or "
                               f"false, got {entry['centre']!r}")
        post["centre"] = True
    scope = entry.get("evaluate", "all")
    if scope not in ("all", "validation"):
        raise BabelirError(f"experiment {exp.path}: system {name!r}: `evaluate` is all or "
                           f"validation, got {scope!r}")
    if scope == "validation" and not exp.validation:
        raise BabelirError(f"experiment {exp.path}: system {name!r}: `evaluate: validation` "
                           "needs the experiment's `validation:` pools")
    if (post or scope != "all") and entry.get("model") == "bm25":
        raise BabelirError(f"experiment {exp.path}: system {name!r}: bm25 takes no `merge`, "
                           "`centre` or `evaluate`")
    return post, scope


def _add_trained_run(exp: Experiment, system: System, run: str, seed: int, post: dict,
                     scope: str, seen: dict, pair_set: str = "") -> None:
    """One seed of a fine-tuned system: a new run, or an alias of an identical one. Runs that
    differ only in their post-processing share one training (``Run.source``)."""
    values = _train_values(exp, system.overrides, run, seed, system.strategy, system.alpha,
                           pair_set)
    system.alpha = values["alpha"] if system.strategy == "hybrid" else None
    # the pairs path is an ENV_FIELD; the pair set it names decides the model
    key = _training_key(values) + (f" pairs={pair_set}" if pair_set else "")
    full = json.dumps([key, post, scope], sort_keys=True)
    if full in seen:  # two systems asking for the same run
        exp.aliases[run] = seen[full]
        exp.runs[seen[full]].used_by.append(system.name)
        system.runs.append(seen[full])
        return
    seen[full] = run
    owner = exp.trainers.setdefault(key, run)
    exp.runs[run] = Run(run, "trained", values["model"], seed, system.strategy, system.alpha,
                        values, key, [system.name], post=post,
                        source=owner if owner != run else None, evaluate=scope, pairs=pair_set)
    system.runs.append(run)


def _plan_trained(exp: Experiment, entry: dict, name: str, seen: dict) -> System:
    strategy = str(entry["strategy"])
    alpha = float(entry["alpha"]) if strategy == "hybrid" and "alpha" in entry else None
    overrides = dict(entry.get("overrides") or {})
    if entry.get("model"):
        overrides["model"] = entry["model"]
    seeds = entry.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise BabelirError(f"experiment {exp.path}: system {name!r}: `seeds` must be "
                           "a non-empty list")
    post, scope = _post_settings(exp, entry, name)
    pair_set = str(entry.get("pairs") or "")
    if pair_set and pair_set not in exp.pair_sets:
        raise BabelirError(f"experiment {exp.path}: system {name!r}: `pairs: {pair_set}` is "
                           f"not a pair set under `pair_sets:` ({', '.join(exp.pair_sets) or 'none'})")
    system = System(name, "trained", "", strategy=strategy, alpha=alpha,
                    seeds=[int(s) for s in seeds], overrides=overrides)
    for seed in system.seeds:
        _add_trained_run(exp, system, f"{name}-s{seed}", seed, post, scope, seen, pair_set)
    system.label = entry.get("label") or (
        f"Hybrid (α = {_alpha_text(system.alpha)})" if strategy == "hybrid"
        else STRATEGY_LABELS.get(strategy, strategy))
    return system


def _plan_model(exp: Experiment, entry: dict, name: str) -> System:
    model = entry.get("model")
    if not model:
        raise BabelirError(f"experiment {exp.path}: system {name!r} needs `model` "
                           "(bm25 or a dense model) or `strategy` (fine-tuned)")
    post, scope = _post_settings(exp, entry, name)
    if entry.get("pairs"):
        raise BabelirError(f"experiment {exp.path}: system {name!r}: `pairs` names the "
                           "training pairs of a fine-tuned system (`strategy:`)")
    kind = "bm25" if model == "bm25" else "zeroshot"
    label = entry.get("label") or ("BM25" if kind == "bm25"
                                   else f"{Path(str(model)).name} (zero-shot)")
    system = System(name, kind, label, model=str(model), runs=[name])
    if name in exp.runs:
        raise BabelirError(f"experiment {exp.path}: run name {name!r} is taken")
    exp.runs[name] = Run(name, kind, str(model), used_by=[name], post=post, evaluate=scope)
    return system


def _plan(exp: Experiment) -> None:
    raw_systems = exp.raw.get("systems") or []
    if not isinstance(raw_systems, list) or not raw_systems:
        raise BabelirError(f"experiment {exp.path}: `systems` must be a non-empty list")
    seen: dict[str, str] = {}
    names = set()
    for entry in raw_systems:
        if not isinstance(entry, dict) or "name" not in entry:
            raise BabelirError(f"experiment {exp.path}: every system needs a `name`")
        bad = sorted(set(entry) - set(SYSTEM_KEYS))
        if bad:
            raise BabelirError(f"experiment {exp.path}: system {entry['name']!r}: unknown "
                               f"setting(s) {', '.join(bad)}")
        name = str(entry["name"])
        if name in names:
            raise BabelirError(f"experiment {exp.path}: two systems named {name!r}")
        names.add(name)
        exp.systems.append(_plan_trained(exp, entry, name, seen) if entry.get("strategy")
                           else _plan_model(exp, entry, name))
    if exp.sweep:
        _plan_sweep(exp, seen)
    _check_comparisons(exp)


def _plan_sweep(exp: Experiment, seen: dict) -> None:
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
        full = json.dumps([key, {}, "all"], sort_keys=True)
        point = {"alpha": alpha, "seed": seed, "name": name}
        if full in seen:
            target = seen[full]
            exp.aliases[name] = target
            exp.runs[target].used_by.append(f"sweep alpha={_alpha_text(alpha)}")
            point.update(run=target, alias=True)
        else:
            seen[full] = name
            owner = exp.trainers.setdefault(key, name)
            exp.runs[name] = Run(name, "trained", values["model"], seed, "hybrid", alpha,
                                 values, key, [f"sweep alpha={_alpha_text(alpha)}"],
                                 source=owner if owner != name else None)
            point.update(run=name, alias=False)
        exp.sweep_points.append(point)
    exp.sweep = {"alphas": [float(a) for a in alphas], "seed": seed}


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
