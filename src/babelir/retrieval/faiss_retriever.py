"""The ``faiss`` retriever: a dense model searched through a faiss index
(``retrieval.index.VectorIndex``: exact, hnsw or ivfpq), in memory or, for a corpus file, as
sharded embeddings and an index saved in a folder (``retrieval.index.build_corpus_index``).

A faiss index returns each query's top k, not every candidate's score: benchmarks that rank
the whole candidate set use the ``dense`` retriever instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError
from babelir.retrieval.base import ENCODING_OPTIONS, CandidateIndex, TextSet, setting
from babelir.retrieval.dense import DenseEncoder, DenseRetriever, make_encoder
from babelir.retrieval.index import (DEFAULT_KIND, VectorIndex, build_corpus_index,
                                     embedding_key, process_device)

#: where corpus indexes go under the cache folder by default (named when MIRACL was their
#: only user; kept so that indexes built before are found)
CORPUS_INDEX_DIR = "miracl-index"


class FaissRetriever(DenseRetriever):
    """``index``: encode the candidates and index them in memory; ``index_corpus``: encode a
    corpus into ``<index_dir>/<name>-<tag>/`` (resumable, reused while the corpus file and the
    encoding settings are the same) and search its saved index memory-mapped."""

    name = "faiss"
    scores_all = False
    indexes_corpus = True
    options = ENCODING_OPTIONS | {"index", "index_dir", "shard_size", "embeddings_dtype"}

    def __init__(self, encoder: DenseEncoder, model: str, kind: str = DEFAULT_KIND,
                 index_dir: str | None = None, shard_size: int = 50_000,
                 dtype: str = "float16"):
        super().__init__(encoder)
        self.model = model
        self.kind = kind
        self.index_dir = index_dir
        self.shard_size = shard_size
        self.dtype = dtype

    @classmethod
    def create(cls, model: str, settings) -> FaissRetriever:
        """Under a multi-process launcher each process encodes on its own GPU
        (``process_device``) unless the settings name a device."""
        return cls(make_encoder(model, settings, device=process_device()), model,
                   setting(settings, "index", DEFAULT_KIND), settings.get("index_dir"),
                   setting(settings, "shard_size", 50_000),
                   setting(settings, "embeddings_dtype", "float16"))

    @property
    def description(self) -> str:
        return f"dense (sentence-transformers, faiss {self.kind} index)"

    def index(self, candidates: TextSet) -> CandidateIndex:
        built = VectorIndex.build(self.encode(candidates), self.kind)
        return FaissIndex(self, lambda: built)

    def build_corpus(self, corpus, folder, params: dict | None = None,
                     overwrite: bool = False) -> Path:
        """``build_corpus_index`` with this retriever's encoder and settings."""
        from babelir.retrieval.corpus_index import encoder_identity

        encoder = self.encoder
        return build_corpus_index(corpus, folder, lambda texts: encoder.encode(texts, "passage"),
                                  self.kind, params, self.shard_size, self.dtype,
                                  batch_size=max(encoder.batch_size, 256),
                                  key=embedding_key(encoder),
                                  meta={"model": self.model, "max_length": encoder.max_length},
                                  identity=encoder_identity(encoder, self.model),
                                  overwrite=overwrite)

    def corpus_folder(self, corpus, name: str) -> Path:
        """``<index_dir>/<name>-<tag>``, the tag naming the corpus file (path, size, mtime)
        and the passage encoding."""
        key = embedding_key(self.encoder)
        stat = Path(corpus).stat()
        tag = hashlib.sha256(f"{Path(corpus).resolve()}:{stat.st_size}:{int(stat.st_mtime)}:"
                             f"{key}".encode()).hexdigest()[:16]
        root = self.index_dir or Path(self.encoder.cache_root) / CORPUS_INDEX_DIR
        return Path(root) / f"{name}-{tag}"

    def index_corpus(self, corpus, name: str) -> CandidateIndex:
        """Under a multi-process launcher every process encodes its shards; only rank 0's
        index may be searched (the others return before it is built)."""
        folder = self.corpus_folder(corpus, name)
        self.build_corpus(corpus, folder)
        return FaissIndex(self, lambda: VectorIndex.load(folder / self.kind, mmap=True),
                          folder / "embeddings")


class FaissIndex(CandidateIndex):
    """A ``VectorIndex``, made (or loaded) when first searched; ``docids`` from the sharded
    embeddings of a corpus index."""

    def __init__(self, retriever: FaissRetriever, open_index, embeddings: Path | None = None):
        self.retriever = retriever
        self._open = open_index
        self._embeddings = embeddings

    @property
    def docids(self) -> list[str] | None:
        from babelir.retrieval.sharded import ShardedEmbeddings

        return None if self._embeddings is None else ShardedEmbeddings(self._embeddings).docids

    def score(self, queries: TextSet):
        raise BabelirError("a faiss index returns each query's top k, not every candidate's "
                           "score (the dense retriever scores them all)")

    def search(self, queries: TextSet, k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.retriever.encode(queries)
        return self._open().search(vectors, k)
