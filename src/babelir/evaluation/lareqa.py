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


@dataclass
class ScoreMatrices:
    """Scores of every query (rows) against every pooled candidate (columns).

    ``pooled`` scores against one index of all languages (the Mul setting). ``by_language``
    holds, in the columns of language Y, the scores against an index of Y alone (Mo / Cr).
    For a dense retriever both are the same matrix; for BM25 they differ (per-corpus IDF).
    """

    pooled: np.ndarray
    by_language: np.ndarray


@dataclass
class LareqaResults:
    """Per-query values and their aggregates for one benchmark run."""

    languages: tuple[str, ...]
    pairs: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    multi: dict[str, dict[str, float]] = field(default_factory=dict)
    per_query_multi: dict[str, np.ndarray] = field(default_factory=dict)
    per_query_pair: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

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
        """Macro averages over query languages, keyed "<setting>.<metric>"."""
        out = {}
        for setting, table in (("mono", self.mono()), ("cross", self.cross()),
                               ("multi", self.multi)):
            for name in next(iter(table.values()), {}):
                if name.startswith("n_"):
                    continue
                out[f"{setting}.{name}"] = float(np.mean([row[name] for row in table.values()]))
        return out


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def _summarise(per_query: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    out = {name: _mean(values[rows]) for name, values in per_query.items()}
    out["n_queries"] = float(np.count_nonzero(~np.isnan(per_query["map"][rows])))
    return out


def _pair_ranks(bench: RetrievalBenchmark, scores: np.ndarray, y: int) -> np.ndarray:
    """Rank of the gold candidate of language y, for every query, within language y only."""
    cols = np.flatnonzero(bench.cand_lang == y)
    local = np.full(bench.n_queries, PAD, dtype=np.int64)
    has = bench.gold[:, y] >= 0
    local[has] = np.searchsorted(cols, bench.gold[has, y])
    return pessimistic_ranks(scores[:, cols], local[:, None])


def own_language_share(bench: RetrievalBenchmark, pooled: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query: the share of its top-k pooled candidates that are in the query's language."""
    top = torch.topk(torch.as_tensor(pooled), min(k, pooled.shape[1]), dim=1).indices.numpy()
    return (bench.cand_lang[top] == bench.query_lang[:, None]).mean(axis=1)


def evaluate(bench: RetrievalBenchmark, scores: ScoreMatrices, ap_k: int = 20) -> LareqaResults:
    """All pairs (Mo + Cr) and the multilingual setting, per query and per query language."""
    results = LareqaResults(bench.languages)
    for y, lang_y in enumerate(bench.languages):
        per_query = rank_metrics(_pair_ranks(bench, scores.by_language, y), ap_k)
        for x, lang_x in enumerate(bench.languages):
            rows = np.flatnonzero(bench.query_lang == x)
            results.pairs[(lang_x, lang_y)] = _summarise(per_query, rows)
            results.per_query_pair[(lang_x, lang_y)] = per_query["map"][rows]
    multi_ranks = pessimistic_ranks(scores.pooled, bench.gold)
    per_query = rank_metrics(multi_ranks, ap_k)
    per_query["rank_distance"] = rank_distance(multi_ranks)
    per_query["own_language@10"] = own_language_share(bench, scores.pooled, 10)
    results.per_query_multi = per_query
    for x, lang_x in enumerate(bench.languages):
        results.multi[lang_x] = _summarise(per_query, np.flatnonzero(bench.query_lang == x))
    return results
