"""Retrieval metrics computed from the ranks of each query's relevant candidates.

Input everywhere: ``ranks`` of shape (n_queries, m), the 1-based ranks of the relevant
candidates of each query (``inf`` pads queries with fewer than m relevant ones), as given by
``ranks.pessimistic_ranks``. Output: one value per query (``nan`` for a query with no
relevant candidate, which callers leave out of means). Notation: R_q the relevant set,
r_(1) ≤ r_(2) ≤ … its sorted ranks.
"""

from __future__ import annotations

import numpy as np


def _sorted(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranks = np.sort(np.asarray(ranks, dtype=np.float64), axis=1)
    n_rel = np.isfinite(ranks).sum(axis=1)
    return ranks, n_rel


def _no_relevant_to_nan(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    values[n_rel == 0] = np.nan
    return values


def average_precision(ranks: np.ndarray) -> np.ndarray:
    """Full-ranking AP (LAReQA): AP(q) = (1/|R_q|) · Σ_{i=1..|R_q|} i / r_(i).

    Equal to (1/|R_q|) Σ_k P@k · rel(k) over the complete ranking, no cutoff.
    """
    ranks, n_rel = _sorted(ranks)
    hits = np.arange(1, ranks.shape[1] + 1)[None, :]
    terms = np.where(np.isfinite(ranks), hits / ranks, 0.0)
    return _no_relevant_to_nan(terms.sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def average_precision_at_k(ranks: np.ndarray, k: int = 20) -> np.ndarray:
    """AP@k (XTREME-R): AP@k(q) = Σ_{i : r_(i) ≤ k} i / r_(i)  /  min(|R_q|, k)."""
    ranks, n_rel = _sorted(ranks)
    hits = np.arange(1, ranks.shape[1] + 1)[None, :]
    terms = np.where(ranks <= k, hits / ranks, 0.0)
    return _no_relevant_to_nan(terms.sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1), n_rel)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Recall@k(q) = |{p ∈ R_q : rank(p) ≤ k}| / |R_q| (the fraction of relevant found)."""
    ranks, n_rel = _sorted(ranks)
    return _no_relevant_to_nan((ranks <= k).sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def reciprocal_rank_at_k(ranks: np.ndarray, k: int = 10) -> np.ndarray:
    """RR@k(q) = 1 / r_(1) if r_(1) ≤ k else 0 (MRR@k is its mean over queries)."""
    ranks, n_rel = _sorted(ranks)
    first = ranks[:, 0]
    return _no_relevant_to_nan(np.where(first <= k, 1.0 / first, 0.0), n_rel)


def ndcg_at_k(ranks: np.ndarray, k: int = 10) -> np.ndarray:
    """nDCG@k(q) with binary gains: Σ_{p∈R_q, rank(p)≤k} 1/log2(rank(p)+1)
    divided by the ideal Σ_{i=1..min(|R_q|,k)} 1/log2(i+1)."""
    ranks, n_rel = _sorted(ranks)
    dcg = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0).sum(axis=1)
    ideal_terms = 1.0 / np.log2(np.arange(1, k + 1) + 1.0)
    ideal = np.cumsum(ideal_terms)[np.clip(np.minimum(n_rel, k) - 1, 0, None)]
    return _no_relevant_to_nan(dcg / ideal, n_rel)


def rank_distance(ranks: np.ndarray) -> np.ndarray:
    """Language bias (Huang et al., 2023): RD(q) = max_{p∈R_q} rank(p) − min_{p∈R_q} rank(p).

    Lower is better (all translations of the answer sit close together). 0 for |R_q| = 1.
    """
    ranks, n_rel = _sorted(ranks)
    last = np.take_along_axis(ranks, np.clip(n_rel - 1, 0, None)[:, None], axis=1)[:, 0]
    first = np.where(n_rel > 0, ranks[:, 0], 0.0)  # inf - inf would warn on empty rows
    return _no_relevant_to_nan(np.where(n_rel > 0, last, 0.0) - first, n_rel)


def rank_metrics(ranks: np.ndarray, ap_k: int = 20) -> dict[str, np.ndarray]:
    """Every per-query metric babelir reports, by name."""
    return {
        "map": average_precision(ranks),
        f"map@{ap_k}": average_precision_at_k(ranks, ap_k),
        "recall@1": recall_at_k(ranks, 1),
        "recall@10": recall_at_k(ranks, 10),
        "recall@100": recall_at_k(ranks, 100),
        "mrr@10": reciprocal_rank_at_k(ranks, 10),
        "ndcg@10": ndcg_at_k(ranks, 10),
    }
