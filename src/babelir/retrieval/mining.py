"""Hard-negative mining: one similar-but-wrong passage per (example, passage language).

:func:`mine_hard_negatives` adds a ``negative`` column to a pairs table (long format, see
:mod:`babelir.data.pairs`). For a row of dataset ``D`` whose positive passage ``p`` is in
language ``L`` the negative is

* a passage of the SAME dataset ``D`` and the SAME language ``L`` (so it sits in the same
  corpus as the positive, whatever language the question is in: X-X and X-Y batches can
  both use it);
* similar to ``p`` itself (PASSAGE-to-passage similarity, independent of the query
  language): BM25 (``method="bm25"``, babelir's bm25s scorer with one index over the
  group's passages) or the inner product of L2-normalised embeddings of a dense model
  (``method="model"``; both sides get the model's passage prefix);
* never a passage of the row's own example id (translations are positives; in practice
  that is ``p``, as one example has one passage per language) and never a text identical to
  ``p``;
* drawn uniformly among the ``top_k`` most similar passages that remain, deterministically:
  the draw depends only on ``seed`` and the row's (dataset, example_id, lang) key (a
  blake2b hash, so neither Python's salted ``hash`` nor the row order matters).

Duplicate passage texts (MLQA repeats a paragraph under several question ids, and
translations of different ids can coincide) are mined ONCE: each (dataset, lang) group is
reduced to its sorted distinct texts, neighbours are computed between distinct texts, and
each row then drops the candidates owned by its own example id before drawing.

A row gets ``None`` when it has no passage, when its group has fewer than 2 distinct
passages, or when every candidate is excluded. The table's ``attrs["mining"]`` records the
settings, the time taken and the skipped groups; :func:`mining_summary` counts the rows with
and without a negative per dataset and language.

Memory: similarities are computed in blocks of ``block_size`` query rows against all the
group's distinct passages (a (block_size, n) float32 block), so a group of n passages never
needs the full n x n matrix.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from babelir.errors import BabelirError
from babelir.retrieval.bm25 import DEFAULT_TOKENIZER

METHODS = ("bm25", "model")
REQUIRED_COLUMNS = ("dataset", "example_id", "lang", "passage")
NEGATIVE = "negative"


# ---------------------------------------------------------------------------- helpers


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _check_columns(frame: object, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise BabelirError(f"{what} needs a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BabelirError(f"{what}: the table lacks the column(s) {', '.join(missing)} "
                           f"(needs {', '.join(columns)})")


def _draw(seed: int, dataset: str, example_id: str, lang: str, n: int) -> int:
    """A uniform index in ``range(n)`` fixed by the seed and the row's key (no salted hash)."""
    key = "\x1f".join((str(seed), str(dataset), str(example_id), str(lang)))
    value = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    return value % n  # modulo bias < n / 2**64: negligible


def _retriever(method: str, model, tokenizer: str, settings: dict):
    """The retriever of a mining method: ``bm25`` (with ``tokenizer``), or ``model``: the dense
    retriever of ``model`` (a model name, or a ``Retriever``) with ``settings``."""
    from babelir.retrieval.registry import make_retriever

    if method == "bm25":
        return make_retriever("bm25", {"bm25_tokenizer": tokenizer})
    return make_retriever(model, settings)


