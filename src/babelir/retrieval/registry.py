"""The retrievers ``babelir`` knows, by name, and the one factory that makes them.

A new retriever is one new module defining a ``retrieval.base.Retriever`` subclass, plus one
line in ``_BUILT_IN`` (or a ``register_retriever`` call, e.g. from a test).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from babelir.errors import BabelirError
from babelir.retrieval.base import Retriever

#: name -> "module:Class", imported on first use (the dense stack loads torch models)
_BUILT_IN = {
    "bm25": "babelir.retrieval.bm25:Bm25Retriever",
    "dense": "babelir.retrieval.dense:DenseRetriever",
    "faiss": "babelir.retrieval.faiss_retriever:FaissRetriever",
}
_REGISTERED: dict[str, type[Retriever]] = {}


def register_retriever(cls: type[Retriever], name: str | None = None) -> type[Retriever]:
    """Add a retriever class under ``name`` (default ``cls.name``); usable as a decorator."""
    _REGISTERED[name or cls.name] = cls
    return cls


def unregister_retriever(name: str) -> None:
    _REGISTERED.pop(name, None)


def retriever_names() -> list[str]:
    return [*_BUILT_IN, *(n for n in _REGISTERED if n not in _BUILT_IN)]


def _lookup(name: str) -> type[Retriever] | None:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILT_IN:
        module, _, attr = _BUILT_IN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    return None


def retriever_class(model: str | Retriever, default: str = "dense") -> type[Retriever]:
    """The class that serves ``model``: a retriever named by it that takes no model (e.g.
    ``bm25``), else the ``default`` retriever (a model-encoding one) for that model."""
    if isinstance(model, Retriever):
        return type(model)
    named = _lookup(model)
    if named is not None and not named.takes_model:
        return named
    cls = _lookup(default)
    if cls is None:
        raise BabelirError(f"unknown retriever {default!r}; known: {', '.join(retriever_names())}")
    return cls


def make_retriever(model: str | Retriever, settings: Mapping[str, Any] | None = None,
                   default: str = "dense") -> Retriever:
    """The retriever for ``model`` (a retriever, a retriever name such as ``"bm25"``, or a
    model name for the ``default`` retriever), made with ``settings`` (``EvalConfig``-like
    keys; missing or None values take the retriever's defaults)."""
    if isinstance(model, Retriever):
        return model
    return retriever_class(model, default).create(model, settings or {})
