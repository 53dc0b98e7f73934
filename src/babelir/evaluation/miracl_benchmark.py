"""MIRACL as a ``Benchmark`` (``miracl`` or ``miracl:sw,te``): each language's corpus indexed by
the retriever (``index_corpus``), the top 100 passages of every topic retrieved, nDCG@10 and
Recall@100 per language (``evaluation.miracl``), and ``summary.json``, ``results.json``,
``tables.md`` and one TREC run per language (``report.trec``) written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from babelir.errors import BabelirError
from babelir.evaluation.benchmark import Benchmark, Evaluation, Timer
from babelir.evaluation.miracl import (corpus_for, evaluate_miracl, format_table,
                                       parse_benchmark, require_corpus_source, run_from_search)
from babelir.retrieval.base import Retriever, TextSet

#: passages retrieved per topic (Recall@100 needs 100)
RUN_DEPTH = 100
#: the faiss index kind recorded when none was chosen (``retrieval.index.DEFAULT_KIND``)
DEFAULT_INDEX = "exact"


@dataclass
class MiraclData:
    """Where the topics and judgments (``root``) and the cache (``cache``) are; each
    language's topics and corpus are read in turn during ``evaluate``."""

    root: Path
    cache: Path


@dataclass
class LanguageRun:
    """One language's search results (row ids into ``docids``; ``-1``: none)."""

    qids: list[str]
    scores: object
    ids: object
    docids: list[str]


class MiraclBenchmark(Benchmark):
    """``languages``: the paper's 15 unless the name lists some (``miracl:sw,te``)."""

    options = frozenset({"corpus", "online"})
    model_retriever = "faiss"
    needs = "corpus"

    def __init__(self, name: str):
        super().__init__(name)
        self.languages = parse_benchmark(name)

    def default_out(self, config) -> Path:
        return Path(f"runs/{Path(config.model).name}-miracl-{config.index or DEFAULT_INDEX}")

    def load(self, config) -> MiraclData:
        from babelir.settings import cache_dir, data_dir

        require_corpus_source(config.corpus, config.online)
        root = data_dir(config.data_dir)
        if root is None:
            raise BabelirError("no data folder: set --data-dir or $BABELIR_DATA")
        return MiraclData(root, cache_dir(config.cache_dir))

    def _search(self, lang: str, data: MiraclData, retriever: Retriever,
                config) -> tuple[LanguageRun, dict] | None:
        """One language's run and judgments; None in a helper process of a multi-process
        launcher (it helped encode the corpus; rank 0 searches)."""
        from babelir.data.miracl import load_language
        from babelir.retrieval.sharded import process_rank

        topics = load_language(data.root, lang)
        corpus = corpus_for(config.corpus, lang, config.online, data.cache)
        qids = list(topics.topics)
        index = retriever.index_corpus(corpus, lang)
        if process_rank()[0] != 0:
            return None
        scores, ids = index.search(TextSet([topics.topics[q] for q in qids], kind="query"),
                                   RUN_DEPTH)
        return LanguageRun(qids, scores, ids, index.docids), topics.qrels

    def evaluate(self, data: MiraclData, retriever: Retriever, config,
                 timer: Timer) -> Evaluation | None:
        runs, qrels, timing = {}, {}, {}
        for lang in self.languages:
            started = time.perf_counter()
            found = self._search(lang, data, retriever, config)
            if found is None:
                continue
            runs[lang], qrels[lang] = found
            timing[lang] = round(time.perf_counter() - started, 2)
        if not runs and self.languages:  # a helper process: rank 0 writes
            return None
        result = evaluate_miracl({lang: run_from_search(r.qids, r.scores, r.ids, r.docids)
                                  for lang, r in runs.items()}, qrels)
        kind = config.index or DEFAULT_INDEX
        summary = {**result["summary"], "model": config.model, "benchmark": config.benchmark,
                   "index": kind, "languages": self.languages}
        results = {**result, "timing_s": timing, "corpus": config.corpus, "index": kind}
        return Evaluation(results, (summary, runs))

    def write(self, out: Path, data: MiraclData, evaluation: Evaluation) -> None:
        from babelir.io import atomic_dir, write_json
        from babelir.report.trec import write_top_run

        summary, runs = evaluation.payload
        with atomic_dir(out) as tmp:
            write_json(tmp / "summary.json", summary)
            write_json(tmp / "results.json", evaluation.results)
            (tmp / "tables.md").write_text(format_table(evaluation.results) + "\n",
                                           encoding="utf-8")
            for lang, run in runs.items():
                write_top_run(tmp / f"run.{lang}.trec", run.scores, run.ids, run.qids,
                              run.docids, tag="babelir")

    def report(self, results: dict) -> str:
        return f"{format_table(results)}\nwrote {results['out']}"
