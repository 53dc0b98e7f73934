"""babelir: multilingual dense retrieval with language-aware batch sampling, measured honestly.

Pipeline stages, each a sub-package, data flowing one way:
``data`` -> ``retrieval`` (models, BM25, score matrices) -> ``evaluation`` (ranks, metrics,
LAReQA settings) -> ``report`` (tables, plots, files). ``cli`` wires them together.

The Python API (``babelir.api``), imported on first use so that ``import babelir`` stays fast:
``babelir.evaluate(model, "xquad-r", ...)`` -> ``EvaluationResult``, ``babelir.train(config)``.
"""

__version__ = "0.1.0"

__all__ = ["EvaluationResult", "evaluate", "train"]


def __getattr__(name: str):
    if name in __all__:
        from babelir import api

        return getattr(api, name)
    raise AttributeError(f"module 'babelir' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
