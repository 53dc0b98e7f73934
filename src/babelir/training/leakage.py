"""Leakage guard: compare the training examples themselves with the evaluation benchmark.

``babelir.data.pairs`` refuses sources by NAME (``LEAKS``); this module looks at the TEXT, so
it also catches a user's JSON-lines or SQuAD file that contains XQuAD, MLQA dev or TyDi QA
train questions. It runs before training (``babelir.training.run``): ``check_leakage`` builds a
``LeakageReport`` (``babelir.training.leakage_report``: ``write_report`` saves it beside the
run, ``enforce`` stops the run unless ``--allow-leakage`` is given).

Checks (see the data README, section 2). Texts are compared after ``normalise``: Unicode NFKC,
``str.casefold``, invisible characters (BOM, zero-width space, word joiner, soft hyphen)
dropped, whitespace runs collapsed to one space, ends stripped. A match is a match
whatever the languages of the two rows.

==========  ======================================================================  ==========
check       a benchmark item leaks when …                                           benchmarks
==========  ======================================================================  ==========
ids         its question id equals a training ``example_id``                        LAReQA
questions   its normalised question equals a normalised training question           all
contexts    its normalised paragraph equals a normalised training passage           LAReQA
sentences   its normalised candidate sentence (>= 30 characters, normalised)        LAReQA
            occurs verbatim inside a normalised training passage
==========  ======================================================================  ==========

LAReQA = ``xquad-r`` and ``mlqa-r`` (files through ``babelir.data.lareqa``). ``miracl``: the
dev topics of every language whose ``miracl/topics.miracl-v1.0-<lang>-dev.tsv`` is present;
MIRACL has no passages in the data folder and its qids are bare integers, so only the
question check applies. Training "passages" are the ``passage`` column and, where present,
the ``negative`` column (mined hard negatives are training text too).

Counts per check: ``total`` benchmark items compared, ``matched`` benchmark items found in the
training data (ids: distinct question ids; questions: queries, one per language; contexts:
distinct (language, paragraph) pairs; sentences: candidates, identified by position),
``training_rows`` the training rows holding a matching value, ``by_lang`` the same per
benchmark language, and up to ``MAX_EXAMPLES`` examples.

A check that could not run (benchmark files missing, nothing comparable) has
``checked=False`` and a ``reason``; it finds nothing, so it does not make the report unclean:
the report's ``checked`` and ``not_checked`` say so and the caller decides.

Speed: sets of normalised strings for the equality checks. For the sentence check every
30-character window of every distinct passage is hashed at once with a vectorised polynomial
rolling hash (numpy, uint32), windows whose hash equals that of a benchmark sentence's first
30 characters are candidates, and each candidate is confirmed with an exact string
comparison — so hash collisions cost time, never correctness. About 20 M passage characters
(~90k training rows) take a couple of seconds.
"""

from __future__ import annotations

import time
import unicodedata
from itertools import islice
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from babelir.data.lareqa import load_benchmark
from babelir.data.registry import BENCHMARKS, get_benchmark, resolve_file
from babelir.errors import BabelirError, DataError
from babelir.training.leakage_report import (
    MIN_SENTENCE_CHARS,
    NORMALISATION,
    CheckResult,
    LeakageReport,
    enforce,
    write_report,
)

__all__ = ["CHECKS", "KNOWN_BENCHMARKS", "MAX_EXAMPLES", "MIN_SENTENCE_CHARS", "NORMALISATION",
           "PASSAGE_COLUMNS", "REQUIRED_COLUMNS", "CheckResult", "LeakageReport",
           "check_leakage", "enforce", "find_sentences", "normalise", "write_report"]

MAX_EXAMPLES = 10
EXAMPLE_CHARS = 200  # texts in examples are cut to this length
CHECKS = ("ids", "questions", "contexts", "sentences")
LAREQA_BENCHMARKS = ("xquad-r", "mlqa-r")
KNOWN_BENCHMARKS = (*LAREQA_BENCHMARKS, "miracl")
REQUIRED_COLUMNS = ("dataset", "example_id", "lang", "question", "passage")
PASSAGE_COLUMNS = ("passage", "negative")

