"""Encoding throughput of babelir's DenseEncoder against sentence-transformers' own `encode`,
same model, same texts, same batch size and max length, in one run (ratio > 1: babelir faster).

    python benchmarks/bench_encode.py [--model multilingual-e5-small] [--n 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import save

from babelir.data.lareqa import load_benchmark
from babelir.data.registry import get_benchmark
from babelir.models.registry import resolve_model
from babelir.retrieval.dense import DenseEncoder
from babelir.settings import cache_dir, data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--n", type=int, default=512, help="candidate sentences to encode")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bench = load_benchmark(get_benchmark("xquad-r"), data_dir(), cache_dir())
    rng = np.random.default_rng(0)
    picked = rng.choice(bench.n_candidates, size=args.n, replace=False)
    texts = [bench.cand_sentences[i] for i in picked]  # all 11 languages mixed
    choice = resolve_model(args.model, cache_dir())
    ours = DenseEncoder(choice, max_length=128, batch_size=64, cache=None)
    st = ours.sentence_transformer  # the very same loaded model for both
    prefixed = [choice.passage_prefix + t for t in texts]
    st.encode(prefixed[:64], batch_size=64)  # warm-up
    times = {"babelir": [], "sentence_transformers": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        a = ours.encode(texts, "passage")
        times["babelir"].append(time.perf_counter() - start)
        start = time.perf_counter()
        b = st.encode(prefixed, batch_size=64, normalize_embeddings=True)
        times["sentence_transformers"].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    save("encode_throughput", {
        "model": args.model, "texts": args.n, "max_length": 128, "batch_size": 64,
        "babelir_texts_per_s": args.n / best["babelir"],
        "sentence_transformers_texts_per_s": args.n / best["sentence_transformers"],
        "ratio_babelir_over_st": best["sentence_transformers"] / best["babelir"],
        "max_abs_difference": float(np.abs(a - b).max()), "seconds": times,
    })


if __name__ == "__main__":
    main()