def _check_numbers(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise BabelirError(f"{name} must be a positive integer, not {value!r}")


def _groups(pairs: pd.DataFrame) -> dict[tuple[str, str], list[int]]:
    """Row positions with a passage, per (dataset, lang)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (dataset, lang, passage) in enumerate(zip(pairs["dataset"], pairs["lang"],
                                                     pairs["passage"])):
        if _is_missing(passage):
            continue
        if not isinstance(passage, str):
            raise BabelirError(f"row {i}: passage is not a text ({type(passage).__name__})")
        groups.setdefault((str(dataset), str(lang)), []).append(i)
    return groups


def _mine_group(retriever, rows: list[int], ids: list, passages: list, key: tuple[str, str],
                top_k: int, seed: int, block_size: int) -> tuple[dict[int, str], int] | None:
    """The negatives of one (dataset, lang) group's rows and how many rows got none; None
    when the group has fewer than 2 distinct passages."""
    dataset, lang = key
    texts = sorted({passages[i] for i in rows})
    if len(texts) < 2:
        return None
    index = {text: u for u, text in enumerate(texts)}
    owned: dict[object, set[int]] = {}  # example id -> its distinct texts in this group
    for i in rows:
        owned.setdefault(ids[i], set()).add(index[passages[i]])
    # enough neighbours that top_k survive the exclusion of a row's own texts
    k = min(len(texts), top_k + max(len(s) for s in owned.values()))
    neighbours = retriever.neighbours(texts, k, block_size)
    negatives, without_candidate = {}, 0
    for i in rows:
        exclude = owned[ids[i]]
        candidates = [int(c) for c in neighbours[index[passages[i]]]
                      if c >= 0 and c not in exclude][:top_k]
        if not candidates:
            without_candidate += 1
            continue
        negatives[i] = texts[candidates[_draw(seed, dataset, ids[i], lang, len(candidates))]]
    return negatives, without_candidate


def _mine_groups(retriever, groups: dict[tuple[str, str], list[int]], ids: list,
                 passages: list, draw: tuple[int, int, int], desc: str, show_progress: bool,
                 ) -> tuple[list[str | None], list[dict], int]:
    """Every row's negative (or None), the skipped groups and the count of rows left
    without a candidate; ``draw`` is (top_k, seed, block_size)."""
    negatives: list[str | None] = [None] * len(passages)
    skipped: list[dict] = []
    without_candidate = 0
    progress = tqdm(sorted(groups.items()), desc=desc, unit="group", disable=not show_progress)
    for (dataset, lang), rows in progress:
        progress.set_postfix_str(f"{dataset}/{lang} ({len(rows)} rows)")
        mined = _mine_group(retriever, rows, ids, passages, (dataset, lang), *draw)
        if mined is None:
            skipped.append({"dataset": dataset, "lang": lang, "rows": len(rows),
                            "distinct_passages": len({passages[i] for i in rows})})
            continue
        for i, negative in mined[0].items():
            negatives[i] = negative
        without_candidate += mined[1]
    progress.close()
    return negatives, skipped, without_candidate


# ---------------------------------------------------------------------------- public API


def mine_hard_negatives(
    pairs: pd.DataFrame,
    method: str = "bm25",
    model: str | None = None,
    top_k: int = 10,
    seed: int = 0,
    batch_size: int = 32,
    max_length: int = 128,
    *,
    precision: str = "fp32",
    backend: str = "auto",
    tokenizer: str = DEFAULT_TOKENIZER,
    block_size: int = 4096,
    device: str | None = None,
    cache_root: str | Path | None = None,
    embedding_cache: bool = False,
    show_progress: bool = True,
) -> pd.DataFrame:
    """A copy of ``pairs`` with a ``negative`` column (str or None); see the module docstring.

    ``method``: ``"bm25"`` (``tokenizer`` names a BM25 tokeniser) or ``"model"`` (``model``
    is a model name for :func:`babelir.models.registry.resolve_model`, e.g. the bundled
    ``"multilingual-e5-small"``; ``batch_size``, ``max_length``, ``device``, ``precision``
    and ``backend`` go to the
    :class:`~babelir.retrieval.dense.DenseEncoder`; ``embedding_cache=True`` caches the
    embeddings under ``<cache>/embeddings``). ``top_k``: the negative is drawn among this
    many nearest passages. ``block_size``: query rows scored at once. An existing
    ``negative`` column is replaced. ``attrs["mining"]`` of the result records the settings,
    ``seconds``, ``groups``, ``skipped_groups`` (groups with fewer than 2 distinct passages)
    and ``rows_without_candidate``.
    """
    _check_columns(pairs, REQUIRED_COLUMNS, "mine_hard_negatives")
    if method not in METHODS:
        raise BabelirError(f"unknown mining method {method!r}; choose one of "
                           f"{', '.join(repr(m) for m in METHODS)}")
    if method == "model" and not model:
        raise BabelirError('mining method "model" needs a model name (model=..., e.g. '
                           '"multilingual-e5-small")')
    _check_numbers(top_k=top_k, block_size=block_size, batch_size=batch_size,
                   max_length=max_length)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise BabelirError(f"seed must be an integer, not {seed!r}")
    retriever = _retriever(method, model, tokenizer, {
        "batch_size": batch_size, "max_length": max_length, "device": device,
        "cache_dir": cache_root, "embedding_cache": embedding_cache, "precision": precision,
        "backend": backend})

    started = time.perf_counter()
    groups = _groups(pairs)
    negatives, skipped, without_candidate = _mine_groups(
        retriever, groups, pairs["example_id"].tolist(), pairs["passage"].tolist(),
        (top_k, seed, block_size), f"mining negatives ({method})", show_progress)
    out = pairs.copy()
    out[NEGATIVE] = pd.Series(negatives, index=out.index, dtype=object)
    out.attrs["mining"] = {
        "method": method,
        "model": model if method == "model" else None,
        "tokenizer": tokenizer if method == "bm25" else None,
        "top_k": int(top_k),
        "seed": int(seed),
        "seconds": round(time.perf_counter() - started, 3),
        "groups": len(groups),
        "skipped_groups": skipped,
        "rows_without_candidate": without_candidate,
    }
    return out


def mining_summary(df: pd.DataFrame) -> dict:
    """Rows with / without a negative per dataset and language, plus totals.

    ``{"datasets": {dataset: {lang: counts}}, "total": counts}`` where ``counts`` holds
    ``rows``, ``with_passage``, ``with_negative``, ``without_negative`` (rows with a passage
    but no negative), ``without_passage`` and ``share`` (with_negative / with_passage, None
    when no row has a passage); ``mining`` repeats ``df.attrs["mining"]`` when present.
    """
    _check_columns(df, ("dataset", "lang", NEGATIVE), "mining_summary")
    has_passage = ([not _is_missing(p) for p in df["passage"]] if "passage" in df.columns
                   else [True] * len(df))
    has_negative = [not _is_missing(n) for n in df[NEGATIVE]]

    def empty() -> dict:
        return {"rows": 0, "with_passage": 0, "with_negative": 0, "without_negative": 0,
                "without_passage": 0}

    datasets: dict[str, dict[str, dict]] = {}
    total = empty()
    for dataset, lang, passage, negative in zip(df["dataset"], df["lang"], has_passage,
                                                has_negative):
        counts = datasets.setdefault(str(dataset), {}).setdefault(str(lang), empty())
        for c in (counts, total):
            c["rows"] += 1
            c["with_passage"] += int(passage)
            c["without_passage"] += int(not passage)
            c["with_negative"] += int(negative)
            c["without_negative"] += int(passage and not negative)

    def finish(c: dict) -> dict:
        c["share"] = round(c["with_negative"] / c["with_passage"], 6) if c["with_passage"] else None
        return c

    summary = {
        "datasets": {d: {lang: finish(c) for lang, c in sorted(by_lang.items())}
                     for d, by_lang in sorted(datasets.items())},
        "total": finish(total),
    }
    if "mining" in df.attrs:
        summary["mining"] = df.attrs["mining"]
    return summary