_BASE = 1_000_003  # odd, so invertible modulo 2**32
_BASE_INV = pow(_BASE, -1, 1 << 32)
_CHUNK_CHARS = 1 << 22  # passage characters hashed per numpy batch (bounds memory)
_TABLE_BITS = 24  # pre-filter on the top bits of the window hash


# invisible characters dropped before comparing: BOM / zero-width no-break space, zero-width
# space, word joiner, soft hyphen (the XQuAD-R files start some paragraphs with a BOM, which
# ``babelir.data.pairs`` strips)
_INVISIBLE = ("\ufeff", "\u200b", "\u2060", "\u00ad")


def normalise(text: str) -> str:
    """NFKC, casefold, invisible characters dropped, whitespace collapsed: the compared form."""
    text = unicodedata.normalize("NFKC", text)
    for char in _INVISIBLE:  # str.replace: much faster than str.translate on non-ASCII
        if char in text:
            text = text.replace(char, "")
    return " ".join(text.casefold().split())


# ---------------------------------------------------------------------------- training side


class _Training:
    """Normalised training questions, passages and ids, with the first row of each value."""

    def __init__(self, pairs: pd.DataFrame):
        missing = [c for c in REQUIRED_COLUMNS if c not in pairs.columns]
        if missing:
            raise BabelirError(f"the leakage guard needs the pairs column(s) "
                               f"{', '.join(missing)}")
        self.frame = pairs.reset_index(drop=True)
        self.questions = _normalised_column(self.frame["question"])
        self.passages = [_normalised_column(self.frame[c])
                         for c in PASSAGE_COLUMNS if c in self.frame.columns]
        self.ids = [str(v) if v is not None else None for v in self.frame["example_id"]]
        self.first_question = _first_rows(self.questions)
        self.first_passage: dict[str, int] = {}
        for column in self.passages:
            for value, row in _first_rows(column).items():
                if row < self.first_passage.get(value, len(self.frame)):
                    self.first_passage[value] = row
        self.first_id = _first_rows(self.ids)

    def rows_with_question(self, values: set[str]) -> int:
        return sum(1 for q in self.questions if q is not None and q in values)

    def rows_with_passage(self, values: set[str]) -> int:
        rows = np.zeros(len(self.frame), dtype=bool)
        for column in self.passages:
            rows |= np.fromiter((p is not None and p in values for p in column), dtype=bool,
                                count=len(column))
        return int(rows.sum())

    def rows_with_id(self, values: set[str]) -> int:
        return sum(1 for i in self.ids if i is not None and i in values)

    def where(self, row: int) -> dict:
        r = self.frame.iloc[row]
        return {"dataset": str(r["dataset"]), "example_id": str(r["example_id"]),
                "lang": str(r["lang"])}


def _normalised_column(values: Iterable[object]) -> list[str | None]:
    cache: dict[str, str | None] = {}
    out: list[str | None] = []
    for value in values:
        if not isinstance(value, str):
            out.append(None)
            continue
        norm = cache.get(value)
        if norm is None and value not in cache:
            norm = normalise(value) or None
            cache[value] = norm
        out.append(norm)
    return out


def _first_rows(values: Sequence[str | None]) -> dict[str, int]:
    first: dict[str, int] = {}
    for row, value in enumerate(values):
        if value is not None and value not in first:
            first[value] = row
    return first


def _cut(text: str) -> str:
    text = text.strip().strip("\ufeff").strip()
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "…"


# ---------------------------------------------------------------------------- sentence search


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _powers(base: int, n: int) -> np.ndarray:
    powers = np.full(n, base, dtype=np.uint32)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint32)


def _hash(text: str, powers: np.ndarray) -> int:
    """Polynomial hash sum(c_j * B**j) mod 2**32 of ``text`` (as ``_window_hashes``)."""
    codes = _codes(text)
    return int((codes * powers[:len(codes)]).sum(dtype=np.uint32))


def _window_hashes(codes: np.ndarray, k: int, powers: np.ndarray,
                   inverse: np.ndarray) -> np.ndarray:
    """Hash of every window ``codes[i:i+k]``, by prefix sums scaled back by B**-i."""
    n = len(codes)
    prefix = np.zeros(n + 1, dtype=np.uint32)
    np.cumsum(codes * powers[:n], dtype=np.uint32, out=prefix[1:])
    return (prefix[k:] - prefix[:-k]) * inverse[:n - k + 1]


