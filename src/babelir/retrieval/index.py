"""Vector indexes for corpora too large for a full score matrix, and a saved BM25 index.

One interface over three faiss indexes, all scoring by inner product (embeddings are
L2-normalised, so it is the cosine):

- ``exact`` (default): ``IndexFlatIP``, brute force, the reference; 4·dim bytes per vector;
- ``hnsw``: ``IndexHNSWFlat(dim, M, METRIC_INNER_PRODUCT)``, a graph; params ``M`` (32),
  ``ef_construction`` (200), ``ef_search`` (128); vectors plus ~2·M·4 bytes of links;
- ``ivfpq``: ``IndexIVFPQ`` over a flat inner-product quantizer; params ``nlist``
  (≈ 4·√n), ``m`` sub-quantizers (dim/8, i.e. one byte per 8 dimensions with ``nbits`` 8;
  dim/4 below 128 dimensions), ``nbits`` (8), ``nprobe`` (32), ``train_size`` (the
  number of vectors sampled to train the coarse and product quantizers, 100k max), ``refine``
  (0: off; r > 0 wraps it in ``IndexRefineFlat``: the r·k best PQ candidates are re-scored
  exactly, at the cost of storing the full vectors too).

Row ids are the 0-based positions of the vectors in the order they were added (map them to
docids with ``ShardedEmbeddings.docids``). ``search(queries, k, restrict_to=ids)`` searches
only the given ids (e.g. one language of a multilingual pool), via ``faiss.IDSelectorBatch``
in ``SearchParameters(sel=...)``; missing results (fewer than k allowed vectors, or a graph
walk that found too few) are ``id = -1`` with score ``-inf``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError, DataError
from babelir.io import atomic_dir

KINDS = ("exact", "hnsw", "ivfpq")
DEFAULT_KIND = "exact"


def _faiss():
    import faiss

    return faiss


def _f32(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def _chunks(vectors, rows: int = 65_536) -> Iterable[np.ndarray]:
    """float32 blocks from an array, a ``ShardedEmbeddings`` or an iterable of arrays."""
    if hasattr(vectors, "iter_chunks"):
        yield from vectors.iter_chunks(rows)
    elif isinstance(vectors, np.ndarray):
        for start in range(0, len(vectors), rows):
            yield _f32(vectors[start:start + rows])
    else:
        for block in vectors:
            yield _f32(block)


def _training_sample(vectors, size: int, seed: int) -> np.ndarray:
    if isinstance(vectors, np.ndarray):
        n = len(vectors)
        rows = np.sort(np.random.default_rng(seed).choice(n, size=min(size, n), replace=False))
        return _f32(vectors[rows])
    if hasattr(vectors, "iter_shards"):  # sample evenly from every shard (memory-mapped)
        n = len(vectors)
        rng = np.random.default_rng(seed)
        parts = []
        for shard in vectors.iter_shards():
            take = min(len(shard), max(1, round(size * len(shard) / max(n, 1))))
            parts.append(_f32(shard[np.sort(rng.choice(len(shard), take, replace=False))]))
        return np.concatenate(parts)
    raise BabelirError("ivfpq needs an array or ShardedEmbeddings (it samples to train)")


class VectorIndex:
    """A faiss index of one kind with its parameters; see the module docstring."""

    def __init__(self, index, kind: str, params: dict):
        self.index = index
        self.kind = kind
        self.params = params
        self.build_seconds: float | None = None
        self.mapped = False  # True when ``load(mmap=True)`` mapped the file

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    # ------------------------------------------------------------------ build
    @classmethod
    def empty(cls, dim: int, kind: str = DEFAULT_KIND, n_hint: int | None = None,
              **params) -> VectorIndex:
        faiss = _faiss()
        if kind not in KINDS:
            raise BabelirError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
        if kind == "exact":
            unknown = set(params)
            if unknown:
                raise BabelirError(f"exact index takes no parameters, got {sorted(unknown)}")
            return cls(faiss.IndexFlatIP(dim), kind, {})
        if kind == "hnsw":
            p = {"M": 32, "ef_construction": 200, "ef_search": 128}
            _update(p, params, kind)
            index = faiss.IndexHNSWFlat(dim, int(p["M"]), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(p["ef_construction"])
            index.hnsw.efSearch = int(p["ef_search"])
            return cls(index, kind, p)
        n = n_hint or 100_000
        p = {"nlist": max(1, min(65_536, int(4 * math.sqrt(n)))),
             "m": dim // 8 if dim >= 128 else max(1, dim // 4), "nbits": 8, "nprobe": 32,
             "train_size": 100_000, "seed": 0, "refine": 0}
        _update(p, params, kind)
        if dim % int(p["m"]):
            raise BabelirError(f"ivfpq: m={p['m']} must divide the dimension {dim}")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, int(p["nlist"]), int(p["m"]), int(p["nbits"]),
                                 faiss.METRIC_INNER_PRODUCT)
        index.nprobe = int(p["nprobe"])
        owners = [quantizer, index]  # keep the Python owners alive
        if p["refine"]:  # re-rank refine·k PQ candidates by exact inner product (stores vectors)
            index = faiss.IndexRefineFlat(index)
            index.k_factor = float(p["refine"])
        vi = cls(index, kind, p)
        vi._owners = owners
        return vi

    @classmethod
    def build(cls, vectors, kind: str = DEFAULT_KIND, **params) -> VectorIndex:
        """Index ``vectors``: an (n, dim) array, a ``ShardedEmbeddings`` (added shard by
        shard from the memory-mapped files) or, for exact/hnsw, an iterable of blocks."""
        started = time.perf_counter()
        if isinstance(vectors, np.ndarray):
            if vectors.ndim != 2:
                raise BabelirError(f"vectors must be 2-D, got shape {vectors.shape}")
            n, dim = vectors.shape
        elif hasattr(vectors, "iter_chunks"):
            n, dim = len(vectors), vectors.dim
        else:
            vectors = list(vectors)
            n, dim = sum(len(b) for b in vectors), np.asarray(vectors[0]).shape[1]
        vi = cls.empty(dim, kind, n_hint=n, **params)
        if kind == "ivfpq":
            p = vi.params
            sample = _training_sample(vectors, int(p["train_size"]), int(p["seed"]))
            if len(sample) < int(p["nlist"]):
                raise BabelirError(f"ivfpq: {len(sample)} training vectors for nlist="
                                   f"{p['nlist']}; lower nlist")
            vi.index.train(sample)
        for block in _chunks(vectors):
            vi.index.add(block)
        vi.build_seconds = time.perf_counter() - started
        return vi

    def add(self, vectors) -> None:
        for block in _chunks(vectors):
            self.index.add(block)

    # ------------------------------------------------------------------ search
    def _search_params(self, sel):
        faiss = _faiss()
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=sel, efSearch=int(self.params["ef_search"]))
        if self.kind == "ivfpq":
            ivf = faiss.SearchParametersIVF(sel=sel, nprobe=int(self.params["nprobe"]))
            if self.params.get("refine"):
                params = faiss.IndexRefineSearchParameters(
                    k_factor=float(self.params["refine"]), base_index_params=ivf)
                params._owner = ivf  # the C++ struct points at ``ivf``
                return params
            return ivf
        return faiss.SearchParameters(sel=sel)

    def search(self, queries: np.ndarray, k: int, restrict_to=None,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids), each (n_queries, k), best first; ``restrict_to``: the
        only row ids that may be returned (array of ints), or None for all."""
        faiss = _faiss()
        q = _f32(queries)
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != self.dim:
            raise BabelirError(f"query dimension {q.shape[1]} != index dimension {self.dim}")
        k = int(k)
        if restrict_to is None:
            params = self._search_params(None) if self.kind != "exact" else None
            scores, ids = self.index.search(q, k, params=params)
        else:
            allowed = np.ascontiguousarray(np.unique(np.asarray(restrict_to, dtype=np.int64)))
            sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
            scores, ids = self.index.search(q, k, params=self._search_params(sel))
            del sel, allowed  # (kept alive until here: the selector points into ``allowed``)
        scores = scores.astype(np.float32, copy=False)
        scores[ids < 0] = -np.inf
        return scores, ids

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike) -> Path:
        """``<folder>/index.faiss`` + ``index.json`` (kind, params, n, dim), atomically."""
        faiss = _faiss()
        with atomic_dir(folder, legacy=_holds("index.json", "index.faiss")) as tmp:
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            (tmp / "index.json").write_text(json.dumps(
                {"kind": self.kind, "params": self.params, "n": self.ntotal, "dim": self.dim,
                 "faiss": faiss.__version__}, indent=2) + "\n")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = False) -> VectorIndex:
        """Read a saved index; ``mmap=True`` maps it read-only for search instead (``exact``
        and ``hnsw`` vectors: ``IO_FLAG_MMAP_IFC``; ``ivfpq`` lists: ``IO_FLAG_MMAP``). Where
        faiss cannot, it is read in with a note on stderr (``.mapped`` says which). Same
        search results either way."""
        faiss = _faiss()
        folder = Path(folder)
        meta_path = folder / "index.json"
        if not meta_path.is_file():
            raise BabelirError(f"{folder} is not a saved index (no index.json)")
        meta = json.loads(meta_path.read_text())
        path = str(folder / "index.faiss")
        flags, index = _mmap_flags(faiss, meta["kind"]) if mmap else 0, None
        if flags:
            try:
                index = faiss.read_index(path, flags)
            except RuntimeError:
                flags = 0
        if mmap and not flags:
            print(f"babelir: note: faiss {faiss.__version__} cannot map the {meta['kind']} "
                  f"index {folder}; reading it into memory", file=sys.stderr)
        if index is None:
            try:
                index = faiss.read_index(path)
            except RuntimeError as exc:  # faiss reports a short or garbled file this way
                raise DataError(f"not a readable faiss index ({str(exc).splitlines()[0]}); "
                                "rebuild it (babelir index build … --overwrite)", path) from None
        vi = cls(index, meta["kind"], meta["params"])
        vi.mapped = bool(flags)
        if vi.kind == "hnsw":
            index.hnsw.efSearch = int(vi.params["ef_search"])
        elif vi.kind == "ivfpq":
            faiss.extract_index_ivf(index).nprobe = int(vi.params["nprobe"])
        return vi

    def memory_bytes(self) -> int:
        """Size of the serialised index (≈ its memory)."""
        faiss = _faiss()
        return int(faiss.serialize_index(self.index).nbytes)


