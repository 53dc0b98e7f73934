"""Independent check of a dense run's Table-1 numbers, the LAReQA way.

Recomputes Mo / Cr / Mul mAP from the run's score matrix with scikit-learn's
`average_precision_score` per query (what the LAReQA reference code calls), with none of
babelir's rank or metric code, and compares with the run's summary.json.

    python benchmarks/verify_xquad_r.py runs/me5-zeroshot
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import load_scores, save
from sklearn.metrics import average_precision_score
from tqdm import tqdm


def sklearn_macro(bench, scores) -> dict:
    langs = range(len(bench.languages))
    per_pair = np.zeros((len(langs), len(langs)))
    multi = np.zeros(len(langs))
    for x in tqdm(langs, desc="query languages"):
        rows = np.flatnonzero(bench.query_lang == x)
        for y in langs:
            cols = np.flatnonzero(bench.cand_lang == y)
            truth = np.zeros(len(cols), dtype=bool)
            aps = []
            for q in rows:
                truth[:] = cols == bench.gold[q, y]
                aps.append(average_precision_score(truth, scores.by_language[q, cols]))
            per_pair[x, y] = np.mean(aps)
        aps = []
        truth = np.zeros(bench.n_candidates, dtype=bool)
        for q in rows:
            truth[:] = False
            truth[bench.gold[q]] = True
            aps.append(average_precision_score(truth, scores.pooled[q]))
        multi[x] = np.mean(aps)
    cross = [np.mean([per_pair[x, y] for y in langs if y != x]) for x in langs]
    return {"mono.map": float(np.mean(np.diag(per_pair))), "cross.map": float(np.mean(cross)),
            "multi.map": float(multi.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="a run folder written by `babelir eval`")
    args = parser.parse_args()
    summary = json.loads((args.run / "summary.json").read_text())
    bench, scores = load_scores(summary["model"], summary["benchmark"],
                                candidate_mode=summary["candidate_mode"],
                                max_length=summary["max_length"])
    oracle = sklearn_macro(bench, scores)
    diffs = {k: abs(summary[k] - v) for k, v in oracle.items()}
    save(f"verify_{args.run.name}", {
        "run": str(args.run), "model": summary["model"], "babelir": {k: summary[k] for k in oracle},
        "sklearn_lareqa_style": oracle, "abs_difference": diffs,
        "within_0.003": all(d <= 0.003 for d in diffs.values()),
    })


if __name__ == "__main__":
    main()
