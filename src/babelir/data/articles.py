"""The dev split, by article: group examples into articles, and hash each article to a split.

Examples are the nodes of a graph whose edges join every example to each of its article keys
(within its dataset); an article is a connected component
(``scipy.sparse.csgraph.connected_components``), named by its smallest article key, or
``id:<example_id>`` for an example without one. So every translation of an example, and
every example that shares an article key with it, lands in one article.
``blake2b(seed, dataset, article)`` then decides the split: deterministic, independent of
file order and of any language subset taken afterwards.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _has_key(key: object) -> bool:
    return key is not None and not (isinstance(key, float) and pd.isna(key))


def assign_articles(frame: pd.DataFrame) -> pd.Series:
    """The ``article`` of every row: connected components of examples and article keys.

    ``frame`` needs ``dataset``, ``example_id`` and ``article_key`` (None allowed). Every row
    of one example, and every example sharing an article key within a dataset, get the
    same article: the smallest key of the group (``id:<example_id>`` if it has none).
    """
    example_keys = list(zip(frame["dataset"], frame["example_id"]))
    examples = {ex: i for i, ex in enumerate(dict.fromkeys(example_keys))}
    keys: dict[tuple[str, str], int] = {}  # (dataset, article key) -> node after the examples
    rows, cols = [], []
    for ex, key in zip(example_keys, frame["article_key"]):
        if _has_key(key):
            rows.append(examples[ex])
            cols.append(len(examples) + keys.setdefault((ex[0], key), len(keys)))
    n = len(examples) + len(keys)
    if n == 0:
        return pd.Series([], index=frame.index, dtype=object)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    name: dict[int, str] = {}
    for (_, key), node in keys.items():
        c = int(component[len(examples) + node])
        if c not in name or key < name[c]:
            name[c] = key
    labels = [name.get(int(component[examples[ex]]), f"id:{ex[1]}") for ex in example_keys]
    return pd.Series(labels, index=frame.index, dtype=object)


def split_of(dataset: str, article: str, dev_fraction: float, seed: int = 0) -> str:
    """``dev`` or ``train`` for an article: a deterministic hash, dev with ``dev_fraction``."""
    digest = hashlib.blake2b(f"{seed}\x00{dataset}\x00{article}".encode("utf-8"),
                             digest_size=8).digest()
    return "dev" if int.from_bytes(digest, "big") / 2**64 < dev_fraction else "train"
