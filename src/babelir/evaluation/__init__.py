"""Evaluation: LAReQA settings (``lareqa``), metrics (``metrics``), ranks (``ranks``), MIRACL
(``miracl``), and ``LAReQAEvaluator``, the same evaluation as a sentence-transformers evaluator
(``st_evaluator``; imported on first use, so that importing the metrics does not import
sentence-transformers)."""

from __future__ import annotations

__all__ = ["LAReQAEvaluator"]


def __getattr__(name: str):
    if name == "LAReQAEvaluator":
        from babelir.evaluation.st_evaluator import LAReQAEvaluator

        return LAReQAEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
