"""Loader for LAReQA-format retrieval benchmarks (XQuAD-R, MLQA-R).

Each language file is SQuAD v1.1 JSON whose paragraphs also carry ``sentence_breaks``
([start, end) character offsets into ``context``). Following the LAReQA reference code:

* every sentence ``context[start:end]`` of every paragraph is one candidate, identified by
  (language, article, paragraph, sentence) — not by its text, which can repeat;
* a question's gold candidate is the sentence whose span contains ``answer_start``;
* questions are linked across languages by their SQuAD ``id`` (LAReQA's ``xling_id``).

The result is columnar: candidates and queries of all languages in one pool, so that the
monolingual, cross-lingual and multilingual settings are all slices of one score matrix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babelir.data.registry import BenchmarkSpec, ValidationSpec, check_languages, resolve_file
from babelir.errors import BabelirError, DataError

CANDIDATE_MODES = ("sentence", "context")


@dataclass
class LanguageFile:
    """Candidates and questions parsed from one language file (local indices)."""

    lang: str
    cand_ids: list[str]
    cand_sentences: list[str]
    cand_contexts: list[str]
    query_xids: list[str]
    query_texts: list[str]
    query_gold: list[int]  # index into this file's candidates


@dataclass
class RetrievalBenchmark:
    """All candidates and queries of a benchmark, pooled over languages.

    ``gold[q, j]`` is the pooled index of the gold candidate of query q's question id in
    language ``languages[j]``, or -1 when that question does not exist in that language.
    """

    name: str
    languages: tuple[str, ...]
    cand_ids: list[str]
    cand_lang: np.ndarray  # (n_c,) int: index into languages
    cand_sentences: list[str]
    cand_contexts: list[str]
    query_ids: list[str]
    query_xids: list[str]
    query_lang: np.ndarray  # (n_q,) int
    query_texts: list[str]
    gold: np.ndarray  # (n_q, n_languages) int, -1 = absent
    files: dict[str, str]

    @property
    def n_queries(self) -> int:
        return len(self.query_texts)

    @property
    def n_candidates(self) -> int:
        return len(self.cand_ids)

    def candidate_texts(self, mode: str = "sentence") -> list[str]:
        """Texts to encode: the sentence alone, or sentence + its paragraph (LAReQA style)."""
        if mode == "sentence":
            return self.cand_sentences
        if mode == "context":
            return [f"{s} {c}" for s, c in zip(self.cand_sentences, self.cand_contexts)]
        raise ValueError(f"unknown candidate mode {mode!r}; valid: {', '.join(CANDIDATE_MODES)}")

    def candidates_of(self, lang: str) -> np.ndarray:
        return np.flatnonzero(self.cand_lang == self.languages.index(lang))

    def queries_of(self, lang: str) -> np.ndarray:
        return np.flatnonzero(self.query_lang == self.languages.index(lang))


def _require(mapping: object, key: str, path: Path, record: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise DataError(f"missing field {key!r}", path=path, record=record)
    return mapping[key]


def _list(value: object, what: str, path: Path, record: str) -> list:
    """``value`` if it is a JSON array; else a DataError (a dict here would be iterated
    over its keys, or sliced into a TypeError)."""
    if not isinstance(value, list):
        raise DataError(f"{what!r} must be a list, got {type(value).__name__}", path=path,
                        record=record)
    return value


def check_max_articles(max_articles: object) -> int | None:
    """``None`` (every article) or a whole number >= 1 (a negative one would slice off the
    last articles instead of keeping the first ones)."""
    if max_articles is None:
        return None
    if isinstance(max_articles, bool) or not isinstance(max_articles, int) or max_articles < 1:
        raise BabelirError(f"max_articles must be a whole number >= 1 (or absent for every "
                           f"article), got {max_articles!r}")
    return max_articles


def _answer_start(qa: dict, path: Path, record: str) -> int:
    """The first answer's ``answer_start``: a JSON integer (not a string, not true/false)."""
    answers = _list(_require(qa, "answers", path, record), "answers", path, record)
    if not answers:
        raise DataError("question has no answer", path=path, record=record)
    start = _require(answers[0], "answer_start", path, record)
    if isinstance(start, bool) or not isinstance(start, int):
        raise DataError(f"answer_start must be an integer, got {start!r}", path=path,
                        record=record)
    return start


def _nonempty_text(text: object, what: str, path: Path, record: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty or non-text {what}", path=path, record=record)
    return text


def _sentence_spans(paragraph: dict, path: Path, record: str) -> list[tuple[int, int]]:
    context = _nonempty_text(_require(paragraph, "context", path, record), "context", path, record)
    spans = []
    breaks = _list(_require(paragraph, "sentence_breaks", path, record), "sentence_breaks",
                   path, record)
    for k, span in enumerate(breaks):
        if (not isinstance(span, (list, tuple)) or len(span) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)
                or not 0 <= span[0] < span[1] <= len(context)):
            raise DataError(f"bad sentence_breaks entry {k}: {span!r}", path=path, record=record)
        spans.append((int(span[0]), int(span[1])))
    if not spans:
        raise DataError("paragraph has no sentence_breaks", path=path, record=record)
    return spans


