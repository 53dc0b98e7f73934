"""Rendering of REPORT.md's "Validation: how the recipe was chosen" section, present when the
manifest lists validation pools (``validation: [mlqa-val, xnli-val]``): what was chosen on
them, one row per system with its validation numbers (kept grid/<run>/eval/<pool>/ files
only, through the loaded experiment's tidy table), each system's difference from the untuned
model on Mo, the validation score and the best row; the Pareto figures' links. Pure
functions of the loaded experiment and the figure links."""

from __future__ import annotations

import json
import math

from babelir.report.render import (NOT_COMPARED, bench_name, departures, fmt, full_settings,
                                   lever_parts, pm, setting, signed, usual_settings)
from babelir.report.runs_table import Experiment, is_missing
from babelir.report.statistics import mean_std
from babelir.report.tables import markdown_table

TITLE = "Validation: how the recipe was chosen"
ANCHOR = "#validation-how-the-recipe-was-chosen"
#: pools whose Mo setting is an identity search (the query's own text is its gold
#: candidate: mAP 1 for every model), left out of the table and the score
IDENTITY_MONO = frozenset({"xnli-val"})
#: pools whose questions are not parallel (gold in the query's language only): Mo alone
#: is read; Cr is undefined and Mul does not penalise a bias toward the query's language
MONO_ONLY = frozenset({"tydi-val"})
SETTINGS = (("mono.map", "Mo"), ("cross.map", "Cr"), ("multi.map", "Mul"),
            ("multi.rank_distance", "RD"))
#: training-config values chosen on validation (grid/<run>/config.yaml), with their names
CHOICES = (("select_on", "checkpoint selection `select_on`"),
           ("learning_rate", "learning rate"), ("steps", "steps"),
           ("batch_size", "batch size"), ("cached_loss", "GradCache `cached_loss`"),
           ("freeze_embeddings", "frozen word embeddings `freeze_embeddings`"),
           ("lora_rank", "LoRA rank `lora_rank` (0: every weight trained)"),
           ("distill_weight", "β `distill_weight`"), ("parallel_weight", "γ `parallel_weight`"))
SHORT = {"select_on": "select_on", "learning_rate": "lr", "steps": "steps",
         "batch_size": "batch", "cached_loss": "GradCache", "freeze_embeddings":
         "frozen embeddings", "lora_rank": "LoRA r", "distill_weight": "β",
         "parallel_weight": "γ"}
POOL_TEXT = {
    "mlqa-val": ("the MLQA questions of the training pairs' held-out dev articles (split by "
                 "article: nothing of them is trained on), searched among those articles' "
                 "paragraphs in every language"),
    "xnli-val": ("the XNLI premises of the held-out dev split of `build-pairs` (never the "
                 "XNLI train-split sentences that γ trains on), each searched among its "
                 "translations in every language. **Its Mo setting is left out**: the "
                 "query's own text is its gold candidate, an identity search with mAP 1 for "
                 "every model, so it says nothing"),
    "tydi-val": ("TyDi GoldP train questions in en / ko / sw (a source no training run "
                 "uses), each searched among the **sentences** of 300 paragraphs per "
                 "language for the one sentence holding its answer: the only pool whose "
                 "candidates are sentences, as on XQuAD-R, so the one that shows what "
                 "paragraph-positive fine-tuning costs answer-sentence search. Questions "
                 "that are MIRACL dev topics are left out. The questions are not parallel: "
                 "**only Mo is read**"),
}


def columns(pool: str) -> list[tuple[str, str]]:
    """(key, header) of a pool's columns: Mo (unless an identity search), Cr, Mul mAP, RD;
    Mo alone for a pool without parallel questions."""
    return [(key, f"{pool} {name}") for key, name in SETTINGS
            if not (key == "mono.map" and pool in IDENTITY_MONO)
            and not (key != "mono.map" and pool in MONO_ONLY)]


def score_parts(exp: Experiment) -> list[tuple[str, str]]:
    """(pool, key) of the mAP values the validation score averages."""
    return [(pool, key) for pool in exp.validation for key, _ in columns(pool)
            if key.endswith(".map")]


