"""The ``Benchmark`` interface: what every evaluation ``babelir eval`` runs offers.

A benchmark loads its data (``load``), names the settings it reads (``options``: fields of
``eval_job.EvalConfig``; ``babelir eval`` refuses the others), evaluates a retriever
(``evaluate``: scores, metrics, the results dict) and writes its files (``write``).
``eval_job.run_eval`` drives every benchmark the same way; benchmarks are found by name in
``evaluation.registry``.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from babelir.errors import BabelirError

if TYPE_CHECKING:
    from babelir.eval_job import EvalConfig
    from babelir.retrieval.base import Retriever


class Timer:
    """Seconds spent per step, added up over repeated steps (``with timer("load"): ...``)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


@dataclass
class Evaluation:
    """What ``evaluate`` found: ``results`` (the dict ``run_eval`` returns) and ``payload``,
    whatever else the benchmark's ``write`` needs (per-query values, runs, ...)."""

    results: dict
    payload: Any = None


class Benchmark(ABC):
    """One evaluation; see the module docstring. ``name`` is the ``--benchmark`` value.

    ``model_retriever``: the retriever (``retrieval.registry`` name) that serves a model name
    here; ``needs``: the retriever ability it relies on, ``"score"`` (every candidate scored,
    ``CandidateIndex.score``) or ``"corpus"`` (a corpus file indexed, ``index_corpus``)."""

    options: ClassVar[frozenset[str]] = frozenset()
    model_retriever: ClassVar[str] = "dense"
    needs: ClassVar[str] = "score"

    def __init__(self, name: str):
        self.name = name

    def check_retriever(self, retriever: type[Retriever]) -> None:
        """A clear error, before any work, when ``retriever`` lacks what this benchmark needs."""
        able = retriever.scores_all if self.needs == "score" else retriever.indexes_corpus
        if not able:
            what = ("scores every candidate" if self.needs == "score"
                    else "indexes a corpus file")
            raise BabelirError(f"{self.name} needs a retriever that {what}; the "
                               f"{retriever.name} retriever does not")

    def default_out(self, config: EvalConfig) -> Path:
        """``runs/<model>-<benchmark>`` (the model's name made safe for a folder name)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", config.model.strip("/")).strip("_")
        return Path("runs") / f"{slug}-{config.benchmark}"

    @abstractmethod
    def load(self, config: EvalConfig) -> Any:
        """The benchmark's data, as ``evaluate`` and ``write`` take it."""

    @abstractmethod
    def evaluate(self, data: Any, retriever: Retriever, config: EvalConfig,
                 timer: Timer) -> Evaluation | None:
        """Scores and metrics (None: nothing to write, e.g. in a helper process of a
        multi-process launcher)."""

    @abstractmethod
    def write(self, out: Path, data: Any, evaluation: Evaluation) -> None:
        """The output files, into ``out`` (whole or not at all: ``io.atomic_dir``)."""

    def report(self, results: dict) -> str:
        """What ``babelir eval`` prints once the files are written."""
        return f"wrote {results['out']}"
