"""LAReQA retrieval settings: monolingual (Mo), cross-lingual (Cr) and multilingual (Mul).

With X the query language and Y a candidate language:

* Mo(X)  = the pair (X, X): queries of X searched among the candidates of X only;
* Cr(X)  = mean over Y ≠ X of the pair (X, Y), queries of X searched among candidates of Y
  only; a pair scores only the queries whose question exists in Y (MLQA-R) and reports how
  many it scored;
* Mul(X) = queries of X searched in the pool of every language; all parallel gold
  sentences are relevant. Rank distance and the own-language share of the top 10 live here.

Per-query values are averaged over the queries of a language; the macro value of a setting is
the unweighted mean over query languages (paper §2.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from babelir.data.lareqa import RetrievalBenchmark
from babelir.evaluation.metrics import rank_distance, rank_metrics
from babelir.evaluation.ranks import PAD, pessimistic_ranks
from babelir.retrieval.base import InnerProductBlocks  # noqa: F401  (re-exported)


@dataclass
class ScoreMatrices:
    """Scores of every query (rows) against every pooled candidate (columns).

    ``pooled`` scores against one index of all languages (the Mul setting). ``by_language``
    holds, in the columns of language Y, the scores against an index of Y alone (Mo / Cr).
    For a dense retriever both are the same matrix; for BM25 they differ (per-corpus IDF).
    """

    pooled: np.ndarray
    by_language: np.ndarray

    @property
    def n_queries(self) -> int:
        return int(self.pooled.shape[0])

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``start:stop`` of both matrices (views, no copy)."""
        return self.pooled[start:stop], self.by_language[start:stop]