def untuned(exp: Experiment) -> dict | None:
    """The untuned model: the first zero-shot system without post-processing."""
    return next((s for s in exp.systems if s["kind"] == "zeroshot"
                 and not any(exp.runs[r].info.get("post") for r in s["runs"])), None)


def display_names(exp: Experiment) -> dict[str, str]:
    """System name -> its label, with the name added where two systems share a label."""
    labels = [s["label"] for s in exp.systems]
    return {s["name"]: s["label"] if labels.count(s["label"]) == 1
            else f"{s['label']} [{s['name']}]" for s in exp.systems}


def mean(exp: Experiment, system: dict, pool: str, key: str) -> float:
    """The mean over the system's evaluated runs of one summary value (NaN: none)."""
    return mean_std(exp.summary_values(system, pool, key))[0]


def score(exp: Experiment, system: dict) -> float:
    """The validation score: the mean of ``score_parts`` (NaN when one is missing)."""
    values = [mean(exp, system, pool, key) for pool, key in score_parts(exp)]
    if not values or any(is_missing(v) for v in values):
        return math.nan
    return sum(values) / len(values)


def _config(exp: Experiment, system: dict) -> dict | None:
    return next((exp.runs[r].config for r in system["runs"] if exp.runs[r].config), None)


def varying_choices(exp: Experiment) -> list[str]:
    """The CHOICES keys whose value differs between the fine-tuned systems' configs."""
    configs = [c for c in (_config(exp, s) for s in exp.trained_systems) if c is not None]
    return [k for k, _ in CHOICES if len({json.dumps(setting(c, k)) for c in configs}) > 1]


def _value(value, missing: str = "— (not in config.yaml)") -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:g}"
    return f"`{value}`" if isinstance(value, str) else str(value)


def what(exp: Experiment, system: dict, varying: list[str]) -> str:
    """What the system is: kind, strategy, the varying choices, post-processing, scope."""
    if system["kind"] == "bm25":
        parts = ["BM25 (no training)"]
    elif system["kind"] == "zeroshot":
        parts = [f"`{system['model']}`, not fine-tuned"]
    else:
        parts = [f"fine-tuned, `{system['strategy']}`" + (
            f" α {system['alpha']:g}" if system.get("alpha") is not None else "")]
        config = _config(exp, system)
        parts += [f"{SHORT[k]} {_value(v)}" for k, v in departures(exp, config, varying)] \
            if config else ["not trained yet"]
    parts += lever_parts(exp, system)
    if exp.validation_only(system):
        parts.append("validation only")
    return ", ".join(parts)


def _choices_text(exp: Experiment, varying: list[str]) -> str:
    configs = [c for c in (_config(exp, s) for s in exp.trained_systems) if c is not None]
    if not configs:
        return "No fine-tuned run has a config.yaml yet."
    common = [f"{name} {_value(setting(configs[0], k))}" for k, name in CHOICES
              if k not in varying]
    text = ("Shared by every fine-tuned run (its config.yaml): " + "; ".join(common) + "."
            if common else "")
    if varying:
        usual = usual_settings(exp)
        text += (" " if text else "") + (
            "Compared between systems (column *what* names a system's value where it is not "
            "the one most runs have): " + "; ".join(f"{name} (most runs: "
                                                   f"{_value(usual.get(k))})"
                                                   for k, name in CHOICES if k in varying)
            + ".")
    return text


def _pools_text(exp: Experiment) -> list[str]:
    lines = []
    for pool in exp.validation:
        runs = [r for r in exp.runs.values() if pool in r.evals]
        size = ""
        if runs:
            s = runs[0].evals[pool]["summary"]
            size = (f" ({s['n_queries']:,} queries in {len(exp.languages(pool))} languages, "
                    f"{s['n_candidates']:,} candidates)")
        lines.append(f"- `{pool}`{size}: {POOL_TEXT.get(pool, 'a validation pool')}.")
    return lines


