"""The Retriever and Benchmark interfaces: a toy benchmark and a toy retriever, each defined
here, registered and evaluated through `babelir eval`, checked against hand-computed numbers;
options that the chosen benchmark and retriever do not read are refused (exit code 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from babelir.cli import main
from babelir.errors import BabelirError
from babelir.eval_job import EvalConfig, run_eval
from babelir.evaluation.benchmark import Benchmark, Evaluation
from babelir.evaluation.lareqa import ScoreMatrices
from babelir.evaluation.registry import register_benchmark, unregister_benchmark
from babelir.io import atomic_dir, write_json
from babelir.retrieval.base import CandidateIndex, Retriever, TextSet
from babelir.retrieval.registry import (make_retriever, register_retriever, retriever_class,
                                        unregister_retriever)

DOCS = ["apple", "banana", "cherry"]
QUERIES = ["ppl", "nab", "hay", "pear"]
GOLD = [0, 1, 2, 2]


class LetterIndex(CandidateIndex):
    """score(q, d) = how many of q's characters (with repeats) occur in d."""

    def __init__(self, candidates: TextSet):
        self.candidates = candidates

    def score(self, queries: TextSet) -> ScoreMatrices:
        scores = np.array([[sum(ch in d for ch in q) for d in self.candidates.texts]
                           for q in queries.texts], dtype=np.float32)
        return ScoreMatrices(scores, scores)


class LetterRetriever(Retriever):
    name = "letters"
    takes_model = False
    options = frozenset({"bm25_tokenizer"})  # any option, to check it is accepted

    @classmethod
    def create(cls, model, settings):
        retriever = cls()
        retriever.settings = dict(settings)
        return retriever

    def index(self, candidates: TextSet) -> CandidateIndex:
        return LetterIndex(candidates)


class SearchOnlyRetriever(LetterRetriever):
    name = "search-only"
    scores_all = False


class FruitBenchmark(Benchmark):
    """Four queries, three documents, one relevant each: MRR and recall@k (k: ``ap_k``)."""

    options = frozenset({"ap_k"})

    def load(self, config):
        return QUERIES, DOCS, GOLD

    def evaluate(self, data, retriever, config, timer):
        queries, docs, gold = data
        scores = retriever.index(TextSet(docs)).score(TextSet(queries, kind="query"))
        pooled = scores.block(0, scores.n_queries)[0]
        ranks = np.array([1 + np.sum(row > row[g]) for row, g in zip(pooled, gold)])
        summary = {"mrr": float(np.mean(1 / ranks)),
                   f"recall@{config.ap_k}": float(np.mean(ranks <= config.ap_k)),
                   "retriever": retriever.name}
        return Evaluation({"summary": summary, "ranks": ranks.tolist()})

    def write(self, out, data, evaluation):
        with atomic_dir(out) as tmp:
            write_json(tmp / "summary.json", evaluation.results["summary"])

    def report(self, results):
        return f"MRR {results['summary']['mrr']:.3f}"


@pytest.fixture()
def toys():
    register_retriever(LetterRetriever)
    register_retriever(SearchOnlyRetriever)
    register_benchmark("fruit", FruitBenchmark, help="a toy")
    yield
    unregister_benchmark("fruit")
    unregister_retriever("letters")
    unregister_retriever("search-only")


