"""Machine translation of English QA into parallel training data (``babelir translate``).

``translate_source(source, targets, engine, out_dir)`` translates the question and each
context sentence of a SQuAD-format source with an engine (``make_engine("apertium")`` or
``make_engine("hf:<model>")``), caches every translation in sqlite, and writes JSONL that
``babelir data build-pairs --source jsonl:<out>/<out name>.jsonl`` reads.
"""

from babelir.translate.cache import TranslationCache
from babelir.translate.engines import (
    ApertiumEngine,
    HFEngine,
    TranslationEngine,
    make_engine,
    model_language_codes,
)
from babelir.translate.pipeline import load_source, quality_flags, translate_source

__all__ = ["ApertiumEngine", "HFEngine", "TranslationCache", "TranslationEngine", "load_source",
           "make_engine", "model_language_codes", "quality_flags", "translate_source"]
