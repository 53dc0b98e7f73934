"""Model cards of babelir's trained models, in the form the Hugging Face ecosystem reads.

The card is sentence-transformers' own (``SentenceTransformerModelCardData`` rendered by its
template, as ``SentenceTransformerTrainer`` writes it): the training pairs, the loss and every
training setting go where that template puts them (training dataset, hyperparameters, the dev
losses as training logs). babelir adds:

* its training record: strategy and α, the seeds (training, and the pairs' dev split), the
  training data (file, SHA-256, sources), the selected checkpoint, the prefixes, the
  leakage check against the benchmark and the commit — as a ``babelir`` metadata block and a
  section of the card;
* the evaluation results of ``babelir eval`` (each ``results.json``) in the Hub's
  ``model-index`` (``huggingface_hub.EvalResult``), with the metric keys of
  ``LAReQAEvaluator`` (``multi_map``, ``cross_recall@10``, …: ``lareqa_metrics``), so a model
  trained by babelir and one trained with the evaluator carry the same names. The evaluation
  tables of the card body come from the same numbers.

``babelir train`` writes the card into ``<run>/final/README.md`` (no results yet);
``babelir experiment`` rewrites it once a trained run is evaluated, and ``babelir publish``
(``training.publish``) before it uploads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap
from collections.abc import Iterable
from pathlib import Path

import yaml

from babelir.io import atomic_path

#: how each benchmark is named on the card (``data.registry`` names are the dataset types)
BENCHMARK_TITLES = {"xquad-r": "XQuAD-R", "mlqa-r": "MLQA-R",
                    "mlqa-val": "MLQA dev split (babelir validation pool)",
                    "xnli-val": "XNLI dev split (babelir validation pool)",
                    "tydi-val": "TyDi QA GoldP train answer sentences (babelir validation pool)"}
#: the Hub model the bundled default is a 4-bit copy of (``models.registry``)
BUNDLED_UPSTREAM = {"multilingual-e5-small": "intfloat/multilingual-e5-small"}
#: settings of the run folder that say where things were, not how the model was trained
MACHINE_SPECIFIC = ("out", "data_dir", "cache_dir", "device", "stop_after", "log_batches")


# ------------------------------------------------------------------------------ the run record


def find_results(run_dir: Path) -> list[Path]:
    """The ``results.json`` of the evaluations kept beside a run: ``eval-<benchmark>/``
    (``babelir experiment``'s work folder) and ``eval/<benchmark>/`` (its kept results)."""
    return sorted([*run_dir.glob("eval-*/results.json"), *run_dir.glob("eval/*/results.json")])


def _json_or_none(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_run(run_dir: str | Path, results: Iterable[str | Path] = ()) -> dict:
    """What a card says about a run, from its folder: config.yaml, run.json, history.json,
    leakage.json, data_summary.json, the pairs' summary (``<stem>.summary.json`` beside the
    pairs file, if it is there) and the evaluations (``results``, else ``find_results``) of
    LAReQA-format benchmarks (the ones with Mo / Cr / Mul numbers)."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    pairs = Path(config.get("pairs") or "")
    paths = [Path(p) for p in results] or find_results(run_dir)
    evaluations = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    return {
        "name": Path(config.get("out") or run_dir).name, "config": config,
        "run": _json_or_none(run_dir / "run.json") or {},
        "history": _json_or_none(run_dir / "history.json") or {},
        "leakage": _json_or_none(run_dir / "leakage.json"),
        "data": _json_or_none(run_dir / "data_summary.json") or {},
        "pairs_summary": _json_or_none(pairs.with_name(f"{pairs.stem}.summary.json")),
        "evaluations": [e for e in evaluations if _lareqa_format(e)],
    }


def _lareqa_format(results: dict) -> bool:
    """Whether a results.json is of a LAReQA-format benchmark (Mo / Cr / Mul; not MIRACL)."""
    from babelir.data.registry import benchmark_names

    return (results.get("summary") or {}).get("benchmark") in benchmark_names()


def selected_checkpoint(run: dict, use_best: bool | None = None) -> tuple[int, str]:
    """(step, how it was chosen) of the run's final model: the best checkpoint (lowest dev
    loss, or best validation metric with ``select_on``) when ``use_best`` — by default when
    ``select_best`` and a best step exists, as ``training.run.finish_run`` chooses — else the
    last step."""
    config, best = run["config"], run["history"].get("best_step")
    if use_best is None:
        use_best = config.get("select_best", True) and best is not None
    if not use_best:
        return int(config["steps"]), "last step"
    select_on = config.get("select_on") or "dev_loss"
    return int(best), ("lowest dev loss" if select_on == "dev_loss"
                       else f"best {select_on} (validation pool)")


def _leakage(report: dict | None) -> dict | None:
    if report is None:
        return None
    checks = {name: {"matched": check.get("matched"), "total": check.get("total")}
              for name, check in (report.get("checks") or {}).items() if check.get("checked")}
    return {"benchmark": report.get("benchmark"), "verdict": report.get("verdict"),
            "clean": report.get("clean"), "checks": checks}


def babelir_record(run: dict, use_best: bool | None = None,
                   prefixes: tuple[str, str] | None = None) -> dict:
    """The ``babelir`` metadata block: how the model was trained and checked."""
    config, pairs_summary = run["config"], run["pairs_summary"] or {}
    step, how = selected_checkpoint(run, use_best)
    record = {
        "strategy": config.get("strategy"),
        "alpha": config.get("alpha") if config.get("strategy") == "hybrid" else None,
        "seeds": {"training": config.get("seed"), "pairs_split": pairs_summary.get("seed")},
        "training_data": {"pairs": Path(config.get("pairs") or "").name,
                          "sha256": run["run"].get("pairs_sha256"),
                          "sources": pairs_summary.get("sources"),
                          "examples": run["data"].get("train_examples")},
        "base_model": model_name(config.get("model")),
        "selected_step": step, "selection": how,
        "prefixes": dict(zip(("query", "passage"), prefixes)) if prefixes else None,
        "leakage_check": _leakage(run["leakage"]),
        "commit": run["run"].get("commit"),
    }
    return {key: value for key, value in record.items() if value is not None}


# ------------------------------------------------------------------------------ card data


def training_languages(run: dict) -> list[str]:
    """The languages of the training pairs (question and passage sides)."""
    rows = run["data"].get("available_pairs") or []
    found = {row[side] for row in rows for side in ("q_lang", "p_lang")}
    return sorted(found or set(run["config"].get("languages") or []))


def infonce_loss(model, config: dict):
    """The InfoNCE module the run trained with (``training.run.build_loss`` without the
    optional distillation terms, which the hyperparameters list): its name, settings and
    citation go on the card."""
    from sentence_transformers.sentence_transformer import losses

    scale = 1.0 / float(config.get("temperature", 0.05))
    if config.get("cached_loss"):
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=scale, mini_batch_size=int(config.get("mini_batch_size", 16)))
    return losses.MultipleNegativesRankingLoss(model, scale=scale)


def _train_dataset(run: dict, loss) -> dict:
    from sentence_transformers.util import fullname

    config = run["config"]
    settings = json.dumps(loss.get_config_dict(), indent=4, default=str)
    columns = ["question", "passage"] + (["negative"] if config.get("hard_negatives") else [])
    return {"name": Path(config.get("pairs") or "training pairs").name,
            "size": run["data"].get("train_examples"), "columns": columns,
            "loss": {"fullname": fullname(loss),
                     "config_code": textwrap.indent(f"```json\n{settings}\n```", "  ")}}


def model_name(model: str | None) -> str | None:
    """A base model as the card names it: a local folder by its name (the path is this
    machine's), a Hub id or babelir's bundled name as given."""
    return Path(model).name if model and Path(model).exists() else model


def hub_base_model(model: str | None) -> str | None:
    """The Hub id of the model a run started from (the bundled default: the model it is a
    4-bit copy of), or None for a local folder."""
    model = BUNDLED_UPSTREAM.get(model, model)
    if (not model or Path(model).exists() or model.count("/") != 1
            or model.startswith((".", "/", "~"))):
        return None
    return model


def _hyperparameters(config: dict) -> tuple[dict, dict]:
    """(every training setting, those that differ from ``TrainConfig``'s defaults)."""
    from babelir.training.config import FIELDS

    defaults = {name: f.default for name, f in FIELDS.items()
                if f.default is not dataclasses.MISSING}
    settings = {k: v for k, v in config.items() if k not in MACHINE_SPECIFIC}
    settings["pairs"] = Path(settings.get("pairs") or "").name
    settings["model"] = model_name(settings.get("model"))
    changed = {k: v for k, v in settings.items() if k in defaults and defaults[k] != v}
    return settings, changed


def _evaluator(results: dict):
    """A ``LAReQAEvaluator`` with the settings of one ``babelir eval`` (nothing is loaded):
    the key its numbers are filed under in the card data."""
    from babelir.evaluation.st_evaluator import LAReQAEvaluator

    summary, config = results["summary"], results.get("config") or {}
    return LAReQAEvaluator(summary["benchmark"], languages=config.get("languages"),
                           max_articles=config.get("max_articles"),
                           candidate_mode=summary.get("candidate_mode", "sentence"),
                           max_length=summary.get("max_length"), ap_k=summary.get("ap_k", 20))


def eval_results(evaluations: list[dict]) -> list:
    """The Hub's ``model-index`` entries (``huggingface_hub.EvalResult``) of babelir
    evaluations: one per metric of each ``results.json``, keyed as ``LAReQAEvaluator`` keys
    them; a language or article subset is the entry's dataset config."""
    from huggingface_hub import EvalResult

    from babelir.evaluation.st_evaluator import lareqa_metrics

    out = []
    for results in evaluations:
        summary, config = results["summary"], results.get("config") or {}
        benchmark = summary["benchmark"]
        subset = [",".join(config["languages"])] if config.get("languages") else []
        if config.get("max_articles"):
            subset.append(f"first {config['max_articles']} articles")
        for key, value in lareqa_metrics(summary).items():
            if math.isnan(value):  # NaN: a setting the pool does not define (tydi-val's Cr)
                continue
            out.append(EvalResult(
                task_type="information-retrieval", task_name="Information Retrieval",
                dataset_type=benchmark, dataset_name=BENCHMARK_TITLES.get(benchmark, benchmark),
                dataset_config="; ".join(subset) or None,
                dataset_split="validation" if benchmark.endswith("-val") else "test",
                metric_type=key, metric_name=key, metric_value=value))
    return out


def fill_card_data(model, run: dict, use_best: bool | None = None,
                   model_id: str | None = None, license: str | None = None) -> None:
    """Fill ``model.model_card_data`` (sentence-transformers' card data) from a run record."""
    from babelir.evaluation.st_evaluator import lareqa_metrics, model_prefixes

    data = model.model_card_data
    data.local_files_only = True  # no Hub look-ups while the card is written
    data.model_name, data.model_id, data.license = run["name"], model_id, license
    data.language = training_languages(run)
    data.add_tags(["babelir", "multilingual", "cross-lingual-retrieval"])
    config = run["config"]
    data.base_model = hub_base_model(config.get("model"))
    loss = infonce_loss(model, config)
    data.set_losses([loss])
    data.train_datasets = [_train_dataset(run, loss)]
    data.all_hyperparameters, data.non_default_hyperparameters = _hyperparameters(config)
    step = selected_checkpoint(run, use_best)[0]
    data.training_logs = []
    for results in run["evaluations"]:  # adds the primary metric to the log of ``step``
        evaluator = _evaluator(results)
        metrics = evaluator.prefix_name_to_metrics(lareqa_metrics(results["summary"]),
                                                   evaluator.name)
        data.set_evaluation_metrics(evaluator, metrics, epoch=0, step=step)
    logs = {row["Step"]: row for row in data.training_logs}
    for entry in run["history"].get("dev") or []:
        logs.setdefault(entry["step"], {"Epoch": 0, "Step": entry["step"]})
        logs[entry["step"]]["Validation Loss"] = entry["dev_loss"]
    data.training_logs = [logs[s] for s in sorted(logs)]
    data.set_best_model_step(step)
    data.babelir = babelir_record(run, use_best, model_prefixes(model))


# ------------------------------------------------------------------------------ the card


def _record_section(record: dict) -> str:
    """The card's "babelir training record" section (the metadata block, for people)."""
    data, leak = record.get("training_data", {}), record.get("leakage_check")
    alpha = f", α = {record['alpha']}" if "alpha" in record else ""
    rows = [("batch strategy", f"{record.get('strategy')}{alpha}"),
            ("training pairs", f"`{data.get('pairs')}` ("
                               + (f"sources {', '.join(data['sources'])}; "
                                  if data.get("sources") else "")
                               + f"SHA-256 `{data.get('sha256')}`)"),
            ("seeds", ", ".join(f"{k} {v}" for k, v in record["seeds"].items() if v is not None)),
            ("selected checkpoint", f"step {record['selected_step']} ({record['selection']})"),
            ("prefixes", ", ".join(f"{k} `{v}`"
                                   for k, v in (record.get("prefixes") or {}).items())),
            ("commit", f"`{record.get('commit')}`")]
    if leak:
        found = ", ".join(f"{name} {c['matched']}/{c['total']}"
                          for name, c in leak["checks"].items())
        rows.insert(3, (f"leakage check vs {leak['benchmark']}", f"{leak['verdict']} ({found})"))
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return ("## babelir training record\n\nTrained with babelir's language-aware batch "
            "sampling (InfoNCE over in-batch negatives).\n\n| | |\n|---|---|\n"
            f"{table}\n\nEvaluate with `babelir eval --model <this folder> --benchmark "
            "xquad-r`, or during training with `babelir.evaluation.LAReQAEvaluator`.\n\n")


def build_card(model, run: dict, use_best: bool | None = None,
               model_id: str | None = None, license: str | None = None):
    """The ``huggingface_hub.ModelCard`` of a loaded model and its run record."""
    from huggingface_hub import ModelCard
    from sentence_transformers.base.model_card import generate_model_card

    fill_card_data(model, run, use_best, model_id, license)
    record = model.model_card_data.babelir
    content = generate_model_card(model)
    marker = "## Training Details"
    section = _record_section(record)
    content = content.replace(marker, section + marker, 1) if marker in content \
        else content + "\n" + section
    card = ModelCard(content)
    card.data.eval_results = eval_results(run["evaluations"]) or None
    card.data.model_name = run["name"]
    card.data.babelir = record
    return card


def write_model_card(model_dir: str | Path, run_dir: str | Path,
                     use_best: bool | None = None,
                     results: Iterable[str | Path] = (), model_id: str | None = None,
                     license: str | None = None) -> Path:
    """Write ``README.md`` of a trained model folder from its run folder (and the given or
    found evaluation results); returns its path. The model is loaded on the CPU to render
    sentence-transformers' card (architecture, usage, dimensions)."""
    from sentence_transformers import SentenceTransformer

    model_dir = Path(model_dir)
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    card = build_card(model, read_run(run_dir, results), use_best, model_id, license)
    path = model_dir / "README.md"
    with atomic_path(path) as tmp:
        card.save(tmp)
    return path