def _gold_sentence(spans: list[tuple[int, int]], answer_start: int) -> int | None:
    for k, (start, end) in enumerate(spans):
        if start <= answer_start < end:
            return k
    return None


def _parse_paragraph(out: LanguageFile, paragraph: dict, path: Path, record: str) -> None:
    spans = _sentence_spans(paragraph, path, record)
    context = paragraph["context"]
    first = len(out.cand_ids)
    for k, (start, end) in enumerate(spans):
        sentence = _nonempty_text(context[start:end], f"sentence {k}", path, record)
        out.cand_ids.append(f"{record}/s{k}")
        out.cand_sentences.append(sentence.strip())
        out.cand_contexts.append(context)
    for k, qa in enumerate(_list(_require(paragraph, "qas", path, record), "qas", path, record)):
        qid = _require(qa, "id", path, f"{record} qas[{k}]")
        qrecord = f"{record} question {qid}"
        question = _nonempty_text(_require(qa, "question", path, qrecord), "question", path, qrecord)
        answer_start = _answer_start(qa, path, qrecord)
        sentence = _gold_sentence(spans, answer_start)
        if sentence is None:
            raise DataError(f"answer_start {answer_start} falls in no sentence", path=path,
                            record=qrecord)
        out.query_xids.append(str(qid))
        out.query_texts.append(question.strip())
        out.query_gold.append(first + sentence)


def load_language_file(path: Path, lang: str, max_articles: int | None = None) -> LanguageFile:
    """Parse one LAReQA language file; errors name the file and the record."""
    path = Path(path)
    max_articles = check_max_articles(max_articles)
    try:
        with open(path, encoding="utf-8") as fh:
            root = json.load(fh)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON ({exc})", path=path) from None
    articles = _list(_require(root, "data", path, "top level"), "data", path, "top level")
    out = LanguageFile(lang, [], [], [], [], [], [])
    for a, article in enumerate(articles[:max_articles]):
        paragraphs = _list(_require(article, "paragraphs", path, f"article {a}"), "paragraphs",
                           path, f"article {a}")
        for p, paragraph in enumerate(paragraphs):
            _parse_paragraph(out, paragraph, path, f"{lang}/a{a}/p{p}")
    if not out.query_texts:
        raise DataError("no questions found", path=path)
    return out


def _pool(name: str, languages: tuple[str, ...], parts: list[LanguageFile],
          files: dict[str, str]) -> RetrievalBenchmark:
    offsets = np.cumsum([0] + [len(p.cand_ids) for p in parts])
    xid_gold: dict[str, dict[int, int]] = {}
    for j, part in enumerate(parts):
        for xid, g in zip(part.query_xids, part.query_gold):
            xid_gold.setdefault(xid, {})[j] = int(offsets[j] + g)
    query_xids = [x for p in parts for x in p.query_xids]
    gold = np.full((len(query_xids), len(languages)), -1, dtype=np.int64)
    for q, xid in enumerate(query_xids):
        for j, g in xid_gold[xid].items():
            gold[q, j] = g
    return RetrievalBenchmark(
        name=name,
        languages=languages,
        cand_ids=[c for p in parts for c in p.cand_ids],
        cand_lang=np.repeat(np.arange(len(parts)), [len(p.cand_ids) for p in parts]),
        cand_sentences=[s for p in parts for s in p.cand_sentences],
        cand_contexts=[c for p in parts for c in p.cand_contexts],
        query_ids=[f"{p.lang}/{x}" for p in parts for x in p.query_xids],
        query_xids=query_xids,
        query_lang=np.repeat(np.arange(len(parts)), [len(p.query_xids) for p in parts]),
        query_texts=[t for p in parts for t in p.query_texts],
        gold=gold,
        files=files,
    )


def load_benchmark(
    spec: BenchmarkSpec,
    data_dir: Path | None,
    cache_dir: Path | None = None,
    languages: list[str] | None = None,
    max_articles: int | None = None,
    online: bool = False,
) -> RetrievalBenchmark:
    """Load a LAReQA-format benchmark for the given languages (default: all of them).

    ``max_articles`` keeps the first N articles of every file (a consistent subset for tests).
    Files are found by ``registry.resolve_file``: the data folder (then the cache, then with
    ``online`` a download); with ``data_dir=None``, XQuAD-R comes from babelir's bundled copy.
    """
    max_articles = check_max_articles(max_articles)  # before any file is looked up
    if isinstance(spec, ValidationSpec):  # built from a training source's dev split
        from babelir.data.validation import load_validation_benchmark

        return load_validation_benchmark(spec, data_dir, cache_dir, languages, max_articles)
    langs = check_languages(spec, languages)
    files = {lang: resolve_file(spec, lang, data_dir, cache_dir, online) for lang in langs}
    parts = [load_language_file(files[lang], lang, max_articles) for lang in langs]
    for part in parts:
        if len(set(part.query_xids)) != len(part.query_xids):
            raise DataError("duplicate question ids within one language", path=files[part.lang])
    return _pool(spec.name, langs, parts, {k: str(v) for k, v in files.items()})