def find_sentences(sentences: Sequence[str], passages: Sequence[str],
                   min_chars: int = MIN_SENTENCE_CHARS) -> dict[int, int]:
    """{sentence index: first passage index containing it}, for sentences of >= min_chars.

    Strings are compared as given (normalise both sides first). Exact: every hash hit is
    confirmed by ``str.startswith``.
    """
    k = min_chars
    by_prefix: dict[str, list[int]] = {}
    for i, sentence in enumerate(sentences):
        if len(sentence) >= k:
            by_prefix.setdefault(sentence[:k], []).append(i)
    found: dict[int, int] = {}
    if not by_prefix:
        return found
    chunks: list[list[int]] = [[]]
    sizes = [0]
    for j, passage in enumerate(passages):
        if len(passage) < k:
            continue
        if sizes[-1] and sizes[-1] + len(passage) > _CHUNK_CHARS:
            chunks.append([])
            sizes.append(0)
        chunks[-1].append(j)
        sizes[-1] += len(passage) + 1
    longest = max(sizes)
    powers = _powers(_BASE, longest + 1)
    inverse = _powers(_BASE_INV, longest + 1)
    wanted = np.unique(np.array([_hash(p, powers) for p in by_prefix], dtype=np.uint32))
    table = np.zeros(1 << _TABLE_BITS, dtype=bool)
    table[wanted >> (32 - _TABLE_BITS)] = True
    for chunk in chunks:
        if not chunk:
            continue
        # windows across the separator are harmless: they are checked against their
        # passage's own text, which is too short there to hold a k-character prefix
        text = "\x00".join(passages[j] for j in chunk)
        starts = np.cumsum([0] + [len(passages[j]) + 1 for j in chunk[:-1]])
        hashes = _window_hashes(_codes(text), k, powers, inverse)
        hits = np.flatnonzero(table[hashes >> (32 - _TABLE_BITS)])
        hits = hits[np.isin(hashes[hits], wanted)]
        owners = np.searchsorted(starts, hits, side="right") - 1
        for pos, owner in zip(hits.tolist(), owners.tolist()):
            j = chunk[owner]
            passage = passages[j]
            offset = pos - int(starts[owner])
            for i in by_prefix.get(passage[offset:offset + k], ()):
                if i not in found and passage.startswith(sentences[i], offset):
                    found[i] = j
    return found


# ---------------------------------------------------------------------------- benchmarks


def _lareqa_checks(training: _Training, name: str, data_dir: Path,
                   cache_dir: Path | None) -> tuple[dict[str, CheckResult], list[str],
                                                    dict[str, str], dict[str, str]]:
    spec = get_benchmark(name)
    present, missing = [], {}
    for lang in spec.languages:
        try:
            resolve_file(spec, lang, data_dir, cache_dir, online=False)
            present.append(lang)
        except DataError as exc:
            missing[lang] = str(exc)
    if not present:
        reason = (f"no {name} file found in the data folder {data_dir}"
                  + (f" or the cache {cache_dir}" if cache_dir else "")
                  + f" (expected {spec.relative_dir}/<lang>.json)")
        return ({c: CheckResult(c, False, reason) for c in CHECKS}, [], missing, {})
    bench = load_benchmark(spec, data_dir, cache_dir, languages=present)
    langs = list(bench.languages)
    q_lang = [langs[j] for j in bench.query_lang.tolist()]
    c_lang = [langs[j] for j in bench.cand_lang.tolist()]
    checks = {
        "ids": _check_ids(training, bench.query_xids, q_lang, langs),
        "questions": _check_questions(training, bench.query_ids, bench.query_texts, q_lang,
                                      langs),
        "contexts": _check_contexts(training, bench.cand_ids, bench.cand_contexts, c_lang,
                                    langs),
        "sentences": _check_sentences(training, bench.cand_ids, bench.cand_sentences, c_lang,
                                      langs),
    }
    return checks, langs, missing, dict(bench.files)


