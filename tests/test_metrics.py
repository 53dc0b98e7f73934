"""Metrics against an independent oracle (ir_measures / pytrec_eval) and hand-made cases."""

from __future__ import annotations

import ir_measures
import numpy as np
import pytest
from ir_measures import AP, R, RR, nDCG

from babelir.evaluation.metrics import (
    average_precision,
    average_precision_at_k,
    ndcg_at_k,
    rank_distance,
    recall_at_k,
    reciprocal_rank_at_k,
)
from babelir.evaluation.ranks import PAD, pessimistic_ranks


def _random_case(seed: int, n_q: int = 40, n_c: int = 300, max_rel: int = 12):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_q, n_c))  # float64: no accidental ties
    relevant = np.full((n_q, max_rel), PAD)
    for q in range(n_q):
        k = rng.integers(1, max_rel + 1)
        relevant[q, :k] = rng.choice(n_c, size=k, replace=False)
    return scores, relevant


def _oracle(scores, relevant, measures):
    qrels = [ir_measures.Qrel(str(q), str(d), 1) for q in range(len(relevant))
             for d in relevant[q] if d != PAD]
    run = [ir_measures.ScoredDoc(str(q), str(d), float(scores[q, d]))
           for q in range(scores.shape[0]) for d in range(scores.shape[1])]
    out = {m: np.zeros(len(relevant)) for m in measures}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        out[metric.measure][int(metric.query_id)] = metric.value
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_ir_measures_on_random_scores(seed):
    scores, relevant = _random_case(seed)
    assert len(np.unique(scores)) == scores.size  # no ties: the oracle's tie order is moot
    ranks = pessimistic_ranks(scores, relevant)
    oracle = _oracle(scores, relevant, [AP, AP @ 20, R @ 1, R @ 10, RR @ 10, nDCG @ 10])
    np.testing.assert_allclose(average_precision(ranks), oracle[AP], atol=1e-9)
    # |R| <= 12 < 20, where XTREME-R's min(|R|, k) equals trec_eval's |R| denominator
    np.testing.assert_allclose(average_precision_at_k(ranks, 20), oracle[AP @ 20], atol=1e-9)
    np.testing.assert_allclose(recall_at_k(ranks, 1), oracle[R @ 1], atol=1e-9)
    np.testing.assert_allclose(recall_at_k(ranks, 10), oracle[R @ 10], atol=1e-9)
    np.testing.assert_allclose(reciprocal_rank_at_k(ranks, 10), oracle[RR @ 10], atol=1e-9)
    np.testing.assert_allclose(ndcg_at_k(ranks, 10), oracle[nDCG @ 10], atol=1e-9)


@pytest.mark.slow  # scikit-learn's import
def test_full_ap_matches_sklearn_as_in_lareqa_code():
    from sklearn.metrics import average_precision_score

    scores, relevant = _random_case(7, n_q=10)
    ranks = pessimistic_ranks(scores, relevant)
    for q in range(10):
        y = np.zeros(scores.shape[1], dtype=bool)
        y[relevant[q][relevant[q] != PAD]] = True
        assert average_precision(ranks)[q] == pytest.approx(average_precision_score(y, scores[q]))


def test_ties_rank_relevant_after_tied_non_relevant():
    # candidate 0 relevant, tied with 1 and 2 at the top; 3 below
    scores = np.array([[1.0, 1.0, 1.0, 0.5]])
    ranks = pessimistic_ranks(scores, np.array([[0]]))
    assert ranks.tolist() == [[3.0]]
    # all-zero BM25 row: the relevant item goes to the very end
    assert pessimistic_ranks(np.zeros((1, 5)), np.array([[2]])).tolist() == [[5.0]]


def test_tied_relevant_take_consecutive_ranks_after_tied_non_relevant():
    # relevant 1 and 3 tied with non-relevant 0 at 2.0; relevant 4 alone on top
    scores = np.array([[2.0, 2.0, 0.0, 2.0, 3.0]])
    ranks = pessimistic_ranks(scores, np.array([[1, 3, 4]]))
    assert ranks.tolist() == [[3.0, 4.0, 1.0]]
    # AP = (1/3)(1/1 + 2/3 + 3/4)
    assert average_precision(ranks)[0] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_hand_computed_cases():
    ranks = np.array([[2.0, 5.0, np.inf], [1.0, 30.0, 40.0], [np.inf, np.inf, np.inf]])
    np.testing.assert_allclose(average_precision(ranks)[:2],
                               [(1 / 2 + 2 / 5) / 2, (1 + 2 / 30 + 3 / 40) / 3])
    assert np.isnan(average_precision(ranks)[2])
    # AP@k divides by min(|R|, k): with k = 2 and |R| = 3 -> (1/1) / 2
    assert average_precision_at_k(ranks, 2)[1] == pytest.approx(0.5)
    assert average_precision_at_k(ranks, 20)[1] == pytest.approx(1 / 3)
    np.testing.assert_allclose(recall_at_k(ranks, 10)[:2], [1.0, 1 / 3])
    np.testing.assert_allclose(reciprocal_rank_at_k(ranks, 1)[:2], [0.0, 1.0])
    np.testing.assert_allclose(rank_distance(ranks)[:2], [3.0, 39.0])
    assert rank_distance(np.array([[7.0, np.inf]]))[0] == 0.0
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(ranks, 10)[0] == pytest.approx((1 / np.log2(3) + 1 / np.log2(6)) / ideal)


def test_ranks_with_many_ties_match_a_brute_force_sort():
    """Integer scores (ties everywhere): ranks equal positions in an explicit sort by
    (score desc, non-relevant first, order in the relevant list)."""
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(60, 50)).astype(np.float32)
    relevant = np.full((60, 6), PAD)
    for q in range(60):
        k = rng.integers(1, 7)
        relevant[q, :k] = rng.choice(50, size=k, replace=False)
    ranks = pessimistic_ranks(scores, relevant)
    for q in range(60):
        rel = relevant[q][relevant[q] != PAD]
        is_rel = np.isin(np.arange(50), rel)
        slot = np.zeros(50, dtype=int)
        slot[rel] = np.arange(len(rel))
        order = np.lexsort((slot, is_rel, -scores[q]))
        position = np.empty(50, dtype=int)
        position[order] = np.arange(1, 51)
        np.testing.assert_array_equal(ranks[q, :len(rel)], position[rel])
        assert np.isinf(ranks[q, len(rel):]).all()
