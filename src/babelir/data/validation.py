"""Validation benchmarks built from the TRAINING side, for model selection (data README,
rule 4: choose settings on a held-out part of the training sources, split by paragraph or
article, never on the evaluation sets). XQuAD-R stays the test set.

All are ``RetrievalBenchmark`` objects, so ``babelir eval --benchmark mlqa-val`` (or
``xnli-val``, ``tydi-val``) scores them exactly like XQuAD-R: Mo / Cr / Mul mAP, recall, rank distance.
They are registered in ``babelir.data.registry.VALIDATION_BENCHMARKS`` and loaded through
``babelir.data.lareqa.load_benchmark``; they need the data folder only (no download).

The held-out part is the ``dev`` split of the training pairs table, taken from
``babelir.data.pairs.make_pairs`` itself, with the defaults of ``babelir data build-pairs``
(``DEV_FRACTION``, ``SEED``): the validation pools and the training pairs come from one and
the same split function, so they cannot disagree. Everything in a pool is from dev articles;
nothing of a dev article is in the train split, and a dev row whose text recurs in a train
row of the same language is left out (``dev_rows``).

``mlqa-val`` (source ``mlqa-test``: the 16 XTREME-layout MLQA test files)
    The dev examples (question ids) of ``mlqa-test``. **The answers of these files are
    blanked** (every ``answer_start`` is 0, every answer text empty: data README §3.2), so
    the answer sentence of a question cannot be known. The candidates are therefore the
    PARAGRAPHS (each distinct context of a dev example, per context language: the positive
    that ``build-pairs`` trains on for this source), not sentences; the relevant set of a
    question is its id's paragraph in every context language where the id has one (1-4 per
    question, like MLQA-R's 2-4 parallel gold sentences). Queries: the question of every
    dev id in every question language. MLQA test has contexts in de/es/vi/zh only, so the
    languages are those four: ar and hi questions are left out (a query language without
    candidates has no Mo setting, and its macro averages would be undefined). As in
    MLQA-R, a pair (X, Y) scores only the questions whose id has a paragraph in Y.
    ``candidate_mode`` "sentence" encodes the paragraph; "context" would repeat it.
``xnli-val`` (source ``xnli``: XNLI dev + test, line-aligned, 15 languages)
    ``build-pairs`` uses BOTH XNLI files by default (source ``xnli`` = ``xnli:dev+test``), so
    no whole XNLI file is held out: the pool is the premise groups of the pairs' dev split
    (the first ``XNLI_MAX_PREMISES`` of them, if more), deduplicated as ``build-pairs``
    does (each premise stands on 3 rows). Queries: the premise of each group in each
    language; candidates: the premises in every language; relevant: the same premise in
    every language, its own language included (LAReQA-style Mo / Cr / Mul). Mo is therefore
    an identity search (the query text is its own gold candidate) and carries no signal;
    read Cr, Mul and rank distance.

``tydi-val`` (source ``tydiqa-goldp:train``: TyDi GoldP train en / ko / sw, never trained on)
    The one pool whose candidates are **sentences**, like XQuAD-R's: the two pools above rank
    paragraphs (mlqa-val) or whole sentences that are translations (xnli-val), so neither
    sees what fine-tuning on paragraph positives does to answer-sentence search. TyDi GoldP
    train has its answers (unlike MLQA test and TyDi dev), and ``build-pairs``' default
    sources do not use it. The first ``TYDI_MAX_PARAGRAPHS`` distinct paragraphs of each
    language in a fixed hash order are kept; every sentence of them is a candidate
    (``babelir.data.splitting``; the paragraph is its context), and a question's gold is
    the one sentence its answer lies in (questions whose answer spans two sentences are
    left out). TyDi questions are native to each language, not parallel: **only Mo is
    defined** (Cr is NaN; Mul searches the pooled sentences of all three languages for the
    one gold sentence of the query's language, so a model biased toward the query's
    language is not penalised: read Mo). TyDi GoldP train questions are MIRACL dev topics
    (data README §2): a question equal to a MIRACL dev topic of its language is left out,
    so selecting on this pool does not select on MIRACL.

A language left without candidates or without queries (a small ``max_articles`` subset) is
dropped; if the caller named it in ``languages``, that is an error instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from babelir.data.lareqa import RetrievalBenchmark, check_max_articles
from babelir.data.registry import ValidationSpec, check_languages
from babelir.errors import BabelirError, DataError

#: the defaults of ``babelir data build-pairs`` (``--dev-fraction``, ``--seed``) and of
#: ``babelir.data.pairs.make_pairs`` / ``build_pairs``; tests check that they agree.
DEV_FRACTION = 0.05
SEED = 0
#: at most this many XNLI premise groups (the dev split holds about 130 of the 2,500)
XNLI_MAX_PREMISES = 500
#: distinct TyDi GoldP train paragraphs kept per language in ``tydi-val``
TYDI_MAX_PARAGRAPHS = 300

_FILE_PATTERNS = {
    "mlqa-test": re.compile(r"^(test-context-[a-z]{2}-question-[a-z]{2})\.json$"),
    "xnli": re.compile(r"^((?:dev|test)-[a-z]{2})\.tsv$"),
}


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def dev_rows(source: str, data_dir: Path, dev_fraction: float = DEV_FRACTION,
             seed: int = SEED) -> pd.DataFrame:
    """The rows of ``source`` that ``babelir data build-pairs`` puts in the dev split, less
    any row whose question or passage text also occurs, in the same language, in a train
    row (the split is by article, but a text can recur in two articles: one Urdu XNLI
    premise does)."""
    from babelir.data.pairs import make_pairs

    frame, _ = make_pairs([source], Path(data_dir), dev_fraction=dev_fraction, seed=seed)
    train = frame[frame["split"] == "train"]
    seen = set()
    for column in ("question", "passage"):
        part = train[train[column].notna()]
        seen.update(zip(part["lang"], part[column]))
    dev = frame[frame["split"] == "dev"]
    clash = [(lang, q) in seen or (lang, p) in seen
             for lang, q, p in zip(dev["lang"], dev["question"], dev["passage"])]
    return dev[~np.asarray(clash, dtype=bool)].reset_index(drop=True)


def _source_files(source: str, folder: Path) -> dict[str, str]:
    pattern = _FILE_PATTERNS[source]
    files = {}
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match and path.is_file():
            files[match.group(1)] = str(path)
    return files


def _keep_articles(rows: pd.DataFrame, max_articles: int | None) -> pd.DataFrame:
    if max_articles is None:
        return rows
    keep = sorted(rows["article"].unique())[:max_articles]
    return rows[rows["article"].isin(keep)]


def pool_from_rows(name: str, rows: pd.DataFrame, languages: tuple[str, ...],
                   files: dict[str, str], required: tuple[str, ...] = ()) -> RetrievalBenchmark:
    """A pooled benchmark from pairs-table rows (``example_id, lang, question, passage,
    article``): queries = the questions, candidates = the distinct passages of each
    language, relevant = the passages of the query's example in every language.

    Languages without candidates or queries are dropped (an error for those in
    ``required``); so are queries with no relevant candidate left."""
    rows = rows[rows["lang"].isin(languages)]
    rows = rows.sort_values(["article", "example_id", "lang"], kind="stable")
    while True:
        has_q = set(rows.loc[rows["question"].notna(), "lang"])
        has_c = set(rows.loc[rows["passage"].notna(), "lang"])
        kept = tuple(lang for lang in languages if lang in has_q and lang in has_c)
        lost = [lang for lang in required if lang not in kept]
        if lost:
            raise BabelirError(f"{name}: no queries or no candidates left in "
                               f"{', '.join(lost)} (too few articles kept?)")
        rows = rows[rows["lang"].isin(kept)]
        # an example without any passage in the kept languages gives queries without gold
        with_passage = set(rows.loc[rows["passage"].notna(), "example_id"])
        rows = rows[rows["example_id"].isin(with_passage)]
        if kept == languages:
            break
        languages = kept
    if not languages:
        raise DataError(f"{name}: no language has both queries and candidates")
    lang_index = {lang: j for j, lang in enumerate(languages)}

    cand_ids, cand_lang, cand_texts = [], [], []
    cand_of: dict[tuple[str, str], int] = {}  # (lang, passage text) -> pooled index
    gold_of: dict[str, dict[int, int]] = {}  # example_id -> language index -> candidate
    for lang in languages:
        part = rows[(rows["lang"] == lang) & rows["passage"].notna()]
        for example_id, passage, article in zip(part["example_id"], part["passage"],
                                                part["article"]):
            index = cand_of.get((lang, passage))
            if index is None:
                index = cand_of[(lang, passage)] = len(cand_ids)
                cand_ids.append(f"{lang}/{article}/{_hash(passage)}")
                cand_lang.append(lang_index[lang])
                cand_texts.append(passage)
            gold_of.setdefault(example_id, {})[lang_index[lang]] = index

    query_ids, query_xids, query_lang, query_texts = [], [], [], []
    for lang in languages:
        part = rows[(rows["lang"] == lang) & rows["question"].notna()]
        for example_id, question in zip(part["example_id"], part["question"]):
            query_ids.append(f"{lang}/{example_id}")
            query_xids.append(str(example_id))
            query_lang.append(lang_index[lang])
            query_texts.append(question)
    gold = np.full((len(query_ids), len(languages)), -1, dtype=np.int64)
    for q, xid in enumerate(query_xids):
        for j, index in gold_of[xid].items():
            gold[q, j] = index
    return RetrievalBenchmark(
        name=name, languages=languages, cand_ids=cand_ids,
        cand_lang=np.asarray(cand_lang, dtype=np.int64), cand_sentences=cand_texts,
        cand_contexts=list(cand_texts), query_ids=query_ids, query_xids=query_xids,
        query_lang=np.asarray(query_lang, dtype=np.int64), query_texts=query_texts,
        gold=gold, files=files,
    )


def build_mlqa_val(data_dir: Path, languages: list[str] | None = None,
                   max_articles: int | None = None, dev_fraction: float = DEV_FRACTION,
                   seed: int = SEED, spec: ValidationSpec | None = None) -> RetrievalBenchmark:
    """``mlqa-val``: question -> paragraph pools of the dev articles of ``mlqa-test``."""
    from babelir.data.registry import VALIDATION_BENCHMARKS

    spec = spec or VALIDATION_BENCHMARKS["mlqa-val"]
    max_articles = check_max_articles(max_articles)
    langs = check_languages(spec, languages)
    rows = _keep_articles(dev_rows(spec.source, data_dir, dev_fraction, seed), max_articles)
    files = _source_files(spec.source, Path(data_dir) / spec.relative_dir)
    return pool_from_rows(spec.name, rows, langs, files, tuple(languages or ()))


def build_xnli_val(data_dir: Path, languages: list[str] | None = None,
                   max_articles: int | None = None, dev_fraction: float = DEV_FRACTION,
                   seed: int = SEED, max_premises: int = XNLI_MAX_PREMISES,
                   spec: ValidationSpec | None = None) -> RetrievalBenchmark:
    """``xnli-val``: pooled translation retrieval over the dev premise groups of ``xnli``."""
    from babelir.data.registry import VALIDATION_BENCHMARKS

    spec = spec or VALIDATION_BENCHMARKS["xnli-val"]
    max_articles = check_max_articles(max_articles)
    langs = check_languages(spec, languages)
    rows = dev_rows(spec.source, data_dir, dev_fraction, seed)
    # the premise groups in file order: dev file first, then test, by line
    order = sorted(rows["article"].unique(),
                   key=lambda a: (a.split("-")[1], int(a.split("-")[2])))
    limit = min(max_premises, max_articles) if max_articles else max_premises
    rows = rows[rows["article"].isin(order[:limit])]
    files = _source_files(spec.source, Path(data_dir) / spec.relative_dir)
    return pool_from_rows(spec.name, rows, langs, files, tuple(languages or ()))


def _miracl_topics(data_dir: Path, lang: str) -> set[str]:
    """The MIRACL dev topics of ``lang`` in the data folder (none when absent)."""
    from babelir.data.miracl import load_topics, topics_file

    path = topics_file(Path(data_dir), lang)
    return {t.strip() for t in load_topics(path).values()} if path.is_file() else set()


def _answer_sentence_rows(examples, max_paragraphs: int) -> list[tuple]:
    """(example, sentence spans, gold span index) of the first ``max_paragraphs`` distinct
    paragraphs (in hash order) whose answer lies in exactly one sentence."""
    by_context: dict[str, list] = {}
    for example in examples:
        by_context.setdefault(example.context, []).append(example)
    kept = sorted(by_context, key=_hash)[:max_paragraphs]
    rows = []
    for context in sorted(kept, key=lambda c: by_context[c][0].id):
        spans = by_context[context][0].sentence_spans()
        for example in by_context[context]:
            touched = example.answer_sentences(spans)
            if len(touched) == 1:
                rows.append((example, spans, touched[0]))
    return rows


def build_tydi_val(data_dir: Path, languages: list[str] | None = None,
                   max_articles: int | None = None, max_paragraphs: int = TYDI_MAX_PARAGRAPHS,
                   spec: ValidationSpec | None = None) -> RetrievalBenchmark:
    """``tydi-val``: question -> answer SENTENCE pools of TyDi GoldP train (Mo only)."""
    from babelir.data.registry import VALIDATION_BENCHMARKS
    from babelir.data.sources.tydiqa import read_tydiqa_goldp

    spec = spec or VALIDATION_BENCHMARKS["tydi-val"]
    max_articles = check_max_articles(max_articles)
    langs = check_languages(spec, languages)
    limit = min(max_paragraphs, max_articles) if max_articles else max_paragraphs
    cand_ids, cand_lang, sentences, contexts = [], [], [], []
    query_ids, query_lang, query_texts, gold_index = [], [], [], []
    for j, lang in enumerate(langs):
        topics = _miracl_topics(data_dir, lang)
        examples = [e for e in read_tydiqa_goldp(data_dir, ("train",), [lang])
                    if e.question and e.question.strip() not in topics]
        seen: dict[str, int] = {}  # sentence text -> pooled index, per language
        for example, spans, gold in _answer_sentence_rows(examples, limit):
            index_of = []
            for start, end in spans:
                text = example.context[start:end]
                if text not in seen:
                    seen[text] = len(cand_ids)
                    cand_ids.append(f"{lang}/{_hash(example.context)}/{start}")
                    cand_lang.append(j)
                    sentences.append(text)
                    contexts.append(example.context)
                index_of.append(seen[text])
            query_ids.append(f"{lang}/{example.id}")
            query_lang.append(j)
            query_texts.append(example.question)
            gold_index.append(index_of[gold])
    gold = np.full((len(query_ids), len(langs)), -1, dtype=np.int64)
    gold[np.arange(len(query_ids)), query_lang] = gold_index
    files = {f"train-{lang}": str(Path(data_dir) / spec.relative_dir /
                                  f"tydiqa.goldp.{lang}.train.json") for lang in langs}
    return RetrievalBenchmark(
        name=spec.name, languages=langs, cand_ids=cand_ids,
        cand_lang=np.asarray(cand_lang, dtype=np.int64), cand_sentences=sentences,
        cand_contexts=contexts, query_ids=query_ids, query_xids=list(query_ids),
        query_lang=np.asarray(query_lang, dtype=np.int64), query_texts=query_texts,
        gold=gold, files=files)


BUILDERS = {"mlqa-val": build_mlqa_val, "xnli-val": build_xnli_val, "tydi-val": build_tydi_val}


def _data_root(spec: ValidationSpec, data_dir: Path | None, cache_dir: Path | None) -> Path:
    tried = []
    for root in (data_dir, Path(cache_dir) / "data" if cache_dir else None):
        if root is None:
            continue
        if (Path(root) / spec.relative_dir).is_dir():
            return Path(root)
        tried.append(str(Path(root) / spec.relative_dir))
    raise DataError(f"{spec.name} is built from the {spec.source} training files in "
                    f"{spec.relative_dir}/ of the data folder (looked in: "
                    f"{', '.join(tried) or 'nowhere'}); set --data-dir or $BABELIR_DATA "
                    "(it is never downloaded)", path=spec.relative_dir)


def load_validation_benchmark(spec: ValidationSpec, data_dir: Path | None,
                              cache_dir: Path | None = None,
                              languages: list[str] | None = None,
                              max_articles: int | None = None) -> RetrievalBenchmark:
    """Build a registered validation benchmark from the data folder (then the cache)."""
    try:
        builder = BUILDERS[spec.name]
    except KeyError:
        raise BabelirError(f"no builder for validation benchmark {spec.name!r}; known: "
                           f"{', '.join(BUILDERS)}") from None
    return builder(_data_root(spec, data_dir, cache_dir), languages=languages,
                   max_articles=max_articles, spec=spec)
