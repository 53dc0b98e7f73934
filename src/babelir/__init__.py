"""babelir: multilingual dense retrieval with language-aware batch sampling, measured honestly.

Pipeline stages, each a sub-package, data flowing one way:
``data`` -> ``retrieval`` (models, BM25, score matrices) -> ``evaluation`` (ranks, metrics,
LAReQA settings) -> ``report`` (tables, plots, files). ``cli`` wires them together.
"""

__version__ = "0.1.0"
