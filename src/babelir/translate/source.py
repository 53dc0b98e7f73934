"""What a translation starts from: one source of ``babelir.data.sources``, its examples cut
into the sentences that are translated one by one.

``load_source(name)`` reads ``tydiqa-goldp:<lang>[:<split>]`` (default split: train, which
has answers), ``squad:<lang>:<path>``, ``jsonl:[<lang>:]<path>``, or a ``.json`` (SQuAD, in
``source_lang``, default en) / ``.jsonl`` file path. Example ids are the sources' own: TyDi
train examples are ``tydiqa-train-<lang>-<position>``, as in build-pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from babelir.data.sources import (
    QAExample,
    SourceName,
    clean,
    parse_source_name,
    read_source,
    resolve_path,
    source_file,
)
from babelir.data.sources import read_squad as read_squad_examples
from babelir.data.sources.jsonl import read_jsonl as read_jsonl_examples
from babelir.errors import BabelirError, DataError
from babelir.translate.engines import normalize

DEFAULT_SPLITS = ("train",)
SOURCE_KINDS = ("tydiqa-goldp", "squad", "jsonl")


@dataclass
class Example:
    """A source example ready to translate: normalised question and sentences, the
    indices of the answer's sentences (``gold``), the answer offset in ``context``."""

    id: str
    source_id: str
    question: str | None
    context: str
    sentences: list[str]
    gold: list[int]
    answer_text: str | None
    answer_start: int | None = None
    title: str | None = None
    extra: dict = field(default_factory=dict)


def prepare(examples: Iterable[QAExample], jsonl: bool = False) -> list[Example]:
    """Each example cut into normalised sentences, with its answer's sentence indices.

    A SQuAD example's ``context`` is its cleaned paragraph (``answer_start`` shifted to
    match); a JSON-lines row's is its stripped passage, and its ``article`` is kept.
    """
    prepared, spans_of = [], {}
    for ex in examples:
        raw = ex.context or ""
        key = (raw, ex.lang, ex.sentence_breaks)
        if key not in spans_of:
            spans_of[key] = ex.sentence_spans() if raw.strip() else []
        spans = spans_of[key]
        context = raw.strip() if jsonl else clean(raw)
        answer_start = None
        if ex.answer_text is not None:
            answer_start = ex.answer_start - raw.find(context)
        prepared.append(Example(
            id=ex.id, source_id=ex.raw_id or ex.id,
            question=normalize(ex.question) if ex.question else None, context=context,
            sentences=[normalize(raw[s:e]) for s, e in spans], gold=ex.answer_sentences(spans),
            answer_text=ex.answer_text, answer_start=answer_start, title=ex.article,
            extra={"article": ex.article} if jsonl else {}))
    return prepared


def read_squad(path: Path, lang: str,
               make_id: Callable[[int, str], str] = lambda pos, raw: raw) -> list[Example]:
    """Examples of a SQuAD v1.1 file; ``make_id(position, raw id)`` names them."""
    return prepare(read_squad_examples(Path(path), lang, f"squad-{Path(path).stem}", make_id))


def read_jsonl(path: Path, lang: str | None = None) -> tuple[str, list[Example]]:
    """Rows ``{id, lang, question, passage}`` of one language (the passage is split)."""
    examples = read_jsonl_examples(Path(path), lang)
    return _one_language(examples, path), prepare(examples, jsonl=True)


def _one_language(examples: list[QAExample], path: Path) -> str:
    langs = sorted({ex.lang for ex in examples})
    if len(langs) != 1:
        raise DataError(f"expected rows of one language (pass source_lang), found "
                        f"{langs or 'none'}", path=path)
    return langs[0]


def _legacy_path(name: SourceName, data_dir: Path | None,
                 source_lang: str | None) -> SourceName:
    """A ``.json`` / ``.jsonl`` path as the squad / jsonl name it stands for."""
    path = resolve_path(name.path, data_dir)
    if path.suffix == ".jsonl":
        return SourceName("jsonl", (source_lang,) if source_lang else None, None, name.path)
    if path.suffix == ".json":
        return SourceName("squad", (source_lang or "en",), None, name.path)
    raise BabelirError(f"unknown translation source {name.path!r}: use "
                       "tydiqa-goldp:<lang>[:<split>], squad:<lang>:<path>, a SQuAD .json "
                       "or a .jsonl file")


def load_source(source: str, data_dir: Path | None = None,
                source_lang: str | None = None) -> tuple[str, str, list[Example]]:
    """(source language, source file, examples) of a source name (module docstring)."""
    name = parse_source_name(source)
    if name.source == "path":
        name = _legacy_path(name, data_dir, source_lang)
    if name.source not in SOURCE_KINDS:
        raise BabelirError(f"translate reads {', '.join(SOURCE_KINDS)} sources, not "
                           f"{source!r}")
    name = name.with_default_splits(DEFAULT_SPLITS)
    if name.source == "tydiqa-goldp" and (name.langs is None or len(name.langs) != 1
                                          or len(name.splits) != 1):
        raise BabelirError(f"source {source!r}: translate reads one language and split, "
                           "e.g. tydiqa-goldp:en:train")
    examples = read_source(name, data_dir, DEFAULT_SPLITS)
    where = source_file(name, data_dir)
    if name.source == "jsonl":
        return _one_language(examples, where), str(where), prepare(examples, jsonl=True)
    return name.langs[0], str(where), prepare(examples)
