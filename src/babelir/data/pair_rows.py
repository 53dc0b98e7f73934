"""Rows of the pairs table from each source: ``babelir.data.sources`` examples as dicts
``{dataset, example_id, lang, question, passage, article_key, positive}``.

The positive passage follows ``positive`` where answers exist (``paragraph``, ``sentence``:
the sentence(s) holding the answer, ``sentence+paragraph``); blanked answers always give the
paragraph, and ``positive`` records the mode each row got. ``article_key`` groups examples
into articles for the dev split (``babelir.data.articles``): XQuAD-R its article index;
MLQA ``"<lang>:<hash of the paragraph>"`` for each context language; TyDi and user SQuAD
files the title (``title:<title>``), else the paragraph hash; JSON lines the ``article``
field (``article:<article>``), else the passage hash; XNLI the premise group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from babelir.data.sources import jsonl, mlqa, read_source, read_squad, tydiqa, xnli, xquad_r
from babelir.data.sources.examples import POSITIVE_MODES, ParallelSentence, QAExample
from babelir.data.sources.examples import check_positive, clean, positive_passage
from babelir.data.sources.names import parse_source_name
from babelir.data.splitting import covering_span
from babelir.errors import DataError

__all__ = ["POSITIVE_MODES", "load_jsonl", "load_mlqa_test", "load_source", "load_squad_file",
           "load_translation_folder", "load_tydiqa_goldp", "load_xnli", "load_xquad_r"]


def _hash(text: str, n: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:n]


def _row(dataset: str, example_id: str, lang: str, question: str | None,
         passage: str | None, article_key: str | None, positive: str | None = None) -> dict:
    return {"dataset": dataset, "example_id": example_id, "lang": lang, "question": question,
            "passage": passage, "article_key": article_key,
            "positive": positive if passage is not None else None}


def _answer_sentence(example: QAExample) -> str | None:
    """The sentence(s) holding the answer, cleaned; None when the answer is blanked."""
    if example.answer_text is None:
        return None
    start = example.answer_start
    span = covering_span(example.sentence_spans(), start, start + len(example.answer_text))
    if span is None:
        raise DataError(f"answer at {start} falls in no sentence", path=example.path,
                        record=example.record)
    return clean(example.context[span[0]:span[1]])


def squad_rows(examples: Iterable[QAExample], positive: str) -> list[dict]:
    """Rows of SQuAD-file examples (TyDi, user files): article key = title, else paragraph."""
    rows = []
    for ex in examples:
        context = clean(ex.context)
        key = f"title:{ex.article.strip()}" if ex.article else f"{ex.lang}:{_hash(context)}"
        passage, used = positive_passage(context, _answer_sentence(ex), positive)
        rows.append(_row(ex.source, ex.id, ex.lang, clean(ex.question), passage, key, used))
    return rows


def _parse_squad(path: Path, lang: str, dataset: str, positive: str,
                 make_id: Callable[[int, str], str], unique_ids: bool) -> list[dict]:
    """Rows of a one-language SQuAD file. ``make_id(position, raw_id)`` names examples."""
    return squad_rows(read_squad(path, lang, dataset, make_id, unique_ids), positive)


def mlqa_rows(examples: Iterable[QAExample]) -> list[dict]:
    """Rows of MLQA (texts already cleaned by the reader): article key = paragraph."""
    return [_row(ex.source, ex.id, ex.lang, ex.question, ex.context,
                 f"{ex.lang}:{_hash(ex.context)}" if ex.context is not None else None,
                 "paragraph") for ex in examples]


def xquad_r_rows(examples: Iterable[QAExample], positive: str) -> list[dict]:
    """Rows of XQuAD-R: the answer sentence is LAReQA's; article key = article index."""
    rows = []
    for ex in examples:
        passage, used = positive_passage(clean(ex.context), clean(ex.answer_sentence), positive)
        rows.append(_row(ex.source, ex.id, ex.lang, clean(ex.question), passage, ex.article,
                         used))
    return rows


def xnli_rows(sentences: Iterable[ParallelSentence]) -> list[dict]:
    """Rows of parallel sentences: the sentence is both question and passage."""
    return [_row(s.source, s.id, s.lang, s.text, s.text, s.id, "translation")
            for s in sentences]


def jsonl_rows(examples: Iterable[QAExample]) -> list[dict]:
    """Rows of JSON lines: article key = ``article``, else the passage."""
    rows = []
    for ex in examples:
        question = None if ex.question is None else clean(ex.question)
        passage = None if ex.context is None else clean(ex.context)
        if ex.article is not None:
            key = f"article:{clean(ex.article)}"
        else:
            key = f"{ex.lang}:{_hash(passage)}" if passage is not None else None
        rows.append(_row(ex.source, ex.id, ex.lang, question, passage, key, "as given"))
    return rows


# ---------------------------------------------------------------------------- per source


def load_mlqa_test(data_dir: Path) -> list[dict]:
    """MLQA test (XTREME layout), joined on the question id across the 16 files."""
    return mlqa_rows(mlqa.read_mlqa_test(data_dir))


def load_tydiqa_goldp(data_dir: Path, splits: Iterable[str] = ("dev",),
                      positive: str = "paragraph",
                      langs: Iterable[str] | None = None) -> list[dict]:
    """TyDi QA GoldP per-language files; ``splits`` ⊆ {"dev", "train"} (train leaks into MIRACL)."""
    check_positive(positive)
    return squad_rows(tydiqa.read_tydiqa_goldp(data_dir, splits, langs), positive)


def load_xquad_r(data_dir: Path, positive: str = "paragraph",
                 langs: Iterable[str] | None = None) -> list[dict]:
    """XQuAD-R, 11-way parallel, with gold answer sentences. Never for XQuAD-R evaluation."""
    check_positive(positive)
    return xquad_r_rows(xquad_r.read_xquad_r(data_dir, langs), positive)


def load_xnli(data_dir: Path, splits: Iterable[str] = ("dev", "test")) -> list[dict]:
    """XNLI premises as parallel sentences (``babelir.data.sources.xnli``)."""
    return xnli_rows(xnli.read_xnli(data_dir, splits))


def load_squad_file(path: Path, lang: str, positive: str = "paragraph",
                    dataset: str | None = None) -> list[dict]:
    """A user SQuAD v1.1 file in one language; question ids must be unique in it."""
    check_positive(positive)
    return _parse_squad(path, lang, dataset or f"squad-{Path(path).stem}", positive,
                        lambda pos, raw: raw, unique_ids=True)


def load_jsonl(path: Path, dataset: str | None = None) -> list[dict]:
    """A user JSON-lines file: ``{"id", "lang", "question", "passage"[, "article"]}`` per line."""
    return jsonl_rows(jsonl.read_jsonl(path, source=dataset))


def load_translation_folder(folder: Path) -> list[dict]:
    """Rows of a ``babelir translate`` output folder: its manifest's combined JSONL."""
    return load_jsonl(jsonl.translation_folder_file(folder))


def load_source(spec: str, data_dir: Path, positive: str = "paragraph") -> list[dict]:
    """Rows of one source given by name (``babelir.data.sources.names``)."""
    name = parse_source_name(spec)
    examples = read_source(name, data_dir)
    if name.source == "mlqa":
        return mlqa_rows(examples)
    if name.source == "xquad-r":
        return xquad_r_rows(examples, check_positive(positive))
    if name.source == "xnli":
        return xnli_rows(examples)
    if name.source in ("tydiqa-goldp", "squad"):
        return squad_rows(examples, check_positive(positive))
    return jsonl_rows(examples)
