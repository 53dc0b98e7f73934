"""MLQA test in the XTREME layout: the 16 files joined on the question id.

``mlqa/test/test-context-<c>-question-<q>.json`` holds questions in ``q`` about paragraphs
in ``c``; answers are blanked. Question ids are shared across files, so the files are joined
on the id: an example has a question in every question language and a paragraph in every
context language in which the id occurs (which yields de-de, es-es, vi-vi and zh-zh pairs
that no single file holds). An id must have one question text per language and one
paragraph per context language; a conflict is a DataError naming both places.
"""

from __future__ import annotations

import re
from pathlib import Path

from babelir.data.sources.examples import QAExample, check_lang, clean
from babelir.data.sources.squad import read_squad
from babelir.errors import DataError

DATASET = "mlqa-test"
_FILE = re.compile(r"^test-context-([a-z]{2})-question-([a-z]{2})\.json$")


def read_mlqa_test(data_dir: Path) -> list[QAExample]:
    """One example per (question id, language), sorted: the language's question and/or
    paragraph (cleaned), None where the id has none in that language."""
    folder = Path(data_dir) / "mlqa" / "test"
    files = sorted(f for f in folder.glob("test-context-*-question-*.json")
                   if _FILE.match(f.name))
    if not files:
        raise DataError("no test-context-<c>-question-<q>.json files", path=folder)
    questions: dict[str, dict[str, tuple[str, str]]] = {}  # id -> lang -> (text, where)
    contexts: dict[str, dict[str, tuple[str, str]]] = {}
    for path in files:
        c_lang, q_lang = _FILE.match(path.name).groups()
        check_lang(c_lang, path, "file name")
        check_lang(q_lang, path, "file name")
        for ex in read_squad(path, q_lang, DATASET, unique_ids=False):
            where = f"{path.name} {ex.record}"
            for table, lang, value, what in ((questions, q_lang, ex.question, "question"),
                                             (contexts, c_lang, ex.context, "context")):
                value = clean(value)
                old = table.setdefault(ex.id, {}).setdefault(lang, (value, where))
                if old[0] != value:
                    raise DataError(f"id {ex.id} has a different {lang} {what} in {old[1]}",
                                    path=path, record=ex.record)
    examples = []
    for qid in sorted(questions):
        q_by_lang, c_by_lang = questions[qid], contexts[qid]
        for lang in sorted(set(q_by_lang) | set(c_by_lang)):
            examples.append(QAExample(
                id=qid, lang=lang, question=q_by_lang.get(lang, (None,))[0],
                context=c_by_lang.get(lang, (None,))[0], source=DATASET, raw_id=qid))
    return examples