def test_toy_benchmark_and_retriever_through_the_cli(toys, tmp_path, capsys):
    out = tmp_path / "fruit"
    assert main(["eval", "--model", "letters", "--benchmark", "fruit", "--out", str(out),
                 "--ap-k", "1", "--bm25-tokenizer", "regex"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # by hand: ppl -> apple 3 (rank 1); nab -> banana 3 (rank 1); hay -> cherry 2 over
    # apple 1 and banana 1 (rank 1); pear -> apple 3, cherry 2 (rank 2)
    assert summary == {"mrr": pytest.approx((1 + 1 + 1 + 1 / 2) / 4),
                       "recall@1": pytest.approx(3 / 4), "retriever": "letters"}
    assert "MRR 0.875" in capsys.readouterr().out


def test_options_the_pair_does_not_read_are_refused(toys, tmp_path, capsys):
    out = tmp_path / "never"
    for extra in (["--max-length", "64"], ["--languages", "en"], ["--corpus", "x"],
                  ["--no-embedding-cache"], ["--index", "hnsw"]):
        capsys.readouterr()
        assert main(["eval", "--model", "letters", "--benchmark", "fruit", "--out", str(out),
                     *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"babelir: error: {extra[0]}") and "Traceback" not in err
        assert "--ap-k" in err and "--bm25-tokenizer" in err  # what the pair does read
    assert not out.exists()


def test_real_pairs_refuse_what_they_would_ignore(tmp_path, capsys):
    out = tmp_path / "never"
    for argv in (["--model", "bm25", "--max-length", "64"],            # bm25 has no model
                 ["--model", "bm25", "--precision", "int8"],
                 ["--index", "hnsw"],                                   # xquad-r ranks all
                 ["--model", "bm25", "--benchmark", "miracl:sw", "--corpus", "c",
                  "--candidate-mode", "context"],                       # not a MIRACL setting
                 ["--model", "bm25", "--benchmark", "miracl:sw", "--corpus", "c",
                  "--index", "hnsw"],                                   # bm25 builds no faiss
                 ["--model", "bm25", "--benchmark", "mlqa-val", "--online"]):  # data folder
        assert main(["eval", *argv, "--out", str(out)]) == 2, argv
        assert "not read by benchmark" in capsys.readouterr().err
    assert not out.exists()


def test_a_benchmark_refuses_a_retriever_it_cannot_use(toys, tmp_path):
    with pytest.raises(BabelirError, match="scores every candidate"):
        run_eval(EvalConfig(model="search-only", benchmark="fruit", out=str(tmp_path / "o")))
    with pytest.raises(BabelirError, match="unknown benchmark"):
        run_eval(EvalConfig(model="bm25", benchmark="nope", out=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()


def test_registry_picks_by_name_then_by_the_benchmarks_model_retriever(toys):
    from babelir.retrieval.bm25 import Bm25Retriever
    from babelir.retrieval.dense import DenseRetriever
    from babelir.retrieval.faiss_retriever import FaissRetriever

    assert retriever_class("bm25") is Bm25Retriever
    assert retriever_class("bm25", "faiss") is Bm25Retriever
    assert retriever_class("some/model") is DenseRetriever
    assert retriever_class("some/model", "faiss") is FaissRetriever
    made = make_retriever("letters", {"ap_k": 3})
    assert isinstance(made, LetterRetriever) and made.settings == {"ap_k": 3}
    assert make_retriever(made) is made


def test_bm25_retriever_scores_as_the_benchmark_scorer():
    from babelir.retrieval.bm25 import BenchmarkBm25Scorer, Bm25Retriever

    docs, langs = ["the cat sat", "a dog ran", "le chat", "un chien", "the dog"], \
        ["en", "en", "fr", "fr", "en"]
    queries = ["cat", "chien dog", "nothing"]
    names = ("en", "fr")
    candidates = TextSet(docs, np.array([names.index(x) for x in langs]), names)
    got = Bm25Retriever("unicode-words").index(candidates).score(TextSet(queries, kind="query"))
    want = BenchmarkBm25Scorer(queries, docs, langs, tokenizer="unicode-words")
    for a, b in zip(got.block(0, 3), want.block(0, 3)):
        np.testing.assert_array_equal(a, b)
    # searched: the pooled top 2 of each query ("the dog" is shorter than "a dog ran"); the
    # query without a match scores 0 everywhere
    scores, ids = Bm25Retriever("unicode-words").index(TextSet(docs)).search(
        TextSet(queries, kind="query"), 2)
    assert ids[0, 0] == 0 and ids[1].tolist() == [3, 4] and scores[2].max() == 0
