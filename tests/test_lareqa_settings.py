"""The Mo / Cr / Mul settings on a hand-made benchmark: which queries each pair scores, the
own-language share, and rank distance in the pool."""

from __future__ import annotations

import numpy as np
import pytest

from babelir.data.lareqa import RetrievalBenchmark
from babelir.evaluation.lareqa import ScoreMatrices, evaluate, own_language_share


def _bench() -> RetrievalBenchmark:
    # candidates: en 0-2, de 3-5; question q1 exists in en and de, q2 only in en
    return RetrievalBenchmark(
        name="toy", languages=("de", "en"),
        cand_ids=[f"c{i}" for i in range(6)], cand_lang=np.array([1, 1, 1, 0, 0, 0]),
        cand_sentences=["s"] * 6, cand_contexts=["c"] * 6,
        query_ids=["en/q1", "en/q2", "de/q1"], query_xids=["q1", "q2", "q1"],
        query_lang=np.array([1, 1, 0]), query_texts=["a", "b", "c"],
        gold=np.array([[3, 0], [-1, 1], [3, 0]]), files={})


def test_cross_pairs_score_only_queries_with_a_parallel_answer():
    scores = np.array([
        [0.9, 0.1, 0.2, 0.3, 0.8, 0.0],  # en/q1: en gold rank 1, de gold rank 2 of de
        [0.1, 0.5, 0.9, 0.0, 0.0, 0.0],  # en/q2: en gold rank 2; no de version
        [0.7, 0.0, 0.0, 0.6, 0.1, 0.2],  # de/q1: de gold rank 1 of de, en gold rank 1 of en
    ])
    res = evaluate(_bench(), ScoreMatrices(scores, scores))
    assert res.pairs[("en", "de")]["n_queries"] == 1  # q2 has no German answer
    assert res.pairs[("en", "de")]["map"] == pytest.approx(0.5)
    assert res.pairs[("en", "en")]["map"] == pytest.approx((1 + 0.5) / 2)
    assert res.pairs[("de", "en")]["map"] == pytest.approx(1.0)
    # pooled: en/q1 relevant = {0 (rank 1), 3 (rank 3)}: AP = (1 + 2/3) / 2, RD = 2
    assert res.per_query_multi["map"][0] == pytest.approx((1 + 2 / 3) / 2)
    assert res.per_query_multi["rank_distance"][0] == 2
    assert res.per_query_multi["rank_distance"][1] == 0  # a single relevant candidate
    macro = res.macro()
    assert macro["cross.map"] == pytest.approx((0.5 + 1.0) / 2)


def test_own_language_share_counts_the_query_language_in_the_top_k():
    scores = np.array([[0.9, 0.8, 0.1, 0.7, 0.0, 0.0],   # en query: top 3 = en, en, de
                       [0.0, 0.0, 0.0, 0.9, 0.8, 0.7],   # en query: top 3 all de
                       [0.0, 0.0, 0.0, 0.9, 0.8, 0.7]])  # de query: top 3 all de
    np.testing.assert_allclose(own_language_share(_bench(), scores, 3), [2 / 3, 0.0, 1.0])


def test_a_monolingual_pool_has_mo_and_mul_but_no_cr():
    # tydi-val's shape: every question exists in its own language only
    bench = RetrievalBenchmark(
        name="mono", languages=("de", "en"),
        cand_ids=[f"c{i}" for i in range(4)], cand_lang=np.array([0, 0, 1, 1]),
        cand_sentences=["s"] * 4, cand_contexts=["c"] * 4,
        query_ids=["de/a", "en/b"], query_xids=["de/a", "en/b"],
        query_lang=np.array([0, 1]), query_texts=["a", "b"],
        gold=np.array([[1, -1], [-1, 2]]), files={})
    scores = np.array([[0.9, 0.8, 0.0, 0.0],    # de/a: gold 1 is rank 2 in de, rank 2 pooled
                       [0.0, 0.0, 0.5, 0.9]])   # en/b: gold 2 rank 2 in en; pooled: 3 > 2 > rest
    macro = evaluate(bench, ScoreMatrices(scores, scores)).macro()
    assert macro["mono.map"] == pytest.approx(0.5)
    assert macro["multi.map"] == pytest.approx(0.5)
    assert np.isnan(macro["cross.map"]) and np.isnan(macro["cross.recall@1"])
    assert {k for k in macro if k.startswith("cross.")} == \
        {k.replace("mono.", "cross.") for k in macro if k.startswith("mono.")}
