"""Time babelir's vectorised metrics (Mo + Cr + Mul on XQuAD-R) against a naive per-query
implementation, on the same score matrix, in one run. Prints both times and their ratio.

    python benchmarks/bench_metrics.py [--model multilingual-e5-small]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import load_scores, save

from babelir.evaluation.lareqa import evaluate


def naive_ap(row: np.ndarray, relevant: list[int]) -> float:
    """Sort the whole row (relevant last among ties) and read AP off the positions."""
    is_relevant = np.zeros(len(row), dtype=bool)
    is_relevant[relevant] = True
    order = np.lexsort((is_relevant, -row))
    positions = np.flatnonzero(is_relevant[order]) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions))


def naive_macro(bench, scores, n_queries: int) -> dict:
    """Mo / Cr / Mul mAP over the first ``n_queries`` queries of every language."""
    langs = range(len(bench.languages))
    mono, cross, multi = [], [], []
    for x in langs:
        rows = np.flatnonzero(bench.query_lang == x)[:n_queries]
        pair = {}
        for y in langs:
            cols = np.flatnonzero(bench.cand_lang == y)
            pair[y] = np.mean([naive_ap(scores.by_language[q, cols],
                                        [int(np.searchsorted(cols, bench.gold[q, y]))])
                               for q in rows])
        mono.append(pair[x])
        cross.append(np.mean([pair[y] for y in langs if y != x]))
        multi.append(np.mean([naive_ap(scores.pooled[q], list(bench.gold[q])) for q in rows]))
    return {"mono.map": float(np.mean(mono)), "cross.map": float(np.mean(cross)),
            "multi.map": float(np.mean(multi))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--naive-queries", type=int, default=1190,
                        help="queries per language for the naive timing (it is extrapolated)")
    args = parser.parse_args()
    bench, scores = load_scores(args.model)
    start = time.perf_counter()
    results = evaluate(bench, scores)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    naive = naive_macro(bench, scores, args.naive_queries)
    naive_time = (time.perf_counter() - start) * (1190 / args.naive_queries)
    # the same subset of queries through babelir, to show both agree
    subset = np.concatenate([np.flatnonzero(bench.query_lang == x)[:args.naive_queries]
                             for x in range(len(bench.languages))])
    ours_multi = np.mean([np.nanmean(results.per_query_multi["map"][subset[bench.query_lang[subset] == x]])
                          for x in range(len(bench.languages))])
    save("metrics_time", {
        "model": args.model, "benchmark": "xquad-r", "n_queries": bench.n_queries,
        "n_candidates": bench.n_candidates,
        "babelir_seconds_all_metrics_mo_cr_mul": fast,
        "naive_seconds_map_only": naive_time,
        "naive_extrapolated_from_subset": args.naive_queries < 1190,
        "naive_queries_per_language_timed": args.naive_queries,
        "speedup": naive_time / fast,
        "naive_subset_multi_map": naive["multi.map"], "babelir_subset_multi_map": float(ours_multi),
    })


if __name__ == "__main__":
    main()