def _mmap_flags(faiss, kind: str) -> int:
    """faiss read flags that map a saved index of ``kind`` (0: this faiss cannot)."""
    if kind == "ivfpq":
        return faiss.IO_FLAG_MMAP  # inverted lists as read-only OnDiskInvertedLists
    ifc = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)  # flat codes: IndexFlat, HNSW storage
    return ifc | faiss.IO_FLAG_READ_ONLY if ifc else 0


def _holds(*names: str):
    """A ``legacy`` test for ``atomic_dir``: an index folder written before the marker."""
    return lambda folder: all((folder / name).is_file() for name in names)


def _update(defaults: dict, params: dict, kind: str) -> None:
    unknown = set(params) - set(defaults)
    if unknown:
        raise BabelirError(f"{kind}: unknown parameters {sorted(unknown)}; known: "
                           f"{sorted(defaults)}")
    defaults.update({k: v for k, v in params.items() if v is not None})


def neighbour_overlap_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |found[:k] ∩ truth[:k]| / k: the share of the exact k nearest
    neighbours that an approximate search finds (not ``evaluation.metrics.recall_at_k``)."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / k)


# ---------------------------------------------------------------------- BM25
class Bm25Index:
    """A bm25s index saved to disk and loaded memory-mapped (``bm25s.BM25.load(mmap=True)``).

    Tokenisation is babelir's (``retrieval.tokenize``; default as in ``retrieval.bm25``); the
    vocabulary is numbered in first-occurrence order, as there.
    """

    def __init__(self, retriever, tokenizer: str, docids: list[str] | None = None):
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.docids = docids

    @classmethod
    def build(cls, texts: list[str], tokenizer: str | None = None, k1: float = 1.5,
              b: float = 0.75, method: str = "lucene", docids: list[str] | None = None,
              ) -> Bm25Index:
        from babelir.retrieval.bm25 import DEFAULT_TOKENIZER, _build_index
        from babelir.retrieval.tokenize import get_tokenizer

        tokenizer = tokenizer or DEFAULT_TOKENIZER
        retriever = _build_index(get_tokenizer(tokenizer)(texts), k1, b, method)
        if retriever is None:
            raise BabelirError("BM25: no document has a token")
        return cls(retriever, tokenizer, docids)

    @classmethod
    def build_streaming(cls, chunks: Iterable[Sequence[tuple[str, str]]],
                        tokenizer: str | None = None, **bm25_params) -> Bm25Index:
        """``build`` from chunks of ``(docid, text)`` pairs, one chunk in memory at a time
        (``retrieval.bm25.build_index_from_records``): the same index and scores."""
        from babelir.retrieval.bm25 import DEFAULT_TOKENIZER, build_index_from_records

        tokenizer = tokenizer or DEFAULT_TOKENIZER
        retriever, docids = build_index_from_records(chunks, tokenizer, **bm25_params)
        if retriever is None:
            raise BabelirError("BM25: no document has a token")
        return cls(retriever, tokenizer, docids)

    def save(self, folder: str | os.PathLike) -> Path:
        with atomic_dir(folder, legacy=_holds("bm25.json")) as tmp:
            self.retriever.save(str(tmp / "bm25s"))
            (tmp / "bm25.json").write_text(json.dumps(
                {"tokenizer": self.tokenizer, "n": int(self.retriever.scores["num_docs"])}))
            if self.docids is not None:
                (tmp / "docids.txt").write_text("".join(d + "\n" for d in self.docids),
                                                encoding="utf-8")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = True) -> Bm25Index:
        import bm25s

        folder = Path(folder)
        meta = json.loads((folder / "bm25.json").read_text())
        retriever = bm25s.BM25.load(str(folder / "bm25s"), mmap=mmap)
        ids_path = folder / "docids.txt"
        docids = ids_path.read_text(encoding="utf-8").split("\n")[:-1] \
            if ids_path.is_file() else None
        return cls(retriever, meta["tokenizer"], docids)

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) per query text; unmatched slots have id -1."""
        from babelir.retrieval.tokenize import get_tokenizer

        vocab = self.retriever.vocab_dict
        n = int(self.retriever.scores["num_docs"])
        k_eff = min(int(k), n)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for i, tokens in enumerate(get_tokenizer(self.tokenizer)(queries)):
            tokens = [t for t in tokens if t and t in vocab]
            if not tokens:
                continue
            s = np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)
            top = np.argpartition(-s, k_eff - 1)[:k_eff] if k_eff < n else np.arange(n)
            top = top[np.lexsort((top, -s[top]))]
            scores[i, :len(top)], ids[i, :len(top)] = s[top], top
        return scores, ids


# ---------------------------------------------------------------------- corpus index folders
def build_corpus_index(corpus, out: str | os.PathLike, encode, kind: str = DEFAULT_KIND,
                       params: dict | None = None, shard_size: int = 50_000,
                       dtype: str = "float32", batch_size: int = 1_024, key: str = "",
                       progress: bool = True, meta: dict | None = None,
                       identity: dict | None = None, overwrite: bool = False) -> Path:
    """Encode a MIRACL-format corpus into ``<out>/embeddings`` (sharded, resumable) and index
    it into ``<out>/<kind>``; reuses both when already there. ``<out>/docids`` come from the
    embeddings' manifest, in row-id order.

    ``identity`` (``corpus_index.encoder_identity``: model fingerprint, prefixes, max length,
    precision) is recorded with the corpus and embedding settings: a folder built from other
    ones, or an index with other parameters, is refused (naming what differs) or, with
    ``overwrite``, rebuilt (see ``retrieval.corpus_index``)."""
    from babelir.data.miracl import iter_corpus
    from babelir.retrieval.corpus_index import (check_index_params, claim_index_folder,
                                                corpus_fingerprint, write_record)
    from babelir.retrieval.sharded import ShardedEmbeddings, encode_corpus, process_rank

    out = Path(out)
    identity = {**(identity or {}), "corpus": corpus_fingerprint(corpus), "key": key,
                "shard_size": shard_size, "dtype": dtype}
    claim_index_folder(out, identity, overwrite, process_rank()[1], **(meta or {}))
    emb_dir = out / "embeddings"
    if (emb_dir / "manifest.json").is_file():
        emb = ShardedEmbeddings(emb_dir)
    else:
        emb = encode_corpus(iter_corpus(corpus, chunk_size=min(shard_size, 10_000)), emb_dir,
                            encode, shard_size=shard_size, batch_size=batch_size, dtype=dtype,
                            key=key, progress=progress)
    if process_rank()[0] != 0:  # several processes encoded; rank 0 builds the index
        return out
    expected = VectorIndex.empty(emb.dim, kind, n_hint=len(emb), **(params or {})).params
    if not check_index_params(out / kind, expected, overwrite):
        VectorIndex.build(emb, kind, **(params or {})).save(out / kind)
    write_record(out, identity, n=len(emb), **(meta or {}))
    return out


def process_device() -> str | None:
    """``cuda:<LOCAL_RANK>`` when a launcher started several processes on a GPU machine (one
    GPU each), else None (the encoder's default)."""
    import torch

    if "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return None


def embedding_key(encoder) -> str:
    """Names the passage encoding in the embeddings' settings (fp32 keeps its older form)."""
    key = f"{encoder.fingerprint}:{encoder.model.passage_prefix}:{encoder.max_length}"
    precision = getattr(encoder, "precision", "fp32")
    return key if precision == "fp32" else f"{key}:{precision}"
