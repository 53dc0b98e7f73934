"""babelir's JSON-lines source format, and the folders ``babelir translate`` writes.

One row per line: ``{"id", "lang", "question", "passage"}`` (question or passage may be null,
not both), optional ``"article"``. The id links translations; (id, lang) is unique. A
``babelir translate`` output folder is read through its ``manifest.json``, which names the
combined file (source language + every translation).
"""

from __future__ import annotations

import json
from pathlib import Path

from babelir.data.sources.examples import QAExample, check_lang
from babelir.data.sources.jsonfields import field, text
from babelir.data.validate import json_object_line
from babelir.errors import BabelirError, DataError

SHAPE = "{id, lang, question, passage}"


def dataset_name(path: Path) -> str:
    return f"jsonl-{Path(path).stem}"


def _example(obj: dict, path: Path, record: str, source: str) -> QAExample:
    """One checked line."""
    for key in ("id", "lang", "question", "passage"):
        field(obj, key, path, record)
    raw_id = obj["id"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
        raise DataError(f"'id' must be a non-empty string or an integer, got {raw_id!r}",
                        path=path, record=record)
    if obj["lang"] is not None and not isinstance(obj["lang"], str):
        raise DataError(f"'lang' must be a language code, got {obj['lang']!r}", path=path,
                        record=record)
    lang = check_lang(obj["lang"], path, record)
    for key in ("question", "passage"):
        if obj[key] is not None and not isinstance(obj[key], str):
            raise DataError(f"{key!r} must be a string or null, got {obj[key]!r}", path=path,
                            record=record)
        if obj[key] is not None:
            text(obj[key], key, path, record)
    if obj["question"] is None and obj["passage"] is None:
        raise DataError("question and passage are both null", path=path, record=record)
    article = obj.get("article")
    if article is not None:
        article = str(article)
        text(article, "article", path, record)
    return QAExample(id=str(raw_id), lang=lang, question=obj["question"],
                     context=obj["passage"], source=source, article=article,
                     raw_id=str(raw_id), path=str(path), record=record)


def read_jsonl(path: Path, lang: str | None = None,
               source: str | None = None) -> list[QAExample]:
    """The rows of a JSON-lines file (of language ``lang`` only, when given), in file order;
    ``source`` names the dataset (default ``jsonl-<file stem>``)."""
    path = Path(path)
    source = source or dataset_name(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 ({exc})", path=path) from None
    examples, seen = [], {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = f"line {n}"
        example = _example(json_object_line(line, path, record, SHAPE), path, record, source)
        key = (example.id, example.lang)
        if key in seen:
            raise DataError(f"duplicate (id, lang) {key!r}; first at line {seen[key]}",
                            path=path, record=record)
        seen[key] = n
        if lang is None or example.lang == lang:
            examples.append(example)
    if not seen:
        raise DataError("no rows found", path=path)
    return examples


def translation_folder_file(folder: Path) -> Path:
    """The combined JSONL of a ``babelir translate`` output folder (its manifest names it)."""
    manifest_path = Path(folder) / "manifest.json"
    try:
        combined = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]["combined"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BabelirError(f"{manifest_path}: not a babelir translate manifest "
                           f"(files.combined missing or unreadable: {exc})") from exc
    path = Path(folder) / combined
    if not path.is_file():
        raise BabelirError(f"{manifest_path} names {combined}, which is not in {folder}")
    return path
