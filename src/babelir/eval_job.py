"""``babelir eval``: one evaluation of one retriever on one benchmark, whichever they are.

``run_eval(EvalConfig)`` looks the benchmark up (``evaluation.registry``) and the retriever
(``retrieval.registry``), then loads, evaluates and writes through the ``Benchmark`` interface;
``refuse_options`` tells the command line which given settings the pair would not read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from babelir.errors import BabelirError
from babelir.evaluation.benchmark import Benchmark, Timer
from babelir.evaluation.lareqa_benchmark import pool_scores
from babelir.evaluation.registry import make_benchmark
from babelir.retrieval.registry import make_retriever, retriever_class


@dataclass
class EvalConfig:
    model: str
    benchmark: str = "xquad-r"
    out: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    languages: list[str] | None = None
    max_articles: int | None = None
    candidate_mode: str = "sentence"
    max_length: int = 128
    batch_size: int = 32
    precision: str = "fp32"  # fp32 | bf16 | int8 (retrieval/dense.py)
    backend: str = "auto"  # auto | torch | onnx
    query_prefix: str | None = None
    passage_prefix: str | None = None
    bm25_tokenizer: str | None = None
    ap_k: int = 20
    device: str | None = None
    online: bool = False
    embedding_cache: bool = True
    # a corpus benchmark (MIRACL) and the faiss retriever; None: their defaults
    corpus: str | None = None
    index: str | None = None  # exact | hnsw | ivfpq
    index_dir: str | None = None
    shard_size: int | None = None
    embeddings_dtype: str | None = None  # float16 | float32


#: settings every evaluation reads
COMMON_OPTIONS = frozenset({"model", "benchmark", "out", "data_dir", "cache_dir"})


def default_out_dir(config: EvalConfig) -> Path:
    return make_benchmark(config.benchmark).default_out(config)


def refuse_options(config: EvalConfig, given: Iterable[str],
                   flags: Mapping[str, str] | None = None) -> None:
    """A ``BabelirError`` naming the ``given`` settings that neither the benchmark nor the
    retriever of ``config`` reads (``flags`` shows a setting as its command-line option)."""
    benchmark = make_benchmark(config.benchmark)
    retriever = retriever_class(config.model, benchmark.model_retriever)
    allowed = COMMON_OPTIONS | benchmark.options | retriever.options
    unread = [name for name in given if name not in allowed]
    if unread:
        shown = ", ".join((flags or {}).get(n, f"--{n.replace('_', '-')}") for n in unread)
        readable = ", ".join((flags or {}).get(n, n) for n in sorted(allowed - COMMON_OPTIONS))
        raise BabelirError(f"{shown}: not read by benchmark {config.benchmark} with the "
                           f"{retriever.name} retriever (--model {config.model}); they read "
                           f"{readable or 'no other option'}")


def run_eval(config: EvalConfig) -> dict:
    """Run one evaluation; returns the results dict (also written to ``config.out``), with
    ``out``, the folder written (empty in a helper process of a multi-process launcher)."""
    from babelir.io import check_output_folder

    benchmark: Benchmark = make_benchmark(config.benchmark)
    benchmark.check_retriever(retriever_class(config.model, benchmark.model_retriever))
    out = Path(config.out) if config.out else benchmark.default_out(config)
    check_output_folder(out)  # a folder that is not babelir's is refused before any work
    timer = Timer()
    with timer("load"):
        data = benchmark.load(config)
    with timer("retrieve"):
        retriever = make_retriever(config.model, dataclasses.asdict(config),
                                   benchmark.model_retriever)
    evaluation = benchmark.evaluate(data, retriever, config, timer)
    if evaluation is None:
        return {}
    benchmark.write(out, data, evaluation)
    return {**evaluation.results, "out": str(out)}


def retriever_scores(bench, config: EvalConfig, cache: Path | None = None):
    """(block scores, retriever record) of ``config.model`` on a loaded LAReQA-format
    benchmark, for scripts that want the scores themselves (``benchmarks/``)."""
    settings = dataclasses.asdict(config)
    if cache is not None:
        settings["cache_dir"] = str(cache)
    retriever = make_retriever(config.model, settings)
    return pool_scores(bench, retriever, config.candidate_mode), retriever.describe()


bm25_scores = dense_scores = retriever_scores  # the names the benchmark scripts import