@dataclass
class LareqaResults:
    """Per-query values and their aggregates for one benchmark run."""

    languages: tuple[str, ...]
    pairs: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    multi: dict[str, dict[str, float]] = field(default_factory=dict)
    per_query_multi: dict[str, np.ndarray] = field(default_factory=dict)
    per_query_pair: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    #: the top ``run_depth`` pooled candidates of every query (scores, column indices), for
    #: the TREC run file; ties in the order ``torch.topk`` gives them
    top_scores: np.ndarray | None = None
    top_ids: np.ndarray | None = None

    def mono(self) -> dict[str, dict[str, float]]:
        return {x: self.pairs[(x, x)] for x in self.languages}

    def cross(self) -> dict[str, dict[str, float]]:
        """Per query language: the mean over its other candidate languages' pairs."""
        out = {}
        for x in self.languages:
            cells = [self.pairs[(x, y)] for y in self.languages
                     if y != x and self.pairs[(x, y)]["n_queries"] > 0]
            if cells:
                out[x] = {name: float(np.mean([c[name] for c in cells])) for name in cells[0]}
                out[x]["n_queries"] = float(sum(c["n_queries"] for c in cells))
                out[x]["n_pairs"] = float(len(cells))
        return out

    def macro(self) -> dict[str, float]:
        """Macro averages over query languages, keyed "<setting>.<metric>"; NaN for a setting
        no query can be scored in (Cr of a pool whose gold is in the query's language only)."""
        out = {}
        names = [n for n in next(iter(self.mono().values()), {}) if not n.startswith("n_")]
        for setting, table in (("mono", self.mono()), ("cross", self.cross()),
                               ("multi", self.multi)):
            for name in next(iter(table.values()), {}):
                if name.startswith("n_"):
                    continue
                out[f"{setting}.{name}"] = float(np.mean([row[name] for row in table.values()]))
            if not table:  # no query has gold in another language (a monolingual pool)
                out.update({f"{setting}.{name}": float("nan") for name in names})
        return out


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def _summarise(per_query: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    out = {name: _mean(values[rows]) for name, values in per_query.items()}
    out["n_queries"] = float(np.count_nonzero(~np.isnan(per_query["map"][rows])))
    return out


def _pair_ranks(bench: RetrievalBenchmark, scores: np.ndarray, y: int,
                rows: slice = slice(None)) -> np.ndarray:
    """Rank of the gold candidate of language y, for the queries ``rows`` (the rows of
    ``scores``), within language y only."""
    cols = np.flatnonzero(bench.cand_lang == y)
    gold = bench.gold[rows, y]
    local = np.full(len(gold), PAD, dtype=np.int64)
    has = gold >= 0
    local[has] = np.searchsorted(cols, gold[has])
    return pessimistic_ranks(scores[:, cols], local[:, None])


def own_language_share(bench: RetrievalBenchmark, pooled: np.ndarray, k: int = 10,
                       rows: slice = slice(None)) -> np.ndarray:
    """Per query: the share of its top-k pooled candidates that are in the query's language
    (``pooled`` holds the rows ``rows`` of the queries)."""
    top = torch.topk(torch.as_tensor(pooled), min(k, pooled.shape[1]), dim=1).indices.numpy()
    return (bench.cand_lang[top] == bench.query_lang[rows, None]).mean(axis=1)


def _block_values(bench: RetrievalBenchmark, scores, start: int, stop: int,
                  run_depth: int) -> dict[str, np.ndarray | list[np.ndarray]]:
    """What the metrics need from the score rows ``start:stop``: ranks of the relevant
    candidates (per candidate language and pooled), the own-language share of the top 10 and
    the top ``run_depth`` pooled candidates. Only these per-query values outlive the block."""
    rows = slice(start, stop)
    pooled, by_language = scores.block(start, stop)
    top = torch.topk(torch.as_tensor(pooled), min(run_depth, pooled.shape[1]), dim=1)
    return {
        "pair": [_pair_ranks(bench, by_language, y, rows) for y in range(len(bench.languages))],
        "multi": pessimistic_ranks(pooled, bench.gold[rows]),
        "own": own_language_share(bench, pooled, 10, rows),
        "top_scores": top.values.numpy(), "top_ids": top.indices.numpy(),
    }


def evaluate(bench: RetrievalBenchmark, scores, ap_k: int = 20, block_size: int = 512,
             run_depth: int = 100) -> LareqaResults:
    """All pairs (Mo + Cr) and the multilingual setting, per query and per query language.

    ``scores`` is a ``ScoreMatrices`` or any object with ``n_queries`` and ``block(start,
    stop) -> (pooled rows, by-language rows)`` (e.g. ``retrieval.base.InnerProductBlocks``, or
    the BM25 scorer of ``retrieval.bm25``). Queries are taken ``block_size`` at a time, so
    memory holds one block of scores, never the full matrix; every value is computed per
    query, so the results do not depend on the block size.
    """
    blocks = [_block_values(bench, scores, start, min(start + block_size, scores.n_queries),
                            run_depth)
              for start in range(0, scores.n_queries, block_size)] \
        or [_block_values(bench, scores, 0, 0, run_depth)]  # no query: empty arrays
    results = LareqaResults(bench.languages)
    for y, lang_y in enumerate(bench.languages):
        per_query = rank_metrics(np.concatenate([b["pair"][y] for b in blocks]), ap_k)
        for x, lang_x in enumerate(bench.languages):
            rows = np.flatnonzero(bench.query_lang == x)
            results.pairs[(lang_x, lang_y)] = _summarise(per_query, rows)
            results.per_query_pair[(lang_x, lang_y)] = per_query["map"][rows]
    multi_ranks = np.concatenate([b["multi"] for b in blocks])
    per_query = rank_metrics(multi_ranks, ap_k)
    per_query["rank_distance"] = rank_distance(multi_ranks)
    per_query["own_language@10"] = np.concatenate([b["own"] for b in blocks])
    results.per_query_multi = per_query
    for x, lang_x in enumerate(bench.languages):
        results.multi[lang_x] = _summarise(per_query, np.flatnonzero(bench.query_lang == x))
    results.top_scores = np.concatenate([b["top_scores"] for b in blocks])
    results.top_ids = np.concatenate([b["top_ids"] for b in blocks])
    return results
