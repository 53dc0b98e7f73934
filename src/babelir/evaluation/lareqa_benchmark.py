"""The LAReQA-format benchmarks as ``Benchmark``s: XQuAD-R, MLQA-R and the validation pools
mlqa-val / xnli-val (``data.registry``). Every query is scored against the whole candidate
pool; the outputs are Mo / Cr / Mul metrics (``evaluation.lareqa``), tables, a heatmap, TREC
run and qrels files and per-query values.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from babelir import __version__
from babelir.data.lareqa import RetrievalBenchmark, load_benchmark
from babelir.data.registry import BenchmarkSpec
from babelir.evaluation.benchmark import Benchmark, Evaluation, Timer
from babelir.evaluation.lareqa import LareqaResults, evaluate
from babelir.io import atomic_dir, git_commit, sha256_of, write_json
from babelir.retrieval.base import BlockScores, Retriever, TextSet, portable_path
from babelir.settings import cache_dir, data_dir

#: the settings of the lareqa-format evaluation (``eval_job.EvalConfig`` fields)
OPTIONS = frozenset({"languages", "max_articles", "candidate_mode", "ap_k"})
#: fields of ``EvalConfig`` that only corpus benchmarks set: left out of the record when unset
CORPUS_FIELDS = ("corpus", "index", "index_dir", "shard_size", "embeddings_dtype")


def pool_scores(bench: RetrievalBenchmark, retriever: Retriever,
                candidate_mode: str = "sentence") -> BlockScores:
    """Every query of ``bench`` against its whole candidate pool, block by block (pooled, and
    within each candidate language)."""
    queries = TextSet(bench.query_texts, bench.query_lang, bench.languages, "query")
    candidates = TextSet(bench.candidate_texts(candidate_mode), bench.cand_lang,
                         bench.languages, "passage")
    return retriever.index(candidates).score(queries)


def portable_config(config) -> dict:
    """The settings that decide the numbers: not where the output or the caches went."""
    values = dataclasses.asdict(config)
    values["model"] = portable_path(values["model"])
    for machine_specific in ("out", "data_dir", "cache_dir"):
        values.pop(machine_specific, None)
    for unset in CORPUS_FIELDS:
        if values.get(unset) is None:
            values.pop(unset, None)
    return values


class LareqaBenchmark(Benchmark):
    """One LAReQA-format benchmark of ``data.registry`` (``spec``)."""

    def __init__(self, spec: BenchmarkSpec):
        super().__init__(spec.name)
        self.spec = spec
        # a benchmark with an upstream URL can be downloaded (--online); the validation pools
        # are built from the data folder only
        self.options = OPTIONS | ({"online"} if spec.url_template else set())

    def load(self, config) -> RetrievalBenchmark:
        return load_benchmark(self.spec, data_dir(config.data_dir), cache_dir(config.cache_dir),
                              config.languages, config.max_articles, config.online)

    def evaluate(self, data: RetrievalBenchmark, retriever: Retriever, config,
                 timer: Timer) -> Evaluation:
        with timer("retrieve"):
            scores = pool_scores(data, retriever, config.candidate_mode)
        with timer("metrics"):
            res = evaluate(data, scores, config.ap_k)
        results = self.results_dict(data, res, config, retriever, timer.seconds)
        return Evaluation(results, res)

    def data_file_record(self, bench: RetrievalBenchmark) -> dict:
        """Per language: the file's path inside the data folder layout and its SHA-256."""
        return {lang: {"path": self.spec.relative_path(lang), "sha256": sha256_of(path)}
                for lang, path in bench.files.items()}

    def results_dict(self, bench: RetrievalBenchmark, res: LareqaResults, config,
                     retriever: Retriever, timing: dict) -> dict:
        langs = list(bench.languages)
        pairs = {x: {y: res.pairs[(x, y)] for y in langs} for x in langs}
        incomplete = any(res.pairs[(x, y)]["n_queries"] < res.pairs[(x, x)]["n_queries"]
                         for x in langs for y in langs)
        summary = {
            **res.macro(),
            "model": portable_path(config.model), "benchmark": config.benchmark,
            "candidate_mode": config.candidate_mode,
            "max_length": config.max_length if "max_length" in retriever.options else None,
            "n_queries": bench.n_queries, "n_candidates": bench.n_candidates,
            "languages": langs, "ap_k": config.ap_k, "incomplete_pairs": incomplete,
        }
        return {
            "summary": summary, "languages": langs,
            "mono": res.mono(), "cross": res.cross(), "multi": res.multi, "pairs": pairs,
            "config": portable_config(config), "retriever": retriever.describe(),
            "timing_s": timing, "babelir_version": __version__, "git_commit": git_commit(),
            "data_files": self.data_file_record(bench),
        }

    def write(self, out: Path, data: RetrievalBenchmark, evaluation: Evaluation) -> None:
        """Everything goes into a temporary folder that replaces ``out`` only when complete."""
        from babelir.report.plots import pair_heatmap
        from babelir.report.tables import full_report
        from babelir.report.trec import write_qrels, write_top_run

        results, res = evaluation.results, evaluation.payload
        with atomic_dir(out) as tmp:
            write_json(tmp / "summary.json", results["summary"])
            write_json(tmp / "results.json", results)
            (tmp / "tables.md").write_text(full_report(results), encoding="utf-8")
            pair_heatmap(results, tmp / "heatmap_map.png")
            write_top_run(tmp / "run.multilingual.trec", res.top_scores, res.top_ids,
                          data.query_ids, data.cand_ids,
                          tag=re.sub(r"\s+", "_", results["summary"]["model"]))
            write_qrels(tmp / "qrels.multilingual.trec", data.gold, data.query_ids,
                        data.cand_ids)
            np.savez_compressed(
                tmp / "per_query.npz", query_ids=np.array(data.query_ids),
                **{f"multi.{k}": v.astype(np.float32) for k, v in res.per_query_multi.items()},
                **{f"pair.{x}.{y}.map": v.astype(np.float32)
                   for (x, y), v in res.per_query_pair.items()},
            )

    def report(self, results: dict) -> str:
        from babelir.report.tables import full_report

        t = results["timing_s"]
        return (f"{full_report(results)}\nwrote {results['out']}  (load {t['load']:.1f}s, "
                f"retrieve {t['retrieve']:.1f}s, metrics {t['metrics']:.1f}s)")
