"""``babelir eval``: load a benchmark, score it with a retriever, measure, write the outputs.

data -> retrieval -> evaluation -> report, in that order; this module only wires them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from babelir import __version__
from babelir.data.lareqa import RetrievalBenchmark, load_benchmark
from babelir.data.registry import get_benchmark
from babelir.evaluation.lareqa import InnerProductBlocks, LareqaResults, evaluate
from babelir.io import atomic_dir, git_commit, sha256_of, write_json
from babelir.report.plots import pair_heatmap
from babelir.report.tables import full_report
from babelir.report.trec import write_qrels, write_top_run
from babelir.settings import cache_dir as default_cache_dir
from babelir.settings import data_dir as default_data_dir

if TYPE_CHECKING:
    from babelir.retrieval.bm25 import BenchmarkBm25Scorer

BM25 = "bm25"


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


def default_out_dir(config: EvalConfig) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", config.model.strip("/")).strip("_")
    return Path("runs") / f"{slug}-{config.benchmark}"


def bm25_scores(bench: RetrievalBenchmark, config: EvalConfig) -> tuple[BenchmarkBm25Scorer, dict]:
    """The BM25 indexes (pooled and per language); ``evaluate`` scores them block by block,
    so the two (queries × candidates) matrices are never held whole."""
    from babelir.retrieval.bm25 import DEFAULT_TOKENIZER, BenchmarkBm25Scorer

    tokenizer = config.bm25_tokenizer or DEFAULT_TOKENIZER
    scorer = BenchmarkBm25Scorer(
        bench.query_texts, bench.candidate_texts(config.candidate_mode),
        [bench.languages[i] for i in bench.cand_lang], tokenizer=tokenizer,
    )
    return scorer, {"retriever": "bm25 (bm25s)", "tokenizer": tokenizer}


def dense_scores(bench: RetrievalBenchmark, config: EvalConfig,
                 cache: Path) -> tuple[InnerProductBlocks, dict]:
    from babelir.models.registry import resolve_model
    from babelir.retrieval.dense import DenseEncoder, EmbeddingCache, encode_by_group

    choice = resolve_model(config.model, cache, config.query_prefix, config.passage_prefix)
    encoder = DenseEncoder(choice, config.max_length, config.batch_size, config.device,
                           EmbeddingCache(cache / "embeddings") if config.embedding_cache else None,
                           config.precision, config.backend, cache)
    queries = encode_by_group(encoder, bench.query_texts, bench.query_lang, bench.languages, "query")
    candidates = encode_by_group(encoder, bench.candidate_texts(config.candidate_mode),
                                 bench.cand_lang, bench.languages, "passage")
    scores = InnerProductBlocks(queries, candidates)  # scored per block of queries
    info = {"retriever": "dense (sentence-transformers, exact inner product)",
            "model_location": _portable(choice.location), "model_fingerprint": encoder.fingerprint,
            "query_prefix": choice.query_prefix, "passage_prefix": choice.passage_prefix,
            "precision": encoder.precision, "backend": encoder.backend}
    return scores, info


def _portable(path: str) -> str:
    """A path relative to the working folder, or with ``~`` for the home folder: kept results
    travel between machines. Model names that are not paths pass unchanged."""
    for root, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return shown + str(Path(path).relative_to(root))
        except ValueError:
            continue
    return path


def portable_config(config: EvalConfig) -> dict:
    """The settings that decide the numbers: not where the output or the caches went."""
    values = dataclasses.asdict(config)
    values["model"] = _portable(values["model"])
    for machine_specific in ("out", "data_dir", "cache_dir"):
        values.pop(machine_specific, None)
    return values


def data_file_record(bench: RetrievalBenchmark, benchmark: str) -> dict:
    """Per language: the file's path inside the data folder layout and its SHA-256."""
    spec = get_benchmark(benchmark)
    return {lang: {"path": spec.relative_path(lang), "sha256": sha256_of(path)}
            for lang, path in bench.files.items()}


def results_dict(bench: RetrievalBenchmark, res: LareqaResults, config: EvalConfig,
                 info: dict, timing: dict) -> dict:
    langs = list(bench.languages)
    pairs = {x: {y: res.pairs[(x, y)] for y in langs} for x in langs}
    incomplete = any(res.pairs[(x, y)]["n_queries"] < res.pairs[(x, x)]["n_queries"]
                     for x in langs for y in langs)
    summary = {
        **res.macro(),
        "model": _portable(config.model), "benchmark": config.benchmark,
        "candidate_mode": config.candidate_mode,
        "max_length": config.max_length if config.model != BM25 else None,
        "n_queries": bench.n_queries, "n_candidates": bench.n_candidates,
        "languages": langs, "ap_k": config.ap_k, "incomplete_pairs": incomplete,
    }
    return {
        "summary": summary, "languages": langs,
        "mono": res.mono(), "cross": res.cross(), "multi": res.multi, "pairs": pairs,
        "config": portable_config(config), "retriever": info, "timing_s": timing,
        "babelir_version": __version__, "git_commit": git_commit(),
        "data_files": data_file_record(bench, config.benchmark),
    }


def write_outputs(out: Path, bench: RetrievalBenchmark, res: LareqaResults,
                  results: dict) -> None:
    """Everything goes into a temporary folder that replaces ``out`` only when complete."""
    with atomic_dir(out) as tmp:
        write_json(tmp / "summary.json", results["summary"])
        write_json(tmp / "results.json", results)
        (tmp / "tables.md").write_text(full_report(results), encoding="utf-8")
        pair_heatmap(results, tmp / "heatmap_map.png")
        write_top_run(tmp / "run.multilingual.trec", res.top_scores, res.top_ids,
                      bench.query_ids, bench.cand_ids,
                      tag=re.sub(r"\s+", "_", results["summary"]["model"]))
        write_qrels(tmp / "qrels.multilingual.trec", bench.gold, bench.query_ids, bench.cand_ids)
        np.savez_compressed(
            tmp / "per_query.npz", query_ids=np.array(bench.query_ids),
            **{f"multi.{k}": v.astype(np.float32) for k, v in res.per_query_multi.items()},
            **{f"pair.{x}.{y}.map": v.astype(np.float32) for (x, y), v in res.per_query_pair.items()},
        )


def run_eval(config: EvalConfig) -> dict:
    """Run one evaluation; returns the results dict (also written to ``config.out``)."""
    cache = default_cache_dir(config.cache_dir)
    spec = get_benchmark(config.benchmark)
    timing = {}
    start = time.perf_counter()
    bench = load_benchmark(spec, default_data_dir(config.data_dir), cache, config.languages,
                           config.max_articles, config.online)
    timing["load"] = time.perf_counter() - start
    start = time.perf_counter()
    if config.model == BM25:
        scores, info = bm25_scores(bench, config)
    else:
        scores, info = dense_scores(bench, config, cache)
    timing["retrieve"] = time.perf_counter() - start
    start = time.perf_counter()
    res = evaluate(bench, scores, config.ap_k)
    timing["metrics"] = time.perf_counter() - start
    results = results_dict(bench, res, config, info, timing)
    out = Path(config.out) if config.out else default_out_dir(config)
    del scores  # the top candidates for the run file are in ``res``
    write_outputs(out, bench, res, results)
    results["out"] = str(out)
    return results
