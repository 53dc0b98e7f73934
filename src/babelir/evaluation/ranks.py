"""Ranks of relevant candidates in a score matrix, with pessimistic tie-breaking.

Tie rule (ties never help a system): a relevant candidate whose score equals that of other
candidates is placed *after* every tied non-relevant candidate; several relevant candidates
tied with each other take consecutive ranks (in the order they are listed). So, with s the scores of one
query, R its relevant set and p ∈ R,

    rank(p) = |{c ∉ R : s_c ≥ s_p}| + |{r ∈ R : s_r > s_p}| + |{r ∈ R : s_r = s_p, r before p}| + 1.

BM25 gives many exact zeros across languages, where an optimistic or random rule would
reward a system for not matching anything. All metrics in ``metrics`` are computed from these
ranks, never from a sort, so they need O(n_candidates · |R|) work per query.
"""

from __future__ import annotations

import numpy as np
import torch

PAD = -1  # marks "no relevant candidate in this slot" in index arrays


def count_at_least(scores: torch.Tensor, thresholds: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """``out[q, i] = |{c : scores[q, c] ≥ thresholds[q, i]}|`` for (n_q, m) thresholds.

    Each score is placed among its row's m sorted thresholds by binary search, and the
    bucket histogram is summed from the top: O(n_c · log m) per row instead of O(n_c · m).
    """
    ordered, order = torch.sort(thresholds, dim=1)
    n_q, m = thresholds.shape
    out = torch.empty((n_q, m), dtype=torch.int64)
    for start in range(0, n_q, chunk):
        block = scores[start:start + chunk].contiguous()
        n = block.shape[0]
        # bucket[q, c] = number of thresholds ≤ score: score ≥ ordered[i] ⟺ bucket > i
        bucket = torch.searchsorted(ordered[start:start + chunk].contiguous(), block, right=True)
        flat = bucket + (torch.arange(n) * (m + 1)).unsqueeze(1)
        hist = torch.bincount(flat.reshape(-1), minlength=n * (m + 1)).reshape(n, m + 1)
        above = hist.flip(1).cumsum(1).flip(1)[:, 1:]  # above[:, i] = Σ_{j > i} hist[:, j]
        out[start:start + n].scatter_(1, order[start:start + n], above)
    return out


def pessimistic_ranks(scores, relevant: np.ndarray) -> np.ndarray:
    """1-based ranks of ``relevant`` candidates of each query (``inf`` where the slot is PAD).

    scores:   (n_q, n_c) float array or tensor; row q scores query q against every candidate.
    relevant: (n_q, m) int column indices of relevant candidates, PAD-padded.
    """
    scores = torch.as_tensor(scores)
    relevant_t = torch.as_tensor(np.asarray(relevant, dtype=np.int64))
    if relevant_t.ndim != 2 or relevant_t.shape[0] != scores.shape[0]:
        raise ValueError("relevant must be (n_queries, m) and match the score rows")
    valid = relevant_t >= 0
    rel_scores = scores.gather(1, relevant_t.clamp(min=0))  # (n_q, m)
    at_least = count_at_least(scores, rel_scores)
    other = rel_scores.unsqueeze(1)  # (n_q, 1, m): score of relevant j
    mine = rel_scores.unsqueeze(2)  # (n_q, m, 1): score of relevant i
    both = valid.unsqueeze(1)  # only real relevant j count
    rel_at_least = ((other >= mine) & both).sum(dim=2)
    rel_greater = ((other > mine) & both).sum(dim=2)
    m = relevant_t.shape[1]
    before = torch.ones((m, m), dtype=torch.bool).tril(diagonal=-1)  # j < i
    rel_tied_before = ((other == mine) & both & before.unsqueeze(0)).sum(dim=2)
    ranks = (at_least - rel_at_least) + rel_greater + rel_tied_before + 1
    ranks = ranks.to(torch.float64).numpy()
    ranks[~valid.numpy()] = np.inf
    return ranks
