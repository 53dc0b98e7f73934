"""XQuAD-R as a training source: the 11-way parallel LAReQA files, one example per question.

Read through ``babelir.data.lareqa.load_language_file`` (the benchmark loader), so the answer
sentence is the one LAReQA scores: the file's ``sentence_breaks`` span holding the answer.
**Never train on it when evaluating on XQuAD-R.**
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from babelir.data.lareqa import load_language_file
from babelir.data.sources.examples import QAExample
from babelir.errors import DataError

DATASET = "xquad-r"
LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def read_xquad_r(data_dir: Path, langs: Iterable[str] | None = None) -> list[QAExample]:
    """The questions of every language file (or of ``langs``), with their paragraph, answer
    sentence and article (``a<k>``, shared by the 11 files)."""
    examples = []
    for lang in LANGS if langs is None else tuple(langs):
        path = Path(data_dir) / "lareqa" / "xquad-r" / f"{lang}.json"
        part = load_language_file(path, lang)
        seen = set()
        for xid, question, gold in zip(part.query_xids, part.query_texts, part.query_gold):
            if xid in seen:
                raise DataError(f"duplicate question id {xid!r}", path=path,
                                record=f"question {xid}")
            seen.add(xid)
            article = part.cand_ids[gold].split("/")[1]  # "<lang>/a<article>/p<para>/s<k>"
            examples.append(QAExample(
                id=xid, lang=lang, question=question, context=part.cand_contexts[gold],
                source=DATASET, article=article, answer_sentence=part.cand_sentences[gold],
                raw_id=xid, path=str(path), record=f"question {xid}"))
    return examples
