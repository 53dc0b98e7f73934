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
import torch
from tqdm.auto import tqdm

from babelir.errors import BabelirError
from babelir.retrieval.bm25 import DEFAULT_TOKENIZER, bm25_score_matrix_from_tokens
from babelir.retrieval.tokenize import get_tokenizer

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


def _topk_blocks(score_block, n: int, k: int, block_size: int) -> np.ndarray:
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


def _bm25_neighbours(texts: list[str], k: int, tokenizer: str, block_size: int) -> np.ndarray:
    """BM25 neighbours of each text among ``texts`` (one index over them, texts as queries)."""
    tokens = get_tokenizer(tokenizer)(texts)

    def block(start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(bm25_score_matrix_from_tokens(tokens[start:stop], tokens))

    return _topk_blocks(block, len(texts), k, block_size)


def _dense_neighbours(embeddings: np.ndarray, k: int, block_size: int,
                      device: str) -> np.ndarray:
    """Inner-product neighbours of each embedding among ``embeddings``."""
    matrix = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)).to(device)

    def block(start: int, stop: int) -> torch.Tensor:
        return matrix[start:stop] @ matrix.T

    return _topk_blocks(block, matrix.shape[0], k, block_size)


def _make_encoder(model: str, batch_size: int, max_length: int, device: str | None,
                  cache_root: Path | None, embedding_cache: bool, precision: str = "fp32",
                  backend: str = "auto"):
    from babelir.models.registry import resolve_model
    from babelir.retrieval.dense import DenseEncoder, EmbeddingCache
    from babelir.settings import cache_dir

    root = cache_dir(cache_root)
    choice = resolve_model(model, root)
    cache = EmbeddingCache(root / "embeddings") if embedding_cache else None
    return DenseEncoder(choice, max_length=max_length, batch_size=batch_size, device=device,
                        cache=cache, precision=precision, backend=backend, cache_root=root)


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
    for name, value in (("top_k", top_k), ("block_size", block_size),
                        ("batch_size", batch_size), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise BabelirError(f"{name} must be a positive integer, not {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise BabelirError(f"seed must be an integer, not {seed!r}")
    if method == "bm25":
        get_tokenizer(tokenizer)  # fail early on an unknown tokeniser

    started = time.perf_counter()
    datasets = pairs["dataset"].tolist()
    ids = pairs["example_id"].tolist()
    langs = pairs["lang"].tolist()
    passages = pairs["passage"].tolist()
    negatives: list[str | None] = [None] * len(pairs)

    groups: dict[tuple[str, str], list[int]] = {}
    for i, passage in enumerate(passages):
        if _is_missing(passage):
            continue
        if not isinstance(passage, str):
            raise BabelirError(f"row {i}: passage is not a text ({type(passage).__name__})")
        groups.setdefault((str(datasets[i]), str(langs[i])), []).append(i)

    encoder = None
    if method == "model":
        encoder = _make_encoder(model, batch_size, max_length, device,
                                Path(cache_root) if cache_root is not None else None,
                                embedding_cache, precision, backend)

    skipped: list[dict] = []
    without_candidate = 0
    progress = tqdm(sorted(groups.items()), desc=f"mining negatives ({method})", unit="group",
                    disable=not show_progress)
    for (dataset, lang), rows in progress:
        progress.set_postfix_str(f"{dataset}/{lang} ({len(rows)} rows)")
        texts = sorted({passages[i] for i in rows})
        if len(texts) < 2:
            skipped.append({"dataset": dataset, "lang": lang, "rows": len(rows),
                            "distinct_passages": len(texts)})
            continue
        index = {text: u for u, text in enumerate(texts)}
        owned: dict[object, set[int]] = {}  # example id -> its distinct texts in this group
        for i in rows:
            owned.setdefault(ids[i], set()).add(index[passages[i]])
        # enough neighbours that top_k survive the exclusion of a row's own texts
        k = min(len(texts), top_k + max(len(s) for s in owned.values()))
        if method == "bm25":
            neighbours = _bm25_neighbours(texts, k, tokenizer, block_size)
        else:
            embeddings = encoder.encode(texts, "passage")
            neighbours = _dense_neighbours(embeddings, k, block_size, encoder.device)
        for i in rows:
            exclude = owned[ids[i]]
            candidates = [int(c) for c in neighbours[index[passages[i]]]
                          if c >= 0 and c not in exclude][:top_k]
            if not candidates:
                without_candidate += 1
                continue
            pick = _draw(seed, dataset, ids[i], lang, len(candidates))
            negatives[i] = texts[candidates[pick]]
    progress.close()

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
