"""The ``Retriever`` interface: what every way of retrieving (dense, BM25, faiss, ...) offers.

A retriever encodes or indexes a candidate set (``index``: texts held in memory;
``index_corpus``: a MIRACL-format corpus file streamed from disk) and the ``CandidateIndex``
it returns scores or searches queries:

- ``score(queries)`` -> a block scorer, ``n_queries`` and ``block(start, stop) -> (pooled,
  by_group)``: the scores of the query rows ``start:stop`` against every candidate, searched
  as one pool and within each candidate's group (language) alone (the same matrix where the
  scores do not depend on the indexed set, as for a dense model; not for BM25, whose document
  frequencies are per index). Benchmarks that rank every candidate use it;
- ``search(queries, k) -> (scores, ids)``: the top ``k`` row ids of each query, best first,
  ``-1`` (score ``-inf``) where there are fewer.

Texts travel as a ``TextSet`` (texts, their group of each, and whether they are queries or
passages: a bi-encoder prefixes the two differently). ``options`` names the evaluation
settings (``eval_job.EvalConfig`` fields) a retriever reads: ``babelir eval`` refuses the
others. Retrievers are made by name through ``retrieval.registry.make_retriever``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from babelir.errors import BabelirError

#: The settings of dense encoding (``retrieval.dense.DenseEncoder``).
ENCODING_OPTIONS = frozenset({"max_length", "batch_size", "precision", "backend",
                              "query_prefix", "passage_prefix", "device"})


@dataclass
class TextSet:
    """Texts to index or to query with. ``groups[i]`` is the position of text i's group
    (language) in ``names`` (None: one group); ``kind`` is "query" or "passage"."""

    texts: list[str]
    groups: np.ndarray | None = None
    names: tuple[str, ...] = ()
    kind: str = "passage"

    def __len__(self) -> int:
        return len(self.texts)

    def group_labels(self) -> list[str] | None:
        """The group name of every text, or None when the texts form one group."""
        return None if self.groups is None else [self.names[g] for g in self.groups]


class BlockScores(Protocol):
    """Scores of queries against candidates, one block of query rows at a time."""

    @property
    def n_queries(self) -> int: ...

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]: ...


class InnerProductBlocks:
    """Vector scores computed one block of queries at a time: ``queries[a:b] @ candidates.T``
    (float32, on the CPU), never the full (queries × candidates) matrix; pooled and by-group
    scores are the same matrix, since a vector's score does not depend on the other vectors."""

    def __init__(self, queries: np.ndarray, candidates: np.ndarray):
        self.queries = torch.as_tensor(np.asarray(queries, dtype=np.float32))
        self.candidates = torch.as_tensor(np.asarray(candidates, dtype=np.float32))

    @property
    def n_queries(self) -> int:
        return int(self.queries.shape[0])

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        scores = (self.queries[start:stop] @ self.candidates.T).numpy()
        return scores, scores


class CandidateIndex(ABC):
    """An encoded or indexed candidate set (``Retriever.index`` / ``index_corpus``).
    ``docids``: the candidates' ids where the corpus named them (row id ``i`` is ``docids[i]``)."""

    docids: list[str] | None = None

    @abstractmethod
    def score(self, queries: TextSet) -> BlockScores:
        """Every query against every candidate, block by block (see the module docstring)."""

    def search(self, queries: TextSet, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, row ids) of each query in the pooled scores, best first."""
        scores = self.score(queries)
        pooled = torch.as_tensor(scores.block(0, scores.n_queries)[0])
        top = torch.topk(pooled, min(int(k), pooled.shape[1]), dim=1)
        values = np.full((len(queries), int(k)), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), int(k)), -1, dtype=np.int64)
        values[:, :top.values.shape[1]] = top.values.numpy()
        ids[:, :top.indices.shape[1]] = top.indices.numpy()
        return values, ids


class Retriever(ABC):
    """A way to retrieve: see the module docstring. Subclasses set ``name`` (their registry
    name), ``options`` (the settings they read), ``takes_model`` (True: ``--model`` names a
    model this retriever encodes with; False: ``--model`` is the retriever's own name), and
    what their indexes can do: ``scores_all`` (``CandidateIndex.score``: every candidate
    scored) and ``indexes_corpus`` (``index_corpus`` implemented)."""

    name: ClassVar[str] = ""
    options: ClassVar[frozenset[str]] = frozenset()
    takes_model: ClassVar[bool] = True
    scores_all: ClassVar[bool] = True
    indexes_corpus: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def create(cls, model: str, settings: Mapping[str, Any]) -> Retriever:
        """The retriever for ``model`` with ``settings`` (EvalConfig-like; None = default)."""

    @abstractmethod
    def index(self, candidates: TextSet) -> CandidateIndex:
        """Encode or index candidates held in memory."""

    def index_corpus(self, corpus: Path, name: str) -> CandidateIndex:
        """Index a MIRACL-format corpus file (JSONL[.gz] ``{docid, title, text}``) streamed
        from disk; ``name`` (e.g. its language) tells corpora apart in caches."""
        raise BabelirError(f"the {self.name} retriever indexes texts held in memory, not a "
                           "corpus file (the faiss retriever or bm25 do)")

    def describe(self) -> dict:
        """What results files record about this retriever."""
        return {"retriever": self.name}

    def neighbours(self, texts: list[str], k: int, block_size: int = 4096) -> np.ndarray:
        """(n, k) row ids of each text's ``k`` most similar other texts (passage to
        passage), best first; -1 where there are fewer."""
        items = TextSet(list(texts))
        scores = self.index(items).score(items)
        return top_k_blocks(lambda a, b: torch.as_tensor(scores.block(a, b)[0]), len(items), k,
                            block_size)


def top_k_blocks(score_block: Callable[[int, int], torch.Tensor], n: int, k: int,
                 block_size: int) -> np.ndarray:
    """(n, k) int64 indices of the k best columns of each row, best first; -1 = none.

    ``score_block(start, stop)`` returns the (stop - start, n) float32 torch tensor of rows
    ``start:stop``. A row's own column (the diagonal) is excluded (set to -inf); entries
    that are -inf (only possible when k reaches n) come back as -1.
    """
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        scores = score_block(start, stop).float()
        rows = torch.arange(stop - start, device=scores.device)
        scores[rows, rows + start] = float("-inf")
        values, indices = torch.topk(scores, k, dim=1, largest=True, sorted=True)
        indices = indices.cpu().numpy().astype(np.int64)
        indices[torch.isneginf(values).cpu().numpy()] = -1
        out[start:stop] = indices
    return out


def portable_path(path: str) -> str:
    """A path relative to the working folder, or with ``~`` for the home folder: kept results
    travel between machines. Model names that are not paths pass unchanged."""
    for root, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return shown + str(Path(path).relative_to(root))
        except ValueError:
            continue
    return path


def setting(settings: Mapping[str, Any], name: str, default: Any) -> Any:
    """``settings[name]``, or ``default`` where it is missing or None."""
    value = settings.get(name)
    return default if value is None else value
