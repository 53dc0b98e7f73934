"""Training pairs: one table of (question, passage) examples from parallel QA data.

The table is in LONG format: one row per (dataset, example_id, lang) with the columns

============  ==================================================================
dataset       where the example comes from (``mlqa-test``, ``tydiqa-goldp-dev``, …)
example_id    shared by every translation of one example
lang          ISO 639-1 code of this row's texts
question      the question in ``lang``, or None when the example has none in it
passage       the positive passage in ``lang``, or None when it has none in it
article       grouping key of the dev split: all rows of an article share a split
split         ``train`` or ``dev``
============  ==================================================================

A (question, positive) training pair is any question row joined with any passage row of
the same (dataset, example_id): same language gives a monolingual (X-X) pair, different
languages a cross-lingual (X-Y) pair. ``pairs_available`` counts them.

Sources (``build_pairs(sources=[...])``; see ``SOURCE_HELP``):

``mlqa-test``
    The 16 XTREME-layout MLQA test files ``mlqa/test/test-context-<c>-question-<q>.json``.
    Answers are blanked, so the positive is always the paragraph. Question ids are shared
    across files: the files are joined on the id, so an example has a question in every
    question language and a paragraph in every context language in which the id occurs
    (this yields de-de, es-es, vi-vi and zh-zh pairs that no single file holds). An id must
    have one question text per language and one paragraph per context language; a conflict
    is a DataError.
``tydiqa-goldp`` (= ``tydiqa-goldp:dev``), ``tydiqa-goldp:train``, ``tydiqa-goldp:dev+train``
    TyDi QA GoldP, monolingual. Dev files (dataset ``tydiqa-goldp-dev``): ids are unique,
    answers blanked, the positive is the paragraph. Train files (dataset
    ``tydiqa-goldp-train``): XTREME kept only the last ``-N`` of the original ids, so they
    repeat (en: 89 distinct ids for 3,696 questions); examples are keyed by position
    instead: ``example_id = f"tydiqa-train-{lang}-{position}"``, ``position`` = 0-based index
    of the question in file order. Train answers are present, so the positive modes apply.
    **The train files leak into MIRACL dev** (most MIRACL en/ko/sw topics are TyDi train
    questions): they are opt-in, and ``build_pairs(benchmark="miracl")`` refuses them.
``xquad-r``
    The 11-way parallel XQuAD-R files, through ``babelir.data.lareqa.load_language_file``.
    Answer sentences come from the files' own ``sentence_breaks``. **Never train on it when
    evaluating on XQuAD-R** (``benchmark="xquad-r"`` refuses it).
``xnli`` (= ``xnli:dev+test``), ``xnli:dev``, ``xnli:test``
    XNLI premises as parallel sentences (dataset ``xnli``). Each premise stands on 3
    consecutive rows (one per hypothesis) of the line-aligned ``xnli/<split>-<lang>.tsv``
    files; rows ``3g .. 3g+2`` form premise group ``g`` (their premises must be identical,
    else DataError) and become ONE example ``f"xnli-{split}-{g}"`` whose row in each language
    holds that language's premise as both ``question`` and ``passage``. Used as translation
    pairs: question = premise in language X, positive = the same premise in language Y,
    X != Y. Same-language pairs of this dataset are identities and are not pairs
    (``TRANSLATION_DATASETS``; ``pairs_available`` skips them). A group whose premises in
    every language repeat an earlier group is dropped (dedupe across dev and test).
``squad:<lang>:<path>``
    A user SQuAD v1.1 file in one language (dataset ``squad-<file stem>``: files with the
    same stem, e.g. one per language, are joined on the question id). Questions with a
    non-empty answer get the positive mode; blanked answers give the paragraph. Uses the
    paragraphs' ``sentence_breaks`` where present, else ``split_sentences``. Article = the
    title, else the paragraph.
``<folder>`` (a ``babelir translate --out`` folder)
    Its ``manifest.json`` names the combined JSONL (source language + every translation),
    read as ``jsonl:<folder>/<combined file>`` (dataset ``jsonl-<folder name>``).
``jsonl:<path>``
    A user JSON-lines file (dataset ``jsonl-<file stem>``), one row per line:
    ``{"id", "lang", "question", "passage"}`` (question or passage may be null, not both),
    optional ``"article"``. The id links translations.

Positive passage (``positive=``), where answers exist: ``paragraph`` (default), ``sentence``
(the sentence(s) holding the answer) or ``sentence+paragraph`` (``f"{sentence} {paragraph}"``,
as LAReQA encodes candidates). Where answers are blanked it is always the paragraph; the
summary reports which positive each dataset actually got.

Dev split, BY ARTICLE: examples are grouped (union-find) so that every example that shares
an id (all translations) or an article key lands in one group; the group's name (the
``article`` column) is its smallest article key. ``blake2b(seed, dataset, article)`` decides
the split, so every row of an article is in the same split, deterministically, independent
of file order and of the ``languages`` subset (grouping happens before filtering). Article
keys: XQuAD-R its article index (shared by the 11 files); MLQA, which has no titles,
``"<c-lang>:<hash of the paragraph>"`` for each context language of an id — so two questions
about one paragraph (in any language) are grouped, and so are all translations of each,
even when one id has a paragraph in es only and another the same es paragraph plus a de one
(keying on the lowest-sorting context language alone would split those); TyDi, user files:
the paragraph hash per language (or the title / ``article`` field); XNLI: the premise group.

Decontamination (``build_pairs(drop_overlap=[benchmark, ...])``, ``--drop-overlap``): after the
split and the language filter, every example that the leakage guard's checks flag against a
named benchmark is removed, all its rows (``babelir.training.decontaminate``); the splits of
the others do not change, and the summary's ``drop_overlap`` lists what went and why.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from babelir.data.lareqa import load_language_file
from babelir.data.splitting import covering_span, split_sentences
from babelir.data.validate import json_object_line
from babelir.errors import BabelirError, DataError
from babelir.io import atomic_path, write_json

COLUMNS = ("dataset", "example_id", "lang", "question", "passage", "article", "split")
KEY = ["dataset", "example_id", "lang"]
POSITIVE_MODES = ("paragraph", "sentence", "sentence+paragraph")
SPLITS = ("train", "dev")
TRANSLATION_DATASETS = frozenset({"xnli"})

# ISO 639-1 (two-letter) codes, the valid values of the ``lang`` column.
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu
hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb
lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om
or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())

# Which evaluation benchmark each dataset must not be trained for (data README §2).
LEAKS = {
    "xquad-r": ("xquad-r",),
    "tydiqa-goldp-train": ("miracl",),
}

SOURCE_HELP = (
    "mlqa-test | tydiqa-goldp[:dev|:train|:dev+train] | xquad-r | xnli[:dev|:test|:dev+test] | "
    "squad:<lang>:<path> | jsonl:<path> | <folder written by babelir translate>"
)

_MLQA_FILE = re.compile(r"^test-context-([a-z]{2})-question-([a-z]{2})\.json$")
_TYDI_FILE = re.compile(r"^tydiqa\.goldp\.([a-z]{2})\.(dev|train)\.json$")
_XNLI_FILE = re.compile(r"^(dev|test)-([a-z]{2})\.tsv$")
XQUAD_R_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


# ---------------------------------------------------------------------------- helpers


def _hash(text: str, n: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:n]


def _clean(text: str) -> str:
    """Strip surrounding whitespace and byte-order marks."""
    return text.strip().strip("\ufeff").strip()


def _row(dataset: str, example_id: str, lang: str, question: str | None,
         passage: str | None, article_key: str | None, positive: str | None = None) -> dict:
    return {"dataset": dataset, "example_id": example_id, "lang": lang, "question": question,
            "passage": passage, "article_key": article_key,
            "positive": positive if passage is not None else None}


def _read_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON ({exc})", path=path) from None


def _field(mapping: object, key: str, path: Path, record: str) -> object:
    if not isinstance(mapping, dict) or key not in mapping:
        raise DataError(f"missing field {key!r}", path=path, record=record)
    return mapping[key]


def _items(mapping: object, key: str, path: Path, record: str) -> list:
    """The JSON array ``mapping[key]``: a DataError when missing or not a list."""
    value = _field(mapping, key, path, record)
    if not isinstance(value, list):
        raise DataError(f"{key!r} must be a list, got {type(value).__name__}", path=path,
                        record=record)
    return value


def _text(value: object, what: str, path: Path, record: str) -> str:
    if not isinstance(value, str) or not _clean(value):
        raise DataError(f"empty or non-text {what}", path=path, record=record)
    return _clean(value)


def _check_lang(lang: object, path: object, record: object) -> str:
    if not isinstance(lang, str) or not lang:
        raise DataError("missing language code", path=path, record=record)
    if lang not in ISO_639_1:
        raise DataError(f"unknown language code {lang!r} (expected ISO 639-1, e.g. 'en')",
                        path=path, record=record)
    return lang


def _check_positive(positive: str) -> str:
    if positive not in POSITIVE_MODES:
        raise BabelirError(f"unknown positive mode {positive!r}; valid: "
                           f"{', '.join(POSITIVE_MODES)}")
    return positive


def _positive_text(paragraph: str, sentence: str | None, positive: str) -> tuple[str, str]:
    """(passage text, positive mode actually used) for one question."""
    if sentence is None or positive == "paragraph":
        return paragraph, "paragraph"
    if positive == "sentence":
        return sentence, "sentence"
    return f"{sentence} {paragraph}", "sentence+paragraph"


def _answer_sentence(paragraph: dict, context: str, lang: str, qa: dict, path: Path,
                     record: str) -> str | None:
    """The sentence(s) holding the first answer, or None when the answer is blanked."""
    answers = qa.get("answers") or []
    if not isinstance(answers, list):
        raise DataError(f"'answers' must be a list, got {type(answers).__name__}", path=path,
                        record=record)
    if not answers:
        return None
    answer = answers[0]
    text = _field(answer, "text", path, record)
    start = _field(answer, "answer_start", path, record)
    if not isinstance(text, str):
        raise DataError(f"answer text must be a string, got {text!r}", path=path, record=record)
    if not isinstance(start, int) or isinstance(start, bool):
        raise DataError(f"answer_start must be an integer, got {start!r}", path=path,
                        record=record)
    if text == "":
        return None  # blanked (XTREME test/dev layout)
    if not 0 <= start <= len(context) - len(text) or context[start:start + len(text)] != text:
        raise DataError(f"answer {text!r} is not at answer_start {start} of the context",
                        path=path, record=record)
    breaks = paragraph.get("sentence_breaks")
    if breaks:
        spans = []
        if not isinstance(breaks, list):
            raise DataError(f"'sentence_breaks' must be a list, got {type(breaks).__name__}",
                            path=path, record=record)
        for k, span in enumerate(breaks):
            if (not isinstance(span, (list, tuple)) or len(span) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)
                    or not 0 <= span[0] < span[1] <= len(context)):
                raise DataError(f"bad sentence_breaks entry {k}: {span!r}", path=path,
                                record=record)
            spans.append((int(span[0]), int(span[1])))
    else:
        spans = split_sentences(context, lang)
    span = covering_span(spans, start, start + len(text))
    if span is None:
        raise DataError(f"answer at {start} falls in no sentence", path=path, record=record)
    return _clean(context[span[0]:span[1]])


def _parse_squad(path: Path, lang: str, dataset: str, positive: str,
                 make_id: Callable[[int, str], str], unique_ids: bool) -> list[dict]:
    """Rows of a one-language SQuAD file. ``make_id(position, raw_id)`` names examples."""
    root = _read_json(path)
    articles = _items(root, "data", path, "top level")
    rows: list[dict] = []
    seen: dict[str, str] = {}
    position = 0
    for a, article in enumerate(articles):
        title = article.get("title") if isinstance(article, dict) else None
        for p, paragraph in enumerate(_items(article, "paragraphs", path, f"data[{a}]")):
            record = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", path, record)
            if not isinstance(context, str) or not _clean(context):
                raise DataError("empty or non-text context", path=path, record=record)
            clean_context = _clean(context)
            if isinstance(title, str) and title.strip():
                key = f"title:{title.strip()}"
            else:
                key = f"{lang}:{_hash(clean_context)}"
            for k, qa in enumerate(_items(paragraph, "qas", path, record)):
                raw_id = str(_field(qa, "id", path, f"{record}.qas[{k}]"))
                qrecord = f"{record}.qas[{k}] (id {raw_id})"
                question = _text(_field(qa, "question", path, qrecord), "question", path,
                                 qrecord)
                example_id = make_id(position, raw_id)
                if unique_ids and example_id in seen:
                    raise DataError(f"duplicate question id {raw_id!r} (first at "
                                    f"{seen[example_id]})", path=path, record=qrecord)
                seen[example_id] = qrecord
                sentence = _answer_sentence(paragraph, context, lang, qa, path, qrecord)
                passage, used = _positive_text(clean_context, sentence, positive)
                rows.append(_row(dataset, example_id, lang, question, passage, key, used))
                position += 1
    if not rows:
        raise DataError("no questions found", path=path)
    return rows


# ---------------------------------------------------------------------------- sources


def load_mlqa_test(data_dir: Path) -> list[dict]:
    """MLQA test (XTREME layout), joined on the question id across the 16 files."""
    folder = Path(data_dir) / "mlqa" / "test"
    files = sorted(f for f in folder.glob("test-context-*-question-*.json")
                   if _MLQA_FILE.match(f.name))
    if not files:
        raise DataError("no test-context-<c>-question-<q>.json files", path=folder)
    questions: dict[str, dict[str, tuple[str, str]]] = {}  # id -> lang -> (text, where)
    contexts: dict[str, dict[str, tuple[str, str]]] = {}
    for path in files:
        c_lang, q_lang = _MLQA_FILE.match(path.name).groups()
        _check_lang(c_lang, path, "file name")
        _check_lang(q_lang, path, "file name")
        root = _read_json(path)
        seen_here: set[str] = set()
        for a, article in enumerate(_items(root, "data", path, "top level")):
            for p, paragraph in enumerate(_items(article, "paragraphs", path, f"data[{a}]")):
                record = f"data[{a}].paragraphs[{p}]"
                context = _text(_field(paragraph, "context", path, record), "context", path,
                                record)
                for k, qa in enumerate(_items(paragraph, "qas", path, record)):
                    qid = str(_field(qa, "id", path, f"{record}.qas[{k}]"))
                    qrecord = f"{record}.qas[{k}] (id {qid})"
                    question = _text(_field(qa, "question", path, qrecord), "question", path,
                                     qrecord)
                    where = f"{path.name} {qrecord}"
                    for table, lang, text, what in ((questions, q_lang, question, "question"),
                                                    (contexts, c_lang, context, "context")):
                        old = table.setdefault(qid, {}).setdefault(lang, (text, where))
                        if old[0] != text:
                            raise DataError(f"id {qid} has a different {lang} {what} in "
                                            f"{old[1]}", path=path, record=qrecord)
                    if qid in seen_here:
                        continue  # an exact repeat within one file: harmless
                    seen_here.add(qid)
    rows = []
    for qid in sorted(questions):
        q_by_lang, c_by_lang = questions[qid], contexts[qid]
        for lang in sorted(set(q_by_lang) | set(c_by_lang)):
            question = q_by_lang.get(lang, (None,))[0]
            context = c_by_lang.get(lang, (None,))[0]
            key = f"{lang}:{_hash(context)}" if context is not None else None
            rows.append(_row("mlqa-test", qid, lang, question, context, key, "paragraph"))
    return rows


def load_tydiqa_goldp(data_dir: Path, splits: Iterable[str] = ("dev",),
                      positive: str = "paragraph") -> list[dict]:
    """TyDi QA GoldP per-language files; ``splits`` ⊆ {"dev", "train"} (train leaks into MIRACL)."""
    _check_positive(positive)
    splits = tuple(splits)
    bad = [s for s in splits if s not in ("dev", "train")]
    if bad or not splits:
        raise BabelirError(f"tydiqa-goldp splits must be dev and/or train, not {splits!r}")
    rows: list[dict] = []
    for split in splits:
        folder = Path(data_dir) / "tydiqa" / f"goldp-{split}"
        files = sorted(f for f in folder.glob(f"tydiqa.goldp.*.{split}.json")
                       if _TYDI_FILE.match(f.name))
        if not files:
            raise DataError(f"no tydiqa.goldp.<lang>.{split}.json files", path=folder)
        for path in files:
            lang = _check_lang(_TYDI_FILE.match(path.name).group(1), path, "file name")
            if split == "dev":
                rows += _parse_squad(path, lang, "tydiqa-goldp-dev", positive,
                                     lambda pos, raw: raw, unique_ids=True)
            else:
                rows += _parse_squad(path, lang, "tydiqa-goldp-train", positive,
                                     lambda pos, raw, lang=lang: f"tydiqa-train-{lang}-{pos}",
                                     unique_ids=True)
    return rows


def load_xquad_r(data_dir: Path, positive: str = "paragraph") -> list[dict]:
    """XQuAD-R, 11-way parallel, with gold answer sentences. Never for XQuAD-R evaluation."""
    _check_positive(positive)
    rows = []
    for lang in XQUAD_R_LANGS:
        path = Path(data_dir) / "lareqa" / "xquad-r" / f"{lang}.json"
        part = load_language_file(path, lang)
        seen = set()
        for xid, question, gold in zip(part.query_xids, part.query_texts, part.query_gold):
            if xid in seen:
                raise DataError(f"duplicate question id {xid!r}", path=path,
                                record=f"question {xid}")
            seen.add(xid)
            article = part.cand_ids[gold].split("/")[1]  # "<lang>/a<article>/p<para>/s<k>"
            passage, used = _positive_text(_clean(part.cand_contexts[gold]),
                                           _clean(part.cand_sentences[gold]), positive)
            rows.append(_row("xquad-r", xid, lang, _clean(question), passage, article, used))
    return rows


def load_xnli(data_dir: Path, splits: Iterable[str] = ("dev", "test")) -> list[dict]:
    """XNLI premises as parallel sentences (see the module docstring)."""
    splits = tuple(splits)
    if not splits or any(s not in ("dev", "test") for s in splits):
        raise BabelirError(f"xnli splits must be dev and/or test, not {splits!r}")
    folder = Path(data_dir) / "xnli"
    rows: list[dict] = []
    seen_groups: set[tuple] = set()
    for split in splits:
        files = sorted(f for f in folder.glob(f"{split}-*.tsv") if _XNLI_FILE.match(f.name))
        if not files:
            raise DataError(f"no {split}-<lang>.tsv files", path=folder)
        premises: dict[str, list[str]] = {}
        for path in files:
            lang = _check_lang(_XNLI_FILE.match(path.name).group(2), path, "file name")
            try:
                lines = path.read_text(encoding="utf-8").split("\n")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 ({exc})", path=path) from None
            if lines and lines[-1] == "":
                lines.pop()
            if len(lines) % 3:
                raise DataError(f"{len(lines)} rows: not a multiple of 3 (premise, 3 "
                                "hypotheses)", path=path)
            column = []
            for n, line in enumerate(lines, 1):
                fields = line.split("\t")
                if len(fields) not in (2, 3):
                    raise DataError(f"{len(fields)} tab-separated fields, expected "
                                    "premise, hypothesis[, label]", path=path, record=f"line {n}")
                premise = _text(fields[0], "premise", path, f"line {n}")
                if n % 3 != 1 and premise != column[-1]:
                    raise DataError("premise differs from the row above: each premise "
                                    "must stand on 3 consecutive rows", path=path,
                                    record=f"line {n}")
                column.append(premise)
            premises[lang] = column[::3]
        sizes = {len(v) for v in premises.values()}
        if len(sizes) != 1:
            detail = ", ".join(f"{lang}: {3 * len(v)}" for lang, v in premises.items())
            raise DataError(f"files are not line-aligned (rows per language: {detail})",
                            path=folder, record=f"{split}-*.tsv")
        langs = sorted(premises)
        for g in range(sizes.pop()):
            group = tuple(premises[lang][g] for lang in langs)
            if (tuple(langs), group) in seen_groups:
                continue  # the same premise in every language as an earlier group
            seen_groups.add((tuple(langs), group))
            example_id = f"xnli-{split}-{g}"
            for lang, premise in zip(langs, group):
                rows.append(_row("xnli", example_id, lang, premise, premise, example_id,
                                 "translation"))
    return rows


def load_squad_file(path: Path, lang: str, positive: str = "paragraph",
                    dataset: str | None = None) -> list[dict]:
    """A user SQuAD v1.1 file in one language; question ids must be unique in it."""
    _check_positive(positive)
    path = Path(path)
    _check_lang(lang, path, "language argument")
    return _parse_squad(path, lang, dataset or f"squad-{path.stem}", positive,
                        lambda pos, raw: raw, unique_ids=True)


def load_jsonl(path: Path, dataset: str | None = None) -> list[dict]:
    """A user JSON-lines file: ``{"id", "lang", "question", "passage"[, "article"]}`` per line."""
    path = Path(path)
    dataset = dataset or f"jsonl-{path.stem}"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 ({exc})", path=path) from None
    rows, seen = [], {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = f"line {n}"
        obj = json_object_line(line, path, record, "{id, lang, question, passage}")
        for key in ("id", "lang", "question", "passage"):
            _field(obj, key, path, record)
        raw_id = obj["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
            raise DataError("'id' must be a non-empty string or an integer", path=path,
                            record=record)
        example_id = str(raw_id)
        lang = _check_lang(obj["lang"], path, record)
        texts = {}
        for key in ("question", "passage"):
            value = obj[key]
            texts[key] = None if value is None else _text(value, key, path, record)
        if texts["question"] is None and texts["passage"] is None:
            raise DataError("question and passage are both null", path=path, record=record)
        if (example_id, lang) in seen:
            raise DataError(f"duplicate (id, lang) ({example_id!r}, {lang!r}); first at line "
                            f"{seen[(example_id, lang)]}", path=path, record=record)
        seen[(example_id, lang)] = n
        article = obj.get("article")
        if article is not None:
            key = f"article:{_text(str(article), 'article', path, record)}"
        elif texts["passage"] is not None:
            key = f"{lang}:{_hash(texts['passage'])}"
        else:
            key = None
        rows.append(_row(dataset, example_id, lang, texts["question"], texts["passage"],
                         key, "as given"))
    if not rows:
        raise DataError("no rows found", path=path)
    return rows


def _resolve_user_path(text: str, data_dir: Path | None) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and data_dir is not None:
        if (Path(data_dir) / path).exists():
            return Path(data_dir) / path
    return path


def load_translation_folder(folder: Path) -> list[dict]:
    """Rows of a ``babelir translate`` output folder: its manifest's combined JSONL."""
    manifest_path = folder / "manifest.json"
    try:
        combined = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]["combined"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BabelirError(f"{manifest_path}: not a babelir translate manifest "
                           f"(files.combined missing or unreadable: {exc})") from exc
    path = folder / combined
    if not path.is_file():
        raise BabelirError(f"{manifest_path} names {combined}, which is not in {folder}")
    return load_jsonl(path)


def load_source(spec: str, data_dir: Path, positive: str = "paragraph") -> list[dict]:
    """Rows of one source given as a spec string (see ``SOURCE_HELP``)."""
    name, _, variant = spec.partition(":")
    if name == "mlqa-test" and not variant:
        return load_mlqa_test(data_dir)
    if name == "tydiqa-goldp":
        return load_tydiqa_goldp(data_dir, (variant or "dev").split("+"), positive)
    if name == "xquad-r" and not variant:
        return load_xquad_r(data_dir, positive)
    if name == "xnli":
        return load_xnli(data_dir, (variant or "dev+test").split("+"))
    if name == "squad":
        lang, _, file = variant.partition(":")
        if not lang or not file:
            raise BabelirError(f"source {spec!r}: write squad:<lang>:<path>")
        return load_squad_file(_resolve_user_path(file, data_dir), lang, positive)
    if name == "jsonl" and variant:
        return load_jsonl(_resolve_user_path(variant, data_dir))
    folder = _resolve_user_path(spec, data_dir)
    if (folder / "manifest.json").is_file():
        return load_translation_folder(folder)
    hint = (f" ({folder} is a folder, but not one written by `babelir translate`: no "
            "manifest.json)" if folder.is_dir() else "")
    raise BabelirError(f"unknown source {spec!r}{hint}; valid: {SOURCE_HELP}")


# ---------------------------------------------------------------------------- articles, split


def assign_articles(frame: pd.DataFrame) -> pd.Series:
    """The ``article`` of every row: union-find over examples sharing an id or article key.

    ``frame`` needs ``dataset``, ``example_id`` and ``article_key`` (None allowed). Every row
    of one example, and every example sharing an article key within a dataset, get the
    same article: the smallest key of the group (``id:<example_id>`` if it has none).
    """
    examples = list(dict.fromkeys(zip(frame["dataset"], frame["example_id"])))
    index = {ex: i for i, ex in enumerate(examples)}
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for dataset, example_id, key in zip(frame["dataset"], frame["example_id"],
                                        frame["article_key"]):
        if key is None or (isinstance(key, float) and pd.isna(key)):
            continue
        i = index[(dataset, example_id)]
        j = owner.setdefault((dataset, key), i)
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    name: dict[int, str] = {}
    for dataset, example_id, key in zip(frame["dataset"], frame["example_id"],
                                        frame["article_key"]):
        if key is None or (isinstance(key, float) and pd.isna(key)):
            continue
        root = find(index[(dataset, example_id)])
        if root not in name or key < name[root]:
            name[root] = key
    labels = [name.get(find(index[ex]), f"id:{ex[1]}") for ex in zip(frame["dataset"],
                                                                   frame["example_id"])]
    return pd.Series(labels, index=frame.index, dtype=object)


def split_of(dataset: str, article: str, dev_fraction: float, seed: int = 0) -> str:
    """``dev`` or ``train`` for an article: a deterministic hash, dev with ``dev_fraction``."""
    digest = hashlib.blake2b(f"{seed}\x00{dataset}\x00{article}".encode("utf-8"),
                             digest_size=8).digest()
    return "dev" if int.from_bytes(digest, "big") / 2**64 < dev_fraction else "train"


# ---------------------------------------------------------------------------- table


def _pair_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Every (question row, passage row) pair of the same example: dataset, example_id,
    lang_q, lang_p (identity pairs of TRANSLATION_DATASETS left out)."""
    q = frame.loc[frame["question"].notna(), ["dataset", "example_id", "lang"]]
    p = frame.loc[frame["passage"].notna(), ["dataset", "example_id", "lang"]]
    joined = q.merge(p, on=["dataset", "example_id"], suffixes=("_q", "_p"))
    identity = joined["dataset"].isin(TRANSLATION_DATASETS) & (joined["lang_q"] == joined["lang_p"])
    return joined[~identity]


def pairs_available(frame: pd.DataFrame) -> pd.DataFrame:
    """Number of (question, positive) pairs per dataset, question language and passage language.

    Columns ``dataset, q_lang, p_lang, pairs``; for ``TRANSLATION_DATASETS`` the
    same-language (identity) pairs are left out.
    """
    return (_pair_rows(frame).groupby(["dataset", "lang_q", "lang_p"]).size()
            .reset_index(name="pairs")
            .rename(columns={"lang_q": "q_lang", "lang_p": "p_lang"}))


def _drop_pairless(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep only the examples that still hold at least one pair."""
    with_pairs = pd.MultiIndex.from_frame(_pair_rows(frame)[["dataset", "example_id"]])
    keep = pd.MultiIndex.from_frame(frame[["dataset", "example_id"]]).isin(with_pairs)
    return frame[keep]


def _check_languages(languages: Iterable[str] | None) -> tuple[str, ...] | None:
    if languages is None:
        return None
    languages = tuple(languages)
    bad = [lang for lang in languages if lang not in ISO_639_1]
    if bad or not languages:
        raise BabelirError(f"unknown language code(s) {', '.join(map(repr, bad)) or '(none)'}; "
                           "expected ISO 639-1 codes such as 'en'")
    return languages


def make_pairs(sources: list[str], data_dir: Path, positive: str = "paragraph",
               dev_fraction: float = 0.05, seed: int = 0,
               languages: Iterable[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """The pairs table (COLUMNS) and per-dataset positive-mode counts, without writing."""
    frame, positives, _ = _make_table(sources, data_dir, positive, dev_fraction, seed,
                                      languages)
    return frame, positives


def _make_table(sources: list[str], data_dir: Path, positive: str, dev_fraction: float,
                seed: int, languages: Iterable[str] | None,
                drop_overlap: list[str] | None = None,
                cache_dir: Path | None = None) -> tuple[pd.DataFrame, dict, dict | None]:
    """``make_pairs``, and with ``drop_overlap`` (benchmark names) the examples that the
    leakage guard flags against them removed: (table, positive counts, removal report)."""
    _check_positive(positive)
    languages = _check_languages(languages)
    if not 0.0 <= float(dev_fraction) <= 1.0:
        raise BabelirError(f"dev_fraction must be within [0, 1], not {dev_fraction!r}")
    if not sources:
        raise BabelirError(f"no sources given; valid: {SOURCE_HELP}")
    rows: list[dict] = []
    for spec in sources:
        rows += load_source(spec, data_dir, positive)
    frame = pd.DataFrame(rows, columns=[*KEY, "question", "passage", "article_key", "positive"],
                         dtype=object)
    dup = frame.duplicated(KEY, keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        raise DataError("two sources give the same (dataset, example_id, lang) "
                        f"({first['dataset']!r}, {first['example_id']!r}, {first['lang']!r})",
                        record=f"sources {', '.join(sources)}")
    frame["article"] = assign_articles(frame)
    splits = {key: split_of(*key, dev_fraction, seed)
              for key in set(zip(frame["dataset"], frame["article"]))}
    frame["split"] = [splits[key] for key in zip(frame["dataset"], frame["article"])]
    if languages is not None:
        frame = frame[frame["lang"].isin(languages)]
    frame = _drop_pairless(frame)
    removed = None
    if drop_overlap:
        from babelir.training.decontaminate import drop_overlap as drop

        frame, removed = drop(frame, drop_overlap, data_dir, cache_dir)
        if len(frame) == 0:
            raise BabelirError(f"every example overlaps {', '.join(removed['benchmarks'])} "
                               f"({removed['removed_examples']:,} removed): nothing is left "
                               "to train on; choose other sources")
    positives = {
        dataset: {str(k): int(v) for k, v in group["positive"].value_counts().items()}
        for dataset, group in frame.groupby("dataset")
    }
    frame = frame.sort_values(KEY, kind="stable").reset_index(drop=True)
    return frame[list(COLUMNS)], positives, removed


def summarize(frame: pd.DataFrame, positives: dict | None = None) -> dict:
    """Examples, rows, languages, pairs and split counts of a pairs table."""
    pairs = pairs_available(frame)
    datasets = {}
    for dataset, group in frame.groupby("dataset"):
        langs = {}
        for lang, lg in group.groupby("lang"):
            langs[str(lang)] = {"rows": int(len(lg)),
                                "questions": int(lg["question"].notna().sum()),
                                "passages": int(lg["passage"].notna().sum())}
        splits = {}
        for split in SPLITS:
            part = group[group["split"] == split]
            splits[split] = {"rows": int(len(part)),
                             "examples": int(part["example_id"].nunique()),
                             "articles": int(part["article"].nunique())}
        dp = pairs[pairs["dataset"] == dataset]
        datasets[str(dataset)] = {
            "examples": int(group["example_id"].nunique()),
            "rows": int(len(group)),
            "articles": int(group["article"].nunique()),
            "languages": langs,
            "split": splits,
            "pairs": {f"{q}-{p}": int(n) for q, p, n in zip(dp["q_lang"], dp["p_lang"],
                                                           dp["pairs"])},
            "translation": dataset in TRANSLATION_DATASETS,
            "positive": (positives or {}).get(dataset, {}),
            "leaks_into": list(LEAKS.get(dataset, ())),
        }
    total_pairs = pairs.groupby(["q_lang", "p_lang"])["pairs"].sum()
    examples = frame[["dataset", "example_id"]].drop_duplicates()
    split_totals = {}
    for split in SPLITS:
        part = frame[frame["split"] == split]
        split_totals[split] = {"rows": int(len(part)),
                               "examples": int(len(part[["dataset", "example_id"]]
                                                   .drop_duplicates()))}
    return {
        "rows": int(len(frame)),
        "examples": int(len(examples)),
        "split": split_totals,
        "pairs": {f"{q}-{p}": int(n) for (q, p), n in total_pairs.items()},
        "datasets": datasets,
    }


def build_pairs(sources: list[str], data_dir: Path, out: Path, positive: str = "paragraph",
                dev_fraction: float = 0.05, seed: int = 0,
                languages: Iterable[str] | None = None, benchmark: str | None = None,
                drop_overlap: Iterable[str] | None = None,
                cache_dir: Path | None = None) -> dict:
    """Build the pairs table from ``sources``, write it to ``out`` (Parquet), return a summary.

    The summary is also written beside ``out`` as ``<stem>.summary.json``. ``benchmark``
    (e.g. ``"xquad-r"``, ``"miracl"``) refuses sources that leak into that benchmark.
    ``drop_overlap`` (benchmark names: xquad-r, mlqa-r, miracl) removes every example that
    the leakage guard flags against them (``babelir.training.decontaminate``; benchmark
    files from ``data_dir``, then ``cache_dir``); the summary's ``drop_overlap`` says what
    was removed and why. Without it nothing is removed and the summary has no such key.
    """
    out = Path(out)
    if drop_overlap is not None:
        from babelir.training.decontaminate import check_benchmarks

        drop_overlap = check_benchmarks(drop_overlap)  # before any source is read
    if benchmark is not None:
        for spec in sources:
            name, _, variant = spec.partition(":")
            datasets = {"xquad-r": ["xquad-r"],
                        "tydiqa-goldp": [f"tydiqa-goldp-{v}" for v in
                                         (variant or "dev").split("+")]}.get(name, [])
            for dataset in datasets:
                if benchmark in LEAKS.get(dataset, ()):
                    raise BabelirError(f"source {spec!r} leaks into the {benchmark} benchmark "
                                       "(see the data README, section 2); leave it out")
    frame, positives, removed = _make_table(sources, data_dir, positive, dev_fraction, seed,
                                            languages, drop_overlap, cache_dir)
    validate_pairs(frame, path=out)
    summary = {
        "out": str(out),
        "sources": list(sources),
        "positive": positive,
        "dev_fraction": float(dev_fraction),
        "seed": int(seed),
        "languages": sorted(languages) if languages is not None else None,
        **summarize(frame, positives),
    }
    if removed is not None:
        summary["drop_overlap"] = removed
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")
    write_json(out.with_name(f"{out.stem}.summary.json"), summary)
    return summary


# ---------------------------------------------------------------------------- validation


def _record(frame: pd.DataFrame, i: int) -> str:
    row = frame.iloc[i]
    parts = [f"{c}={row[c]!r}" for c in KEY if c in frame.columns]
    return f"row {i} ({', '.join(parts)})"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA


def validate_pairs(frame: pd.DataFrame, path: object = None) -> None:
    """Raise a DataError naming ``path`` and the first bad row, if the table is not valid."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; expected "
                        f"{', '.join(COLUMNS)}", path=path)
    if len(frame) == 0:
        raise DataError("the table has no rows", path=path)
    for column in ("dataset", "example_id", "article"):
        for i, value in enumerate(frame[column]):
            if _is_missing(value) or not isinstance(value, str) or not value.strip():
                raise DataError(f"missing or empty {column}", path=path,
                                record=_record(frame, i))
    for i, lang in enumerate(frame["lang"]):
        if _is_missing(lang) or not isinstance(lang, str) or not lang:
            raise DataError("missing language", path=path, record=_record(frame, i))
        if lang not in ISO_639_1:
            raise DataError(f"unknown language code {lang!r} (expected ISO 639-1)",
                            path=path, record=_record(frame, i))
    for i, split in enumerate(frame["split"]):
        if split not in SPLITS:
            raise DataError(f"split must be 'train' or 'dev', not {split!r}", path=path,
                            record=_record(frame, i))
    for i, (question, passage) in enumerate(zip(frame["question"], frame["passage"])):
        for name, value in (("question", question), ("passage", passage)):
            if not _is_missing(value) and (not isinstance(value, str) or not value.strip()):
                raise DataError(f"empty {name} (use null for a missing one)", path=path,
                                record=_record(frame, i))
        if _is_missing(question) and _is_missing(passage):
            raise DataError("neither question nor passage", path=path,
                            record=_record(frame, i))
    dup = frame.duplicated(KEY, keep="first")
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise DataError("duplicate (dataset, example_id, lang) row", path=path,
                        record=_record(frame, i))
    datasets_per_id = frame.groupby("example_id", sort=False)["dataset"].nunique()
    shared = datasets_per_id[datasets_per_id > 1]
    if len(shared):
        i = int((frame["example_id"] == shared.index[0]).to_numpy().nonzero()[0][0])
        raise DataError(f"example_id {shared.index[0]!r} is used by more than one dataset "
                        "(ids must be unique across datasets: babelir.sampling keys examples "
                        "by id)", path=path, record=_record(frame, i))
    per_example = frame.groupby(["dataset", "example_id"], sort=False)[["article", "split"]]
    mixed = per_example.nunique()
    bad = mixed[(mixed["article"] > 1) | (mixed["split"] > 1)]
    if len(bad):
        dataset, example_id = bad.index[0]
        i = int(((frame["dataset"] == dataset) & (frame["example_id"] == example_id))
                .to_numpy().nonzero()[0][0])
        raise DataError("the rows of one example have different articles or splits",
                        path=path, record=_record(frame, i))
    per_article = frame.groupby(["dataset", "article"], sort=False)["split"].nunique()
    bad = per_article[per_article > 1]
    if len(bad):
        dataset, article = bad.index[0]
        i = int(((frame["dataset"] == dataset) & (frame["article"] == article))
                .to_numpy().nonzero()[0][0])
        raise DataError(f"article {article!r} is in both splits", path=path,
                        record=_record(frame, i))


def load_pairs(path: Path) -> pd.DataFrame:
    """Read and validate a pairs table; missing question/passage come back as None."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"not a readable Parquet file ({exc})", path=path) from None
    frame = frame.astype(object).where(frame.notna(), None)
    validate_pairs(frame, path=path)
    return frame.reset_index(drop=True)
