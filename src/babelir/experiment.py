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
import shutil
import time
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import write_json
from babelir.experiment_plan import (Experiment, Run, execution_order, load_experiment,
                                     training_identity)
from babelir.experiment_state import (_check_eval_identity, _check_training_identity, _copy_config,
                                      _eval_values, _say, detect_benchmarks, ensure_leakage_checks,
                                      ensure_pairs, eval_done, keep_eval, keep_training, manifest,
                                      resolve_benchmarks, training_state, write_manifest)


# ------------------------------------------------------------------------------ steps


def _train(config, resume: bool):
    """One training (a seam for tests that count trainings)."""
    from babelir.training.run import train

    return train(config, resume=resume)


def _evaluate(config) -> dict:
    """One evaluation (a seam for tests that count evaluations)."""
    from babelir.eval_job import run_eval

    return run_eval(config)


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


POST_RECORD = "babelir-post.json"


def model_for(exp: Experiment, run: Run) -> str:
    """The model ``run`` evaluates: the zero-shot model or the trained ``final/``, merged with
    the starting model (``post.merge`` = lambda, WiSE-FT) and centred (``post.centre``) into
    ``<work>/<run>/model`` when the run has post-processing (made once, remade if changed)."""
    import json

    base = run.model if run.kind != "trained" else str(exp.work_dir(run.trainer) / "final")
    if not run.post:
        return base
    from babelir.settings import cache_dir, data_dir

    folder = exp.work_dir(run.name) / "model"
    # the record sits beside the folder: a file inside would change the model's fingerprint,
    # and a centred copy would no longer share its base model's embedding cache
    record, record_path = {"from": base, **run.post}, exp.work_dir(run.name) / POST_RECORD
    if (folder / POST_RECORD).is_file() and not record_path.is_file():
        (folder / POST_RECORD).replace(record_path)  # where an earlier babelir wrote it
    if folder.is_dir() and record_path.is_file() and \
            json.loads(record_path.read_text(encoding="utf-8")) == record:
        return str(folder)
    cache, merged = cache_dir(exp.cache_dir), base
    if "merge" in run.post:
        from babelir.models.merge import merge_models

        merged = exp.work_dir(run.name) / ("merged" if run.post.get("centre") else "model")
        _say(f"{run.name}: merging {run.model} and {base} (lambda {run.post['merge']:g})")
        merge_models(run.model, base, run.post["merge"], merged, cache)
    if run.post.get("centre"):
        from babelir.models.centre import centre_model

        folder_data = data_dir(exp.data_dir)
        if folder_data is None:
            raise BabelirError("centring needs the data folder (XNLI): `data_dir:` or "
                               "$BABELIR_DATA")
        _say(f"{run.name}: per-language centring of {merged}")
        centre_model(str(merged), folder, folder_data, cache)
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return str(folder)


def run_benchmarks(exp: Experiment, run: Run, benchmarks: list[str]) -> list[str]:
    """What ``run`` is evaluated on: the validation pools, then (``evaluate: all``) the
    experiment's benchmarks."""
    return list(exp.validation) + ([] if run.evaluate == "validation" else list(benchmarks))


def _eval_run(exp: Experiment, run: Run, benchmark: str, prefix: str) -> None:
    from babelir.eval_job import EvalConfig

    model = model_for(exp, run)
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
    if run.post:
        write_json(exp.kept(run.name) / "post.json", run.post)
    if run.kind == "trained" and run.source is None and not run.post:
        # the model card takes the run's evaluation results, kept again
        from babelir.training.card import write_model_card

        write_model_card(exp.work_dir(run.name) / "final", exp.work_dir(run.name))
        keep_training(exp, run.name, run.name)
    _say(f"{prefix} {run.name} on {benchmark}: Mo {s['mono.map']:.3f} Cr {s['cross.map']:.3f} "
         f"Mul {s['multi.map']:.3f} RD {s['multi.rank_distance']:.1f} "
         f"({time.perf_counter() - started:.0f} s)")


def _select(exp: Experiment, only: list[str] | None) -> list[str]:
    order = execution_order(exp)
    if not only:
        return order
    unknown = sorted(set(only) - set(exp.runs) - set(exp.aliases))
    if unknown:
        raise BabelirError(f"unknown run(s) {', '.join(unknown)}; runs: {', '.join(order)}")
    wanted = {exp.aliases.get(n, n) for n in only}
    return [n for n in order if n in wanted]