def _miracl_topics(data_dir: Path) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
    """(lang -> [(qid, query)], lang -> file) of every MIRACL dev topics file in the data
    folder, read by the MIRACL benchmark's own reader (a bad line: a DataError naming it)."""
    from babelir.data.miracl import load_topics

    topics: dict[str, list[tuple[str, str]]] = {}
    files: dict[str, str] = {}
    for path in sorted((Path(data_dir) / "miracl").glob("topics.miracl-v1.0-*-dev.tsv")):
        lang = path.name[len("topics.miracl-v1.0-"):-len("-dev.tsv")]
        topics[lang] = list(load_topics(path).items())
        files[lang] = str(path)
    return topics, files


def _inside(path: str, data_dir: Path) -> str:
    """``path`` relative to the data folder when it lies there (reports travel between
    machines), else unchanged (e.g. a file from the user cache)."""
    try:
        return str(Path(path).resolve().relative_to(Path(data_dir).resolve()))
    except ValueError:
        return str(path)


def _miracl_checks(training: _Training, data_dir: Path) -> tuple[dict[str, CheckResult],
                                                                 list[str], dict[str, str],
                                                                 dict[str, str]]:
    topics, files = _miracl_topics(data_dir)
    no_passages = ("the MIRACL passage corpus is not in the data folder (topics and qrels "
                   "only): passages cannot be compared")
    checks = {
        "ids": CheckResult("ids", False, "MIRACL qids are bare integers that no training "
                           "source shares; comparing them would only find accidental matches"),
        "contexts": CheckResult("contexts", False, no_passages),
        "sentences": CheckResult("sentences", False, no_passages),
    }
    if not topics:
        checks["questions"] = CheckResult(
            "questions", False, f"no miracl/topics.miracl-v1.0-<lang>-dev.tsv file in {data_dir}")
        return {c: checks[c] for c in CHECKS}, [], {}, {}
    langs = sorted(topics)
    ids = [f"{lang}/{qid}" for lang in langs for qid, _ in topics[lang]]
    texts = [query for lang in langs for _, query in topics[lang]]
    q_lang = [lang for lang in langs for _ in topics[lang]]
    checks["questions"] = _check_questions(training, ids, texts, q_lang, langs)
    checks["questions"].reason += f"; MIRACL dev topics of {len(langs)} languages"
    return {c: checks[c] for c in CHECKS}, langs, {}, files


# ---------------------------------------------------------------------------- checks


def _result(name: str, reason: str, langs: list[str], item_lang: list[str],
            matched: list[bool], training_rows: int, examples: list[dict]) -> CheckResult:
    by_lang = {lang: {"matched": 0, "total": 0} for lang in langs}
    for lang, hit in zip(item_lang, matched):
        by_lang[lang]["total"] += 1
        by_lang[lang]["matched"] += int(hit)
    return CheckResult(name, True, reason, total=len(matched), matched=sum(matched),
                       training_rows=training_rows, by_lang=by_lang,
                       examples=examples[:MAX_EXAMPLES])


def _check_ids(training: _Training, xids: list[str], q_lang: list[str],
               langs: list[str]) -> CheckResult:
    ids = [str(x) for x in xids]
    hit = [x in training.first_id for x in ids]
    shared = {x for x, h in zip(ids, hit) if h}
    examples, seen = [], set()
    for x, lang, h in zip(ids, q_lang, hit):
        if h and x not in seen and len(examples) < MAX_EXAMPLES:
            seen.add(x)
            examples.append({"benchmark_id": x, "benchmark_lang": lang,
                             "training": training.where(training.first_id[x])})
    result = _result("ids", "benchmark question ids (all languages) vs training example_id",
                     langs, q_lang, hit, training.rows_with_id(shared), examples)
    result.matched = len(shared)  # distinct ids; by_lang counts queries per language
    result.total = len(set(ids))
    return result


def _check_questions(training: _Training, ids: list[str], texts: list[str],
                     q_lang: list[str], langs: list[str]) -> CheckResult:
    norms = _normalised_column(texts)
    hit = [n is not None and n in training.first_question for n in norms]
    examples = [{"benchmark_id": i, "benchmark_lang": lang, "text": _cut(t),
                 "training": training.where(training.first_question[n])}
                for i, lang, t, n, h in islice(((i, lang, t, n, h) for i, lang, t, n, h
                                                in zip(ids, q_lang, texts, norms, hit) if h),
                                               MAX_EXAMPLES)]
    matched = {n for n, h in zip(norms, hit) if h}
    return _result("questions", "normalised benchmark questions vs training questions",
                   langs, q_lang, hit, training.rows_with_question(matched), examples)


