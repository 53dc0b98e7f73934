"""One training batch, its per-rank share under DDP, and a count of what batches contained."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from babelir.errors import BabelirError

KINDS = ("mono", "cross", "mixed")
"""``mono``: every pair in one language (X-X-mono, En-En); ``cross``: query and passage
languages differ in every pair (X-Y); ``mixed``: each pair in one language, languages mixed
across the batch (LAReQA X-X)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class Batch:
    """Pairs (example ``example_idx[k]``, query in ``languages[query_lang[k]]``, positive
    passage in ``languages[passage_lang[k]]``). All examples are distinct and from the one
    dataset ``dataset``, so every other example's passage is a true in-batch negative.
    ``lang`` is the language of a ``mono`` batch, else None."""

    example_idx: np.ndarray
    query_lang: np.ndarray
    passage_lang: np.ndarray
    kind: str
    dataset: str
    languages: tuple[str, ...]
    lang: str | None = None
    step: int = 0

    def __post_init__(self) -> None:
        n = len(self.example_idx)
        if len(self.query_lang) != n or len(self.passage_lang) != n:
            raise BabelirError(f"batch columns differ in length: {n}, {len(self.query_lang)}, "
                               f"{len(self.passage_lang)}")

    def __len__(self) -> int:
        return len(self.example_idx)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return ((self.kind, self.dataset, self.lang, self.step, self.languages)
                == (other.kind, other.dataset, other.lang, other.step, other.languages)
                and all(np.array_equal(a, b) for a, b in (
                    (self.example_idx, other.example_idx),
                    (self.query_lang, other.query_lang),
                    (self.passage_lang, other.passage_lang))))

    def pairs(self) -> list[tuple[int, str, str]]:
        """(example index, query language, passage language) per pair."""
        return [(int(e), self.languages[q], self.languages[p])
                for e, q, p in zip(self.example_idx, self.query_lang, self.passage_lang)]


def shard(batch: Batch, rank: int, world_size: int) -> Batch:
    """Rank ``rank``'s contiguous share of a global batch, for DDP: ranks get disjoint slices
    whose union is the batch. Each rank's negatives are then its own slice (or, with an
    all-gather, the whole global batch — both only ever hold distinct examples)."""
    for name, value in (("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise BabelirError(f"{name} must be an integer, got {value!r}")
    if world_size < 1:
        raise BabelirError(f"world_size must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise BabelirError(f"rank {rank} is outside 0..{world_size - 1}")
    if len(batch) % world_size:
        raise BabelirError(f"global batch size {len(batch)} is not divisible by world size "
                           f"{world_size}: choose a batch size that is a multiple of it")
    per_rank = len(batch) // world_size
    part = slice(rank * per_rank, (rank + 1) * per_rank)
    return replace(batch, example_idx=batch.example_idx[part],
                   query_lang=batch.query_lang[part], passage_lang=batch.passage_lang[part])


def summarise(batches: Iterable[Batch]) -> dict:
    """What the batches held, for the run's data summary (JSON-ready)::

        {"batches": n, "pairs": total pairs,
         "kinds": {kind: batches}, "datasets": {dataset: batches},
         "mono_languages": {lang: mono batches},
         "language_pairs": {query lang: {passage lang: pairs}}}
    """
    kinds: Counter[str] = Counter()
    datasets: Counter[str] = Counter()
    mono: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    n_batches = n_pairs = 0
    for batch in batches:
        n_batches += 1
        n_pairs += len(batch)
        kinds[batch.kind] += 1
        datasets[batch.dataset] += 1
        if batch.lang is not None:
            mono[batch.lang] += 1
        width = len(batch.languages)
        codes, counts = np.unique(batch.query_lang * width + batch.passage_lang,
                                  return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist()):
            pairs[batch.languages[code // width], batch.languages[code % width]] += count
    language_pairs: dict[str, dict[str, int]] = {}
    for (q, p), count in sorted(pairs.items()):
        language_pairs.setdefault(q, {})[p] = count
    return {"batches": n_batches, "pairs": n_pairs, "kinds": dict(sorted(kinds.items())),
            "datasets": dict(sorted(datasets.items())),
            "mono_languages": dict(sorted(mono.items())),
            "language_pairs": language_pairs}