def _announce(exp: Experiment, benchmarks, reported, missing) -> None:
    for name, why in missing.items():
        _say(f"benchmark {name} not evaluated: {why}")
    for name in reported:
        if name not in benchmarks:
            _say(f"benchmark {name}: files not found here; keeping what was evaluated before")
    trainings = sum(1 for r in exp.runs.values() if r.kind == "trained" and r.source is None)
    _say(f"{exp.name}: {len(exp.runs)} runs ({trainings} trainings; aliases: "
         + (", ".join(f"{a} = {t}" for a, t in exp.aliases.items()) or "none")
         + f"), benchmarks {', '.join(benchmarks)}"
         + (f", validation {', '.join(exp.validation)}" if exp.validation else "")
         + f"; results in {exp.results}")


def _todo(exp: Experiment, name: str, benchmarks: list[str]) -> list[str]:
    return [b for b in run_benchmarks(exp, exp.runs[name], benchmarks)
            if not eval_done(exp, name, b)]


def _check_kept(exp: Experiment, order: list[str], benchmarks: list[str]) -> None:
    """Before anything is written: a changed setting is an error."""
    for name in order:
        run = exp.runs[name]
        for b in run_benchmarks(exp, run, benchmarks):
            if eval_done(exp, name, b):
                _check_eval_identity(exp, run, b)
        if run.kind == "trained":
            _check_training_identity(exp, run, exp.kept(name) / "config.yaml")


def _work_on(exp: Experiment, name: str, todo: list[str], stop_after, prefix: str) -> bool:
    """Train what ``name`` needs (its own training or its source's), then evaluate it on
    ``todo``; False when a training stopped early."""
    run = exp.runs[name]
    if run.kind == "trained":
        trainer = exp.runs[run.trainer]
        ensure_pairs(exp, trainer.pairs)
        if not _train_run(exp, trainer, stop_after, prefix):
            return False
        keep_training(exp, name, trainer.name)
        # the training is complete: its resume checkpoint (~0.65 GB for e5-small) goes
        shutil.rmtree(exp.work_dir(trainer.name) / "checkpoints", ignore_errors=True)
    for benchmark in todo:
        _eval_run(exp, run, benchmark, prefix)
    return True


def _dry_run(exp: Experiment, order: list[str], benchmarks: list[str]) -> None:
    for i, name in enumerate(order, 1):
        run = exp.runs[name]
        done = [b for b in run_benchmarks(exp, run, benchmarks) if eval_done(exp, name, b)]
        state = training_state(exp, run.trainer) if run.kind == "trained" else "-"
        _say(f"[{i}/{len(order)}] {name}: evaluated on {', '.join(done) or 'nothing'}; "
             f"training: {state}" + (f" (of {run.source})" if run.source else ""))


def run_experiment(path: str | Path, only: list[str] | None = None,
                   stop_after: int | None = None, report: bool = True,
                   dry_run: bool = False) -> Path:
    """Run what is missing of the experiment at ``path``; returns its results folder.

    ``only``: run names to work on (default all); ``stop_after``: stop every training run
    started or resumed now at that step (checkpointed, resumed by the next call);
    ``report``: rebuild REPORT.md at the end; ``dry_run``: print the plan and states only.
    """
    exp = load_experiment(path)
    order = _select(exp, only)
    benchmarks, reported, missing = resolve_benchmarks(exp)
    _announce(exp, benchmarks, reported, missing)
    if dry_run:
        _dry_run(exp, order, benchmarks)
        return exp.results
    _check_kept(exp, order, benchmarks)
    exp.results.mkdir(parents=True, exist_ok=True)
    _copy_config(exp)
    write_manifest(exp, manifest(exp, reported, missing))
    pending = [n for n in order if _todo(exp, n, benchmarks)]
    if any(exp.runs[n].kind == "trained" for n in pending) or not all(
            (exp.results / "leakage" / f"{b}.json").is_file() for b in benchmarks):
        ensure_leakage_checks(exp, benchmarks)
    started = time.perf_counter()
    for i, name in enumerate(order, 1):
        prefix = f"[{i}/{len(order)}]"
        todo = _todo(exp, name, benchmarks)
        if not todo:
            _say(f"{prefix} {name}: done (skipped)")
            continue
        _work_on(exp, name, todo, stop_after, prefix)
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
    "training_identity",
]