def _check_contexts(training: _Training, cand_ids: list[str], contexts: list[str],
                    c_lang: list[str], langs: list[str]) -> CheckResult:
    seen: dict[tuple[str, str], int] = {}  # (lang, raw context) -> first candidate
    for i, (lang, context) in enumerate(zip(c_lang, contexts)):
        seen.setdefault((lang, context), i)
    items = list(seen.items())
    norms = _normalised_column(context for (_, context), _ in items)
    hit = [n is not None and n in training.first_passage for n in norms]
    examples = []
    for ((lang, context), i), n, h in zip(items, norms, hit):
        if h and len(examples) < MAX_EXAMPLES:
            examples.append({"benchmark_id": cand_ids[i].rsplit("/", 1)[0],
                             "benchmark_lang": lang, "text": _cut(context),
                             "training": training.where(training.first_passage[n])})
    matched = {n for n, h in zip(norms, hit) if h}
    return _result("contexts", "normalised benchmark paragraphs vs training passages",
                   langs, [lang for (lang, _), _ in items], hit,
                   training.rows_with_passage(matched), examples)


def _check_sentences(training: _Training, cand_ids: list[str], sentences: list[str],
                     c_lang: list[str], langs: list[str]) -> CheckResult:
    norms = [n or "" for n in _normalised_column(sentences)]
    eligible = [i for i, n in enumerate(norms) if len(n) >= MIN_SENTENCE_CHARS]
    passages = list(training.first_passage)
    found = find_sentences([norms[i] for i in eligible], passages)
    hit = [False] * len(eligible)
    examples, hit_passages = [], set()
    for e, j in sorted(found.items()):
        hit[e] = True
        hit_passages.add(passages[j])
        if len(examples) < MAX_EXAMPLES:
            i = eligible[e]
            examples.append({"benchmark_id": cand_ids[i], "benchmark_lang": c_lang[i],
                             "text": _cut(sentences[i]),
                             "training": training.where(training.first_passage[passages[j]])})
    reason = (f"benchmark candidate sentences of >= {MIN_SENTENCE_CHARS} characters "
              f"(normalised; {len(eligible):,} of {len(norms):,}) occurring inside "
              "training passages")
    return _result("sentences", reason, langs, [c_lang[i] for i in eligible], hit,
                   training.rows_with_passage(hit_passages), examples)


# ---------------------------------------------------------------------------- public API


def check_leakage(pairs: pd.DataFrame, benchmark: str, data_dir: Path,
                  cache_dir: Path | None = None) -> LeakageReport:
    """Compare the training rows of ``pairs`` with ``benchmark`` (xquad-r, mlqa-r, miracl).

    ``pairs`` needs the columns dataset, example_id, lang, question, passage (a table from
    ``babelir.data.pairs``); a ``negative`` column is compared like ``passage``. LAReQA files
    are looked up in ``data_dir``, then ``cache_dir`` (no download); missing ones are reported,
    not raised.
    """
    if benchmark not in KNOWN_BENCHMARKS:
        raise BabelirError(f"unknown benchmark {benchmark!r} for the leakage guard; known: "
                           f"{', '.join(KNOWN_BENCHMARKS)}")
    started = time.perf_counter()
    training = _Training(pairs)
    data_dir = Path(data_dir)
    if benchmark in BENCHMARKS:
        checks, langs, missing, files = _lareqa_checks(
            training, benchmark, data_dir, Path(cache_dir) if cache_dir else None)
    else:
        checks, langs, missing, files = _miracl_checks(training, data_dir)
    datasets = training.frame["dataset"].astype(str).value_counts()
    return LeakageReport(
        benchmark=benchmark,
        clean=not any(c.leaks for c in checks.values()),
        checked=any(c.checked for c in checks.values()),
        training_rows=len(training.frame),
        training_datasets={str(k): int(v) for k, v in sorted(datasets.items())},
        benchmark_languages=langs,
        missing_languages=missing,
        benchmark_files={lang: _inside(path, data_dir) for lang, path in files.items()},
        checks=checks,
        seconds=round(time.perf_counter() - started, 3),
    )
