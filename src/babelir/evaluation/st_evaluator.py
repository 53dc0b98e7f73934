"""``LAReQAEvaluator``: babelir's LAReQA evaluation as a sentence-transformers evaluator.

Pass it to any ``SentenceTransformerTrainer`` (``evaluator=...``), or call it on a model, and
get the numbers ``babelir eval`` reports for a dense model: Mo / Cr / Mul mAP, mAP@k, R@k,
MRR@10, nDCG@10, the rank distance and the own-language share of the top 10, as evaluator
metrics named ``<name>_<setting>_<metric>`` (e.g. ``xquad-r_multi_map``; the trainer logs
them with its ``eval_`` prefix, so ``metric_for_best_model=f"eval_{evaluator.primary_metric}"``
selects on the evaluator's primary metric).

Nothing is measured twice: the texts are encoded with the given model's own ``encode``, as
``babelir eval`` encodes them on the ``torch`` backend (the model's query / passage prefixes
prepended, one language at a time in batches of 32, L2-normalised, the model's maximum length
set to ``max_length`` while it runs), and scored by ``evaluation.lareqa.evaluate`` — the same
ranks (``evaluation.ranks``) and metrics (``evaluation.metrics``). The keys map one to one
onto the ``summary.json`` of ``babelir eval`` (``multi.map`` -> ``multi_map``, ``lareqa_metrics``),
which is also how trained models' cards carry their results (``training.card``).

A model folder's per-language centring (``babelir centre``) is not part of the loaded model:
pass ``centring=FOLDER`` (or a ``LanguageCentring``) and the embeddings are centred by the
same step ``babelir eval`` applies (``retrieval.centring.centre``).
"""

from __future__ import annotations

import csv
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from babelir.data.lareqa import RetrievalBenchmark, check_max_articles
from babelir.data.registry import check_languages, get_benchmark
from babelir.errors import BabelirError
from babelir.evaluation.lareqa import InnerProductBlocks, evaluate
from babelir.evaluation.metric_names import (  # noqa: F401 (public names, kept here)
    DEFAULT_PRIMARY, LOWER_IS_BETTER, MULTI_ONLY, SETTINGS, lareqa_metrics, metric_names)
from babelir.models.registry import prompt_prefixes, table_prefixes
from babelir.retrieval.centring import LanguageCentring, centre

try:  # sentence-transformers >= 6 (``SentenceEvaluator`` is kept there as an alias)
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator as SentenceEvaluator
except ImportError:  # older sentence-transformers
    from sentence_transformers.evaluation import SentenceEvaluator

def model_prefixes(model) -> tuple[str, str]:
    """The (query, passage) prefixes babelir uses for a loaded model: its sentence-transformers
    prompts, else the per-model table by the name it was loaded from (``models.registry``)."""
    from_prompts = prompt_prefixes(getattr(model, "prompts", None))
    if from_prompts is not None:
        return from_prompts
    encoder = getattr(model, "transformers_model", None)
    return table_prefixes(str(getattr(getattr(encoder, "config", None), "_name_or_path", "")))


class _ModelEncoder:
    """The ``encode(texts, kind, desc)`` that ``retrieval.dense.encode_by_group`` calls, done by
    a loaded model (as ``DenseEncoder`` does on the torch backend, without its disk cache)."""

    def __init__(self, model, prefixes: tuple[str, str], batch_size: int, progress: bool,
                 centring=None):
        self.model, self.prefixes = model, prefixes
        self.batch_size, self.progress, self.centring = batch_size, progress, centring

    def encode(self, texts: list[str], kind: str, desc: str | None = None,
               languages: str | list[str] | None = None) -> np.ndarray:
        prefix = self.prefixes[0] if kind == "query" else self.prefixes[1]
        embeddings = self.model.encode([prefix + t for t in texts], batch_size=self.batch_size,
                                       normalize_embeddings=True, convert_to_tensor=True,
                                       show_progress_bar=self.progress)
        return centre(self.centring, embeddings.float().cpu().numpy(), kind, texts, languages)


def _load_centring(centring) -> LanguageCentring | None:
    """A ``LanguageCentring``, or the one saved in a model folder (``babelir centre``)."""
    if centring is None or isinstance(centring, LanguageCentring):
        return centring
    loaded = LanguageCentring.load(centring)
    if loaded is None:
        raise BabelirError(f"{centring}: no per-language means in this folder "
                           "(babelir centre MODEL --out FOLDER writes them)")
    return loaded


@contextmanager
def _encoding_state(model, max_length: int | None):
    """The model at ``max_length`` (None: its own), in eval mode; both restored after."""
    was_training, old_length = model.training, model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        yield
    finally:
        model.max_seq_length = old_length
        model.train(was_training)


