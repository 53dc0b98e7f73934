"""Encoding throughput of babelir's DenseEncoder at each precision against sentence-transformers'
own fp32 `encode`, same model, same texts, same machine, in one run (ratio > 1: babelir faster).

The texts are XQuAD-R questions and candidate sentences of all 11 languages, half each, with
their prefixes. Systems run in turn, ``--repeats`` rounds, so a change in the machine's load
hits all of them; min / median / max seconds per system, ratios from the medians.
sentence-transformers runs at its default batch size (32) and at babelir's former one (64).

    python benchmarks/bench_encode.py [--n 512] [--repeats 3] [--bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from common import save

from babelir.data.lareqa import load_benchmark
from babelir.data.registry import get_benchmark
from babelir.models.registry import resolve_model
from babelir.retrieval.dense import DenseEncoder
from babelir.settings import cache_dir, data_dir


def sample_texts(n: int) -> tuple[list[str], list[str]]:
    """n/2 questions and n/2 candidate sentences, drawn at random from every language."""
    bench = load_benchmark(get_benchmark("xquad-r"), data_dir(), cache_dir())
    rng = np.random.default_rng(0)
    queries = [bench.query_texts[i] for i in rng.choice(bench.n_queries, n // 2, replace=False)]
    passages = [bench.cand_sentences[i]
                for i in rng.choice(bench.n_candidates, n - n // 2, replace=False)]
    return queries, passages


def systems(choice, with_bf16: bool) -> dict:
    """name -> function(queries, passages) -> embeddings; the first is the reference."""
    reference = DenseEncoder(choice, backend="torch", cache=None)
    st = reference.sentence_transformer
    q, p = choice.query_prefix, choice.passage_prefix

    def st_encode(batch_size):
        return lambda qs, ps: st.encode([q + t for t in qs] + [p + t for t in ps],
                                        batch_size=batch_size, normalize_embeddings=True)

    def ours(encoder):
        return lambda qs, ps: np.concatenate([encoder.encode(qs, "query"),
                                              encoder.encode(ps, "passage")])

    out = {"st_fp32_bs32": st_encode(32), "st_fp32_bs64": st_encode(64),
           "babelir_default": ours(DenseEncoder(choice, cache=None)),
           "babelir_int8": ours(DenseEncoder(choice, precision="int8", cache=None))}
    if with_bf16:
        out["babelir_bf16"] = ours(DenseEncoder(choice, precision="bf16", cache=None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--n", type=int, default=512, help="texts (half queries, half passages)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also bf16 (slow without bf16 CPUs)")
    args = parser.parse_args()
    queries, passages = sample_texts(args.n)
    choice = resolve_model(args.model, cache_dir())
    runs = systems(choice, args.bf16)
    vectors = {name: fn(queries[:8], passages[:8]) for name, fn in runs.items()}  # warm-up
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            vectors[name] = fn(queries, passages)
            seconds[name].append(time.perf_counter() - start)
    reference = vectors["st_fp32_bs32"]
    rows = {}
    for name, times in seconds.items():
        cosine = (vectors[name] * reference).sum(axis=1)
        rows[name] = {"min_s": min(times), "median_s": statistics.median(times),
                      "max_s": max(times), "texts_per_s": args.n / statistics.median(times),
                      "speedup_vs_st_bs32": statistics.median(seconds["st_fp32_bs32"])
                      / statistics.median(times),
                      "min_cosine_vs_st": float(cosine.min()),
                      "mean_cosine_vs_st": float(cosine.mean()), "seconds": times}
    save("encode_throughput", {
        "model": args.model, "texts": args.n, "max_length": 128, "repeats": args.repeats,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "systems": rows,
    })


if __name__ == "__main__":
    main()