def intro(exp: Experiment) -> list[str]:
    """The section's heading, what is chosen on validation, the pools and the formulas."""
    test = ", ".join(bench_name(b) for b in exp.benchmarks) or "the test benchmark"
    parts = " + ".join(dict(columns(pool))[key] for pool, key in score_parts(exp))
    lines = [f"## {TITLE}", "",
             ("Every choice of the recipe is made on the validation pools below, built from "
              "the training side (the held-out dev articles of the training pairs, or a "
              "training source no run trains on), **never on the test "
              f"benchmark ({test})**: the checkpoint kept from each training (`select_on`), "
              "the learning rate and number of steps, the batch size, LoRA or full "
              "fine-tuning, frozen or trained word embeddings, the embedding-distillation "
              "weight β (`distill_weight`), the parallel-sentence weight γ "
              "(`parallel_weight`), the "
              "WiSE-FT weight λ (`merge`: (1 − λ) · untuned + λ · fine-tuned weights) and "
              "per-language mean centring. Every run is evaluated on every pool "
              "(grid/<run>/eval/<pool>/); a system marked *validation only* is never "
              f"evaluated on {test} and appears in none of its tables."), "",
             *_pools_text(exp), "", _choices_text(exp, varying_choices(exp))]
    ref = untuned(exp)
    mo = " and ".join(mo_pools(exp))
    lines += ["", (f"Validation score = mean of {len(score_parts(exp))} mAP values, equal "
                   f"weights: ({parts}) / {len(score_parts(exp))}; rank distance (RD, lower "
                   "is better) is shown, not scored. Mean ± sample std over seeds.")
              + (f" Mo − untuned: the system's Mo mAP on {mo} minus that of the untuned model "
                 f"({ref['label']}): what fine-tuning cost (−) or gained (+) monolingually."
                 if ref is not None and mo else "")
              + " **Bold**: the best validation score."]
    return lines


def mo_pools(exp: Experiment) -> list[str]:
    """The validation pools whose Mo setting is read (not an identity search)."""
    return [p for p in exp.validation if p not in IDENTITY_MONO]


def _row(exp: Experiment, system: dict, names: dict, varying: list[str], mo_pools,
         ref) -> list[str]:
    seeds = ", ".join(str(x) for x in system["seeds"]) if system["seeds"] else "—"
    row = [names[system["name"]], what(exp, system, varying), seeds]
    for pool in exp.validation:
        row += [pm(exp.summary_values(system, pool, key), 1 if key.endswith("distance")
                   else 3) for key, _ in columns(pool)]
    for pool in mo_pools:
        row.append(signed(mean(exp, system, pool, "mono.map")
                          - mean(exp, ref, pool, "mono.map"), 3))
    return row + [fmt(score(exp, system), 3)]


def table(exp: Experiment) -> list[str]:
    """One row per system; the best validation score in bold."""
    names, varying, ref = display_names(exp), varying_choices(exp), untuned(exp)
    pools = mo_pools(exp) if ref is not None else []
    header = ["system", "what", "seeds"] + [h for pool in exp.validation
                                            for _, h in columns(pool)]
    header += [f"{pool} Mo − untuned" for pool in pools] + ["score"]
    scores = {s["name"]: score(exp, s) for s in exp.systems}
    known = [v for v in scores.values() if not is_missing(v)]
    rows = []
    for s in exp.systems:
        row = _row(exp, s, names, varying, pools, ref)
        if known and scores[s["name"]] == max(known):
            row[0], row[-1] = f"**{row[0]}** (best)", f"**{row[-1]}**"
        rows.append(row)
    return ["", markdown_table(header, rows)]


#: the choice rule's tolerance: a candidate's Mo may be at most this far below the untuned
#: model's on every Mo pool (issue P10's bar: never below the untuned model's Mo − 0.003)
MO_TOLERANCE = 0.003