class LAReQAEvaluator(SentenceEvaluator):
    """Mo / Cr / Mul retrieval on a LAReQA-format benchmark (``data.registry``: xquad-r,
    mlqa-r, mlqa-val, xnli-val), as a sentence-transformers evaluator.

    ``benchmark``: a benchmark name, read (on the first call) from the data folder
    (``data_dir``, else ``$BABELIR_DATA``) like ``babelir eval`` reads it, optionally only
    ``languages`` and the first ``max_articles`` articles of each; or a loaded
    ``RetrievalBenchmark``. ``primary_metric``: one of ``metric_names(ap_k)`` (default
    ``multi_map``). ``query_prefix`` / ``passage_prefix`` override the model's own.
    """

    def __init__(self, benchmark: str | RetrievalBenchmark = "xquad-r",
                 languages: list[str] | None = None, max_articles: int | None = None,
                 name: str | None = None, primary_metric: str = DEFAULT_PRIMARY,
                 candidate_mode: str = "sentence", max_length: int | None = 128,
                 batch_size: int = 32, ap_k: int = 20, query_prefix: str | None = None,
                 passage_prefix: str | None = None, data_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, show_progress_bar: bool = False,
                 write_csv: bool = True,
                 centring: str | os.PathLike | LanguageCentring | None = None):
        super().__init__()
        self.centring = _load_centring(centring)
        if isinstance(benchmark, RetrievalBenchmark):
            if languages or max_articles is not None:
                raise ValueError("languages / max_articles subset a benchmark by name; "
                                 "pass a loaded benchmark already subset")
            self._bench, self.benchmark = benchmark, benchmark.name
            self.languages = list(benchmark.languages)
        else:
            spec = get_benchmark(benchmark)
            self._bench, self.benchmark = None, spec.name
            self.languages = list(check_languages(spec, languages)) if languages else None
        self.max_articles = check_max_articles(max_articles)
        self.name = self.benchmark if name is None else name
        valid = metric_names(ap_k)
        if primary_metric not in valid:
            raise ValueError(f"primary_metric must be one of {', '.join(valid)}, "
                             f"got {primary_metric!r}")
        self.primary_metric = f"{self.name}_{primary_metric}" if self.name else primary_metric
        self.greater_is_better = not primary_metric.endswith(LOWER_IS_BETTER)
        self.candidate_mode, self.max_length = candidate_mode, max_length
        self.batch_size, self.ap_k = batch_size, ap_k
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.data_dir, self.cache_dir = data_dir, cache_dir
        self.show_progress_bar, self.write_csv = show_progress_bar, write_csv

    @property
    def description(self) -> str:
        return "Information Retrieval"  # the model-index task: information-retrieval

    @property
    def benchmark_data(self) -> RetrievalBenchmark:
        """The benchmark, loaded on first use (as ``babelir eval`` loads it)."""
        if self._bench is None:
            from babelir.data.lareqa import load_benchmark
            from babelir.settings import cache_dir, data_dir

            self._bench = load_benchmark(get_benchmark(self.benchmark), data_dir(self.data_dir),
                                         cache_dir(self.cache_dir), self.languages,
                                         self.max_articles)
        return self._bench

    def prefixes(self, model) -> tuple[str, str]:
        own = model_prefixes(model)
        return (own[0] if self.query_prefix is None else self.query_prefix,
                own[1] if self.passage_prefix is None else self.passage_prefix)

    def compute_metrics(self, model) -> dict[str, float]:
        """The metrics without the name prefix (``lareqa_metrics`` of the macro averages)."""
        from babelir.retrieval.dense import encode_by_group

        bench = self.benchmark_data
        encoder = _ModelEncoder(model, self.prefixes(model), self.batch_size,
                                self.show_progress_bar, self.centring)
        with _encoding_state(model, self.max_length):
            queries = encode_by_group(encoder, bench.query_texts, bench.query_lang,
                                      bench.languages, "query")
            candidates = encode_by_group(encoder, bench.candidate_texts(self.candidate_mode),
                                         bench.cand_lang, bench.languages, "passage")
        results = evaluate(bench, InnerProductBlocks(queries, candidates), self.ap_k)
        return lareqa_metrics(results.macro())

    def __call__(self, model, output_path: str | None = None, epoch: int = -1,
                 steps: int = -1) -> dict[str, float]:
        metrics = self.compute_metrics(model)
        if output_path is not None and self.write_csv:
            self._append_csv(Path(output_path), epoch, steps, metrics)
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _append_csv(self, folder: Path, epoch: int, steps: int, metrics: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"lareqa_evaluation_{self.name or self.benchmark}_results.csv"
        new = not path.is_file()
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["epoch", "steps", *metrics])
            writer.writerow([epoch, steps, *metrics.values()])

    def get_config_dict(self) -> dict:
        """What the model card shows of this evaluation's settings."""
        config = {"benchmark": self.benchmark, "languages": self.languages,
                  "max_articles": self.max_articles, "candidate_mode": self.candidate_mode,
                  "max_length": self.max_length, "ap_k": self.ap_k,
                  "query_prefix": self.query_prefix, "passage_prefix": self.passage_prefix}
        return {key: value for key, value in config.items() if value is not None}
