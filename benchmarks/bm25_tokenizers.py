"""BM25 on the full XQuAD-R with each tokeniser: raw results into results/bm25-tokenizers/.

    python benchmarks/bm25_tokenizers.py
"""

from __future__ import annotations

import time

from common import ROOT
from keep import keep_run

from babelir.eval_job import EvalConfig, run_eval
from babelir.io import write_json
from babelir.retrieval.tokenize import TOKENIZERS, get_tokenizer


def main() -> None:
    texts = benchmark_texts()
    for name in TOKENIZERS:
        out = ROOT / "runs" / f"bm25-{name}"
        results = run_eval(EvalConfig(model="bm25", benchmark="xquad-r", out=str(out),
                                      bm25_tokenizer=name))
        target = keep_run(out, ROOT / "results" / "bm25-tokenizers" / name)
        start = time.perf_counter()
        get_tokenizer(name)(texts)
        write_json(target / "tokenize_time.json",
                   {"tokenizer": name, "texts": len(texts), "seconds": time.perf_counter() - start})
        print(f"{name}: Mo {results['summary']['mono.map']:.3f}")


def benchmark_texts() -> list[str]:
    from babelir.data.lareqa import load_benchmark
    from babelir.data.registry import get_benchmark
    from babelir.settings import cache_dir, data_dir

    bench = load_benchmark(get_benchmark("xquad-r"), data_dir(), cache_dir())
    return bench.query_texts + bench.cand_sentences


if __name__ == "__main__":
    main()
