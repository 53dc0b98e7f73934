"""The SQuAD-format reader: one language's SQuAD v1.1 JSON file as ``QAExample`` objects.

Every source in SQuAD form goes through ``read_squad``: MLQA and TyDi QA GoldP (XTREME
layout), a user's ``squad:<lang>:<path>`` file, and the translator's ``.json`` sources. The
file is checked as it is read, each error naming the file and the record
(``data[a].paragraphs[p].qas[k] (id …)``): every paragraph needs a non-empty ``context``,
every question an ``id`` and a non-empty ``question``; the first answer, when present and not
blanked (``text`` ""), must stand at its ``answer_start``; ``sentence_breaks``, when given,
must be ``[start, end)`` offsets into the context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from babelir.data.sources.examples import QAExample, check_lang
from babelir.data.sources.jsonfields import field, items, read_json, text, whole_number
from babelir.errors import DataError


def _raw_id(position: int, raw_id: str) -> str:
    return raw_id


def read_squad(path: Path, lang: str, source: str,
               make_id: Callable[[int, str], str] = _raw_id,
               unique_ids: bool = True) -> list[QAExample]:
    """The questions of a SQuAD file in language ``lang``, in file order.

    ``make_id(position, raw id)`` names the examples (``position``: 0-based index of the
    question in the file); with ``unique_ids`` a repeated name is a DataError.
    """
    check_lang(lang, path, "language argument")
    root = read_json(path)
    examples: list[QAExample] = []
    seen: dict[str, str] = {}
    for a, article in enumerate(items(root, "data", path, "top level")):
        title = article.get("title") if isinstance(article, dict) else None
        title = title if isinstance(title, str) and title.strip() else None
        for p, paragraph in enumerate(items(article, "paragraphs", path, f"data[{a}]")):
            record = f"data[{a}].paragraphs[{p}]"
            context = field(paragraph, "context", path, record)
            text(context, "context", path, record)
            breaks = _sentence_breaks(paragraph.get("sentence_breaks"), context, path, record)
            for k, qa in enumerate(items(paragraph, "qas", path, record)):
                raw_id = str(field(qa, "id", path, f"{record}.qas[{k}]"))
                qrecord = f"{record}.qas[{k}] (id {raw_id})"
                question = field(qa, "question", path, qrecord)
                text(question, "question", path, qrecord)
                example_id = make_id(len(examples), raw_id)
                if unique_ids and example_id in seen:
                    raise DataError(f"duplicate question id {raw_id!r} (first at "
                                    f"{seen[example_id]})", path=path, record=qrecord)
                seen[example_id] = qrecord
                answer_text, answer_start = _first_answer(qa, context, path, qrecord)
                examples.append(QAExample(
                    id=example_id, lang=lang, question=question, context=context,
                    source=source, article=title, answer_text=answer_text,
                    answer_start=answer_start, sentence_breaks=breaks, raw_id=raw_id,
                    path=str(path), record=qrecord))
    if not examples:
        raise DataError("no questions found", path=path)
    return examples


def _first_answer(qa: dict, context: str, path: Path,
                  record: str) -> tuple[str | None, int | None]:
    """(text, answer_start) of the first answer; (None, None) when absent or blanked."""
    answers = qa.get("answers") or []
    if not isinstance(answers, list):
        raise DataError(f"'answers' must be a list, got {type(answers).__name__}", path=path,
                        record=record)
    if not answers:
        return None, None
    answer_text = field(answers[0], "text", path, record)
    start = field(answers[0], "answer_start", path, record)
    if not isinstance(answer_text, str):
        raise DataError(f"answer text must be a string, got {answer_text!r}", path=path,
                        record=record)
    if not whole_number(start):
        raise DataError(f"answer_start must be an integer, got {start!r}", path=path,
                        record=record)
    if answer_text == "":
        return None, None  # blanked (XTREME test/dev layout)
    end = start + len(answer_text)
    if not 0 <= start <= len(context) - len(answer_text) or context[start:end] != answer_text:
        raise DataError(f"answer {answer_text!r} is not at answer_start {start} of the "
                        "context", path=path, record=record)
    return answer_text, start


def _sentence_breaks(breaks: object, context: str, path: Path,
                     record: str) -> tuple[tuple[int, int], ...] | None:
    """The paragraph's ``sentence_breaks`` as checked spans, or None when it has none."""
    if not breaks:
        return None
    if not isinstance(breaks, list):
        raise DataError(f"'sentence_breaks' must be a list, got {type(breaks).__name__}",
                        path=path, record=record)
    spans = []
    for k, span in enumerate(breaks):
        if (not isinstance(span, (list, tuple)) or len(span) != 2
                or not all(whole_number(x) for x in span)
                or not 0 <= span[0] < span[1] <= len(context)):
            raise DataError(f"bad sentence_breaks entry {k}: {span!r}", path=path,
                            record=record)
        spans.append((int(span[0]), int(span[1])))
    return tuple(spans)
