"""babelir's Python API: ``evaluate`` and ``train`` on objects as well as names.

- ``evaluate(model, benchmark="xquad-r", languages=None, max_articles=None, out=None,
  **options)``: ``model`` is a loaded ``SentenceTransformer``, a model name / Hub id / local
  folder, a retriever name (``"bm25"``) or a ``retrieval.base.Retriever``. It runs the
  evaluation ``babelir eval`` runs (the same ``Benchmark`` and ``Retriever`` interfaces) and
  returns an ``EvaluationResult``; files are written only when ``out`` is given (the same files
  as ``babelir eval --out``). ``options`` are the other ``eval_job.EvalConfig`` fields
  (``candidate_mode``, ``max_length``, ``batch_size``, ``precision``, ``query_prefix``,
  ``data_dir``, ``cache_dir``, ...); one the benchmark and retriever would not read is an error.
- ``train(config, resume=False, **overrides)``: ``config`` is a ``TrainConfig``, a dict of its
  fields or a YAML file; returns the final model folder.

A loaded model is encoded as ``babelir eval --model <its folder> --backend torch`` encodes its
folder (``retrieval.dense.DenseEncoder`` on the torch backend: the model's prompts as prefixes,
one language at a time, ``max_length`` set while it encodes, the folder's per-language centring
where it has one), so the numbers are the same; its embeddings are never cached on disk (its
weights may no longer be its folder's).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babelir.errors import BabelirError
from babelir.evaluation.result import EvaluationResult
from babelir.retrieval.dense import DenseEncoder, DenseRetriever

__all__ = ["EvaluationResult", "evaluate", "train"]

#: ``evaluate``'s own arguments among the ``EvalConfig`` fields (not ``**options``)
_ARGUMENTS = ("model", "benchmark", "out", "languages", "max_articles")


class LoadedModelEncoder(DenseEncoder):
    """A ``DenseEncoder`` over a model already in memory (no disk cache, torch backend)."""

    def __init__(self, model, choice, max_length: int, batch_size: int, precision: str):
        super().__init__(choice, max_length, batch_size, device=str(model.device),
                         precision=precision, backend="torch")
        self.loaded = model

    @property
    def sentence_transformer(self):
        return self.loaded

    def _encode_prefixed(self, texts: list[str], progress: bool):
        from babelir.evaluation.st_evaluator import _encoding_state

        with _encoding_state(self.loaded, self.max_length):  # restored after each call
            return super()._encode_prefixed(texts, progress)


class LoadedModelRetriever(DenseRetriever):
    """The ``dense`` retriever of a loaded sentence-transformers model."""

    description = "dense (sentence-transformers model in memory, exact inner product)"


def model_location(model) -> str:
    """Where a loaded model came from (its folder or Hub id), or its class name."""
    encoder = getattr(model, "transformers_model", None)
    if encoder is None:  # older sentence-transformers
        first = model[0] if hasattr(model, "__getitem__") else None
        encoder = getattr(first, "auto_model", None)
    name = str(getattr(getattr(encoder, "config", None), "_name_or_path", "") or "")
    return name or type(model).__name__


def loaded_model_retriever(model, settings: Mapping[str, Any]) -> LoadedModelRetriever:
    """The retriever of a loaded model with ``EvalConfig``-like ``settings``."""
    from babelir.evaluation.st_evaluator import model_prefixes
    from babelir.models.registry import ModelChoice
    from babelir.retrieval.base import setting

    backend = setting(settings, "backend", "torch")
    if backend not in ("auto", "torch"):
        raise BabelirError(f"a loaded model encodes with torch, not backend {backend!r}: pass "
                           "its folder (or model name) to evaluate with ONNX Runtime")
    own = model_prefixes(model)
    query, passage = settings.get("query_prefix"), settings.get("passage_prefix")
    choice = ModelChoice(model_location(model), model_location(model),
                         own[0] if query is None else query,
                         own[1] if passage is None else passage)
    encoder = LoadedModelEncoder(model, choice, setting(settings, "max_length", 128),
                                 setting(settings, "batch_size", 32),
                                 setting(settings, "precision", "fp32"))
    return LoadedModelRetriever(encoder)


def _is_name(model) -> bool:
    return isinstance(model, (str, os.PathLike))


def _is_loaded(model) -> bool:
    """Whether ``model`` is a loaded model (not a name, not a babelir retriever)."""
    from babelir.retrieval.base import Retriever

    if _is_name(model) or isinstance(model, Retriever):
        return False
    if not (callable(getattr(model, "encode", None)) and hasattr(model, "max_seq_length")):
        raise BabelirError(f"evaluate(): model must be a SentenceTransformer, a model name or "
                           f"folder, 'bm25' or a babelir Retriever, not {type(model).__name__}")
    return True


def _eval_config(model, benchmark: str, languages, max_articles, out, options: dict):
    """The ``EvalConfig`` of an ``evaluate`` call (``model``: the name its results show)."""
    from babelir.eval_job import EvalConfig, refuse_options

    fields = [f.name for f in dataclasses.fields(EvalConfig)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        known = ", ".join(f for f in fields if f not in _ARGUMENTS)
        raise BabelirError(f"evaluate(): unknown option(s) {', '.join(unknown)}; known: {known}")
    if isinstance(languages, str):
        languages = [lang.strip() for lang in languages.split(",") if lang.strip()]
    given = {k: v for k, v in options.items() if v is not None}
    if _is_loaded(model):
        name, checked_as = model_location(model), "dense"
        given.setdefault("backend", "torch")
    else:
        name = os.fspath(model) if _is_name(model) else model.name
        checked_as = os.fspath(model) if _is_name(model) else model
    config = EvalConfig(model=name, benchmark=benchmark, out=None if out is None else str(out),
                        languages=list(languages) if languages else None,
                        max_articles=max_articles, **given)
    refuse_options(dataclasses.replace(config, model=checked_as), list(given),
                   {f: f for f in fields})
    return config


def evaluate(model, benchmark: str = "xquad-r", languages: list[str] | str | None = None,
             max_articles: int | None = None, out: str | os.PathLike | None = None,
             **options) -> EvaluationResult | None:
    """Evaluate ``model`` on ``benchmark`` (see the module docstring); the result holds what
    ``babelir eval`` prints and writes. None only in a helper process of a multi-process
    launcher (MIRACL under torchrun: rank 0 gets the result)."""
    from babelir.evaluation.benchmark import Timer
    from babelir.evaluation.registry import make_benchmark
    from babelir.io import check_output_folder
    from babelir.retrieval.registry import make_retriever, retriever_class

    config = _eval_config(model, benchmark, languages, max_articles, out, options)
    bench = make_benchmark(config.benchmark)
    loaded = _is_loaded(model)
    source = os.fspath(model) if _is_name(model) else model  # a name or a Retriever
    bench.check_retriever(LoadedModelRetriever if loaded
                          else retriever_class(source, bench.model_retriever))
    if config.out is not None:
        check_output_folder(config.out)  # a folder that is not babelir's: refused before work
    timer = Timer()
    with timer("load"):
        data = bench.load(config)
    with timer("retrieve"):
        settings = dataclasses.asdict(config)
        retriever = (loaded_model_retriever(model, settings) if loaded
                     else make_retriever(source, settings, bench.model_retriever))
    evaluation = bench.evaluate(data, retriever, config, timer)
    if evaluation is None:
        return None
    if config.out is not None:
        bench.write(Path(config.out), data, evaluation)
    return EvaluationResult({**evaluation.results, "out": config.out})


def train(config, resume: bool = False, **overrides) -> Path:
    """Train as ``babelir train`` does; returns the final model folder.

    ``config``: a ``TrainConfig``, a dict of its fields, or the path of a YAML file of them;
    ``overrides``: fields that replace the config's (None: not given). Every value is checked
    (``training.config.load_config``) before any work."""
    from babelir.training.config import FIELDS, TrainConfig, load_config
    from babelir.training.run import train as run_training

    if isinstance(config, TrainConfig):
        values, path = config.to_dict(), None
    elif isinstance(config, Mapping):
        values, path = dict(config), None
    elif _is_name(config):
        values, path = {}, Path(config)
    else:
        raise BabelirError(f"train(): config must be a TrainConfig, a dict or a YAML path, "
                           f"not {type(config).__name__}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise BabelirError(f"train(): unknown setting(s) {', '.join(unknown)}; known: "
                           f"{', '.join(FIELDS)}")
    return run_training(load_config(path, values, source="train() arguments"), resume=resume)
