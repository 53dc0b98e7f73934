"""The state of an experiment on disk: which benchmarks can be evaluated, which runs are
trained or evaluated, whether what is kept was made with the same settings, the training
pairs and leakage checks, the kept files and the manifest (``babelir experiment``)."""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

import yaml

from babelir.errors import BabelirError, DataError
from babelir.experiment_plan import (EVAL_FILES, EVAL_IDENTITY, EVAL_REQUIRED, TRAINING_FILES,
                                     Experiment, Run, training_identity)
from babelir.io import atomic_dir, atomic_path, git_commit, write_json


def _say(message: str) -> None:
    print(f"[experiment] {message}", flush=True)


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
    from babelir.training.config import implied_settings

    new = training_identity(run.train_values)
    # a setting the old run did not know (added to TrainConfig since) counts as the value
    # it implied then
    saved = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    implied = implied_settings(saved)
    old = training_identity({k: implied[k] for k in {*saved, *new} if k in implied})
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
    # the model of a trained or post-processed run is a folder of the work tree
    keys = [k for k in EVAL_IDENTITY
            if not (k == "model" and (run.kind == "trained" or run.post))]
    post_path = exp.kept(run.name) / "post.json"
    kept_post = json.loads(post_path.read_text(encoding="utf-8")) if post_path.is_file() else {}
    if kept_post != run.post:
        raise BabelirError(f"run {run.name}: {post_path.parent} was made with other "
                           f"post-processing ({kept_post} -> {run.post}). Delete that folder "
                           "to redo it, or give the experiment a new name")
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    if diff:
        raise BabelirError(
            f"run {run.name}: {path.parent} was evaluated with other settings "
            f"({', '.join(diff)}). Delete that folder to redo it, or give the experiment a new "
            "name")



def pairs_summary_name(pair_set: str = "") -> str:
    """The kept summary of a pair set: pairs.summary.json, or pairs-<set>.summary.json."""
    return f"pairs-{pair_set}.summary.json" if pair_set else "pairs.summary.json"


def ensure_pairs(exp: Experiment, pair_set: str = "") -> Path:
    """Build the training pairs of ``pair_set`` ("": the experiment's `pairs:`) when the file
    is missing; keep their summary."""
    spec = exp.pairs_spec(pair_set)
    out = Path(spec["out"])
    summary = out.with_name(f"{out.stem}.summary.json")
    if not out.is_file():
        from babelir.data.pairs import build_pairs
        from babelir.settings import data_dir

        folder = data_dir(exp.data_dir)
        if folder is None:
            raise BabelirError("no data folder: set `data_dir:` in the experiment or "
                               "$BABELIR_DATA")
        sources = spec.get("sources")
        if not sources:
            raise BabelirError(f"{out} does not exist and the experiment gives no "
                               "`pairs.sources` to build it from")
        _say(f"building training pairs {out} from {', '.join(sources)}")
        from babelir.settings import cache_dir

        drop = spec.get("drop_overlap")  # checked by load_experiment
        build_pairs(list(sources), folder, out, positive=spec.get("positive", "paragraph"),
                    dev_fraction=spec.get("dev_fraction", 0.05),
                    seed=spec.get("seed", 0), languages=spec.get("languages"),
                    drop_overlap=drop, cache_dir=cache_dir(exp.cache_dir) if drop else None)
    if summary.is_file():
        _check_pairs_spec(spec, json.loads(summary.read_text(encoding="utf-8")), summary)
    kept = exp.results / pairs_summary_name(pair_set)
    if summary.is_file() and (not kept.is_file() or kept.read_bytes() != summary.read_bytes()):
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(summary, kept)
    return out


def _check_pairs_spec(given: dict, summary: dict, path: Path) -> None:
    """An existing pairs file must have been built as the experiment's spec ``given`` says."""
    defaults = {"positive": "paragraph", "dev_fraction": 0.05, "seed": 0, "languages": None,
                "drop_overlap": None}
    spec = {**defaults, **{k: v for k, v in given.items() if k != "out"}}
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


def leakage_file(exp: Experiment, benchmark: str, pair_set: str = "") -> Path:
    """leakage/<benchmark>.json (the experiment's pairs) or leakage/<set>/<benchmark>.json."""
    folder = exp.results / "leakage"
    return (folder / pair_set if pair_set else folder) / f"{benchmark}.json"


def ensure_leakage_checks(exp: Experiment, benchmarks: list[str]) -> None:
    """Every pair set the runs train on vs every evaluated benchmark."""
    for pair_set in ["", *sorted({r.pairs for r in exp.runs.values() if r.pairs})]:
        _ensure_leakage_checks(exp, benchmarks, pair_set)


def _ensure_leakage_checks(exp: Experiment, benchmarks: list[str], pair_set: str) -> None:
    """Training pairs vs every evaluated benchmark (train() itself checks only the one in
    its config); refused on overlap unless the training config allows leakage."""
    todo = [b for b in benchmarks if not leakage_file(exp, b, pair_set).is_file()]
    allow = bool(exp.train_overrides.get("allow_leakage"))
    if todo:
        from babelir.data.pairs import load_pairs
        from babelir.settings import cache_dir, data_dir
        from babelir.training.leakage import check_leakage, write_report

        folder = data_dir(exp.data_dir)
        if folder is None:
            raise BabelirError("the leakage check needs the data folder (`data_dir:` or "
                               "$BABELIR_DATA)")
        pairs = load_pairs(ensure_pairs(exp, pair_set))
        for benchmark in todo:
            _say(f"leakage check: training pairs{' ' + pair_set if pair_set else ''} vs {benchmark}")
            report = check_leakage(pairs, benchmark, folder, cache_dir(exp.cache_dir))
            write_report(report, leakage_file(exp, benchmark, pair_set))
    for benchmark in benchmarks:
        path = leakage_file(exp, benchmark, pair_set)
        report = json.loads(path.read_text())
        if report.get("verdict") == "leak" and not allow:
            raise BabelirError(f"the training pairs overlap {benchmark}: see {path}")


def keep_training(exp: Experiment, run: str, trainer: str | None = None) -> None:
    """The training files of ``trainer`` (default ``run``) kept under ``run``."""
    work, kept = exp.work_dir(trainer or run), exp.kept(run)
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



# ------------------------------------------------------------------------------ manifest


def manifest(exp: Experiment, benchmarks: list[str], missing: dict[str, str]) -> dict:
    runs = {}
    for name, run in exp.runs.items():
        entry = run.to_dict()
        if run.kind == "trained":
            entry["training_done"] = (exp.kept(name) / "history.json").is_file()
        scope = list(exp.validation) + ([] if run.evaluate == "validation" else benchmarks)
        entry["done"] = {b: eval_done(exp, name, b) for b in scope}
        runs[name] = entry
    return {
        "experiment": exp.name,
        "description": exp.description,
        "config": str(exp.path),
        "benchmarks": benchmarks,
        "benchmarks_not_found": missing,
        **({"validation": exp.validation} if exp.validation else {}),
        "eval": exp.eval,
        "systems": [s.to_dict() for s in exp.systems],
        "runs": runs,
        "aliases": exp.aliases,
        "sweep": ({**exp.sweep, "points": exp.sweep_points} if exp.sweep else None),
        "comparisons": exp.comparisons,
        "significance": exp.significance,
        "pairs": {k: v for k, v in exp.pairs.items() if k != "out"},
        **({"target": exp.target} if exp.target else {}),
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