def choice(exp: Experiment) -> list[str]:
    """The choice rule applied to the ablation (the fine-tuned *validation only* systems):
    the highest validation score among those whose Mo − untuned ≥ −MO_TOLERANCE on every
    Mo pool; empty without an untuned system or a scored candidate."""
    ref, pools = untuned(exp), mo_pools(exp)
    candidates = [s for s in exp.trained_systems if exp.validation_only(s)
                  and not is_missing(score(exp, s))]
    if ref is None or not candidates:
        return []

    def keeps_mo(system: dict) -> bool:
        return all(mean(exp, system, p, "mono.map") - mean(exp, ref, p, "mono.map")
                   >= -MO_TOLERANCE - 1e-12 for p in pools)

    allowed = [s for s in candidates if keeps_mo(s)]
    names = display_names(exp)
    rule = (f"**Choice rule** (fixed before the final runs): among the {len(candidates)} "
            "fine-tuned *validation only* rows, the highest validation score whose Mo is at "
            f"most {MO_TOLERANCE} below the untuned model's on {' and '.join(pools)}. ")
    if not allowed:
        return ["", rule + "No row qualifies: every lever lost more Mo than that."]
    ranked = sorted(allowed, key=lambda s: score(exp, s), reverse=True)
    best = ranked[0]
    runner_up = "" if len(ranked) < 2 else (
        f" Next: {names[ranked[1]['name']]} ({fmt(score(exp, ranked[1]), 4)}; the choice "
        f"wins by {fmt(score(exp, best) - score(exp, ranked[1]), 4)}, one seed each).")
    return ["", rule + f"{len(allowed)} qualify; chosen: **{names[best['name']]}** "
            f"({what(exp, best, varying_choices(exp))}; score {fmt(score(exp, best), 3)})."
            + runner_up + " " + _final_recipe(exp, best, candidates)]


def recipe(exp: Experiment, system: dict) -> str | None:
    """What a system was trained and post-processed with, strategy, alpha and seed aside
    (None: not trained yet): equal for two systems that follow the same recipe."""
    config = _config(exp, system)
    if config is None:
        return None
    settings = {k: v for k, v in full_settings(config).items()
                if k not in NOT_COMPARED | {"pairs"}}
    return json.dumps([settings, exp.run_info(system, "post") or {},
                       exp.run_info(system, "pairs")], sort_keys=True)


def _final_recipe(exp: Experiment, chosen: dict, candidates: list[dict]) -> str:
    """Whether the final systems (fine-tuned, not validation only) follow the chosen row's
    recipe; if not, whose they follow: rows added after the final runs can win the rule."""
    finals = [s for s in exp.trained_systems if not exp.validation_only(s)
              and recipe(exp, s) is not None]
    if not finals or all(recipe(exp, s) == recipe(exp, chosen) for s in finals):
        return "The final systems use its recipe."
    names = display_names(exp)
    followed = [names[c["name"]] for c in candidates if recipe(exp, c) == recipe(exp, finals[0])]
    return ("**The final systems do not use it yet**: they were trained with the recipe of "
            + (f"**{followed[0]}**" if followed else "another row")
            + ", the choice before the rows that now win existed; their numbers are that "
            "recipe's, and the chosen one needs its own final runs.")


def validation(exp: Experiment, link: str | None) -> list[str]:
    """The section (empty without validation pools); ``link``: the first pool's Pareto
    figure."""
    if not exp.validation:
        return []
    lines = intro(exp) + table(exp) + choice(exp)
    if link is not None:
        lines += ["", f"![Mo against Mul mAP on {exp.validation[0]}]({link})", "",
                  (f"Mo against Mul mAP on {exp.validation[0]}, one point per run, labelled "
                   "with its system; star: the untuned model; dashed step line: the Pareto "
                   "front (the runs no other run beats on both).")]
    return lines


def benchmark_pareto(benchmark: str, link: str | None) -> list[str]:
    """The test benchmark's Pareto figure, for reading only."""
    if link is None:
        return []
    return ["", f"![Mo against Mul mAP on {bench_name(benchmark)}]({link})", "",
            (f"Mo against Mul mAP on {bench_name(benchmark)}, one point per run of the systems "
             "evaluated there (star: the untuned model; dashed: the Pareto front). For "
             f"reading only: nothing was chosen on it ([Validation]({ANCHOR})).")]
