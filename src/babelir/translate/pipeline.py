"""Translate SQuAD-format QA into parallel training data, sentence by sentence.

The question and every context sentence (``babelir.data.splitting.split_sentences``) are
translated separately, so the sentence that holds the answer keeps its index: the translated
paragraph is the translated sentences joined with single spaces, with LAReQA-style
``sentence_breaks`` and the gold sentence index. The answer SPAN in the translation is not
known: ``answers`` is recorded as ``[{"text": null, "answer_start": null}]`` instead of guessed.

Outputs (``out_dir``):

``<lang>.jsonl``
    One row per example and language (source language included): ``id, lang, question,
    passage, article`` — babelir's JSONL source format — plus ``sentences``,
    ``sentence_breaks``, ``gold_sentence`` (index, or null when the answer is not in exactly one
    sentence), ``gold_sentences``, ``answers``, ``source_id`` (the id in the source file) and
    ``flags`` (quality flags of this row's texts).
``<out_dir name>.jsonl``
    All languages in one file: the one to give ``babelir data build-pairs --source
    jsonl:<path>`` (translations share the source example id, and build-pairs links rows by id
    only within one file).
``failures.jsonl``
    One line per text the engine could not translate (language, example ids, error). Such a
    text is null in the output (question null; passage null if any of its sentences failed);
    an example with neither is left out of the JSONL but counted in the manifest.
``manifest.json``
    engine, versions, languages, counts, seconds, sentences/s, failures, quality-flag shares.

Example ids: ``tydiqa-goldp:<lang>`` (TyDi GoldP train) uses babelir.data.pairs' naming
``tydiqa-train-<source lang>-<position>`` for every language; other sources keep their ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babelir.data.splitting import split_sentences
from babelir.data.validate import json_object_line
from babelir.errors import BabelirError, DataError
from babelir.io import atomic_path, sha256_of, write_json
from babelir.translate.cache import TranslationCache
from babelir.translate.engines import TranslationEngine, normalize

LENGTH_RATIO = (0.33, 3.0)
MIN_CHARS_FOR_RATIO = 10  # shorter sources (names, numbers) are not ratio-checked
_LETTERS = re.compile(r"[^\W\d_]")
POSITIVE_MODES = ("paragraph", "sentence", "sentence+paragraph")


@dataclass
class Example:
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


# ---------------------------------------------------------------------------- sources


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _sentences(context: str, lang: str, breaks=None) -> tuple[list[tuple[int, int]], list[str]]:
    spans = [tuple(s) for s in breaks] if breaks else split_sentences(context, lang)
    return spans, [normalize(context[s:e]) for s, e in spans]


def _squad_list(mapping: object, key: str, path: Path, record: str) -> list:
    """``mapping[key]`` as a list (missing: empty); a DataError when it is something else."""
    if not isinstance(mapping, dict):
        raise DataError(f"expected a JSON object holding {key!r}", path=path, record=record)
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{key!r} must be a list, got {type(value).__name__}", path=path,
                        record=record)
    return value


def _squad_answer(qa: dict, path: Path, record: str) -> tuple[str | None, int | None]:
    """(text, answer_start) of the first answer, or (None, None) when it is blanked/absent."""
    answers = _squad_list(qa, "answers", path, record)
    if not answers or not isinstance(answers[0], dict) or not answers[0].get("text"):
        if answers and not isinstance(answers[0], dict):
            raise DataError("an answer must be an object {text, answer_start}", path=path,
                            record=record)
        return None, None
    text, start = answers[0]["text"], answers[0].get("answer_start")
    if not isinstance(text, str):
        raise DataError(f"answer text must be a string, got {text!r}", path=path, record=record)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise DataError(f"answer_start must be a whole number >= 0, got {start!r}", path=path,
                        record=record)
    return text, start


def _squad_spans(context: str, lang: str, breaks: object, path: Path,
                 record: str) -> tuple[list[tuple[int, int]], list[str]]:
    """``_sentences`` after checking that ``sentence_breaks`` (when given) are valid spans."""
    if breaks:
        if not isinstance(breaks, list) or not all(
                isinstance(b, list) and len(b) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in b)
                and 0 <= b[0] < b[1] <= len(context) for b in breaks):
            raise DataError("sentence_breaks must be [start, end] offsets into the context",
                            path=path, record=record)
    return _sentences(context, lang, breaks)


def read_squad(path: Path, lang: str,
               make_id: Callable[[int, str], str] = lambda pos, raw: raw) -> list[Example]:
    """Examples of a SQuAD v1.1 file; ``make_id(position, raw id)`` names them."""
    try:
        root = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON ({exc})", path=path) from None
    examples: list[Example] = []
    position = 0
    if not isinstance(root, dict) or not isinstance(root.get("data"), list):
        raise DataError("expected a SQuAD file with a 'data' list", path=path)
    for a, article in enumerate(root["data"]):
        for p, paragraph in enumerate(_squad_list(article, "paragraphs", path, f"data[{a}]")):
            record = f"data[{a}].paragraphs[{p}]"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise DataError("empty context", path=path, record=record)
            spans, sentences = _squad_spans(context, lang, paragraph.get("sentence_breaks"),
                                            path, record)
            clean = context.strip().strip("\ufeff").strip()
            offset = context.find(clean)
            for k, qa in enumerate(_squad_list(paragraph, "qas", path, record)):
                if not isinstance(qa, dict):
                    raise DataError("a question must be a JSON object", path=path,
                                    record=f"{record}.qas[{k}]")
                raw = str(qa.get("id"))
                answer_text, start = _squad_answer(qa, path, f"{record}.qas[{k}] (id {raw})")
                gold: list[int] = []
                answer_start = None
                if answer_text is not None:
                    end = max(start + len(answer_text), start + 1)
                    gold = [j for j, (s, e) in enumerate(spans) if s < end and e > start]
                    answer_start = start - offset
                question = qa.get("question")
                examples.append(Example(
                    id=make_id(position, raw), source_id=raw,
                    question=normalize(question) if isinstance(question, str)
                    and question.strip() else None,
                    context=clean, sentences=sentences, gold=gold, answer_text=answer_text,
                    answer_start=answer_start, title=article.get("title")))
                position += 1
    if not examples:
        raise DataError("no questions found", path=path)
    return examples


def _jsonl_record(line: str, path: Path, n: int) -> dict:
    """One line of a translation JSONL source, checked: a DataError names the file and line."""
    record = f"line {n}"
    obj = json_object_line(line, path, record, "{id, lang, question, passage}")
    for key in ("id", "lang"):
        if key not in obj:
            raise DataError(f"missing field {key!r}", path=path, record=record)
    if not isinstance(obj["lang"], str) or not obj["lang"].strip():
        raise DataError(f"'lang' must be a language code, got {obj['lang']!r}", path=path,
                        record=record)
    if isinstance(obj["id"], bool) or not isinstance(obj["id"], (str, int)) or obj["id"] == "":
        raise DataError(f"'id' must be a non-empty string or an integer, got {obj['id']!r}",
                        path=path, record=record)
    for key in ("question", "passage"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise DataError(f"{key!r} must be a string or null, got {obj[key]!r}", path=path,
                            record=record)
    return obj


def read_jsonl(path: Path, lang: str | None = None) -> tuple[str, list[Example]]:
    """Rows ``{id, lang, question, passage}`` of one language (the passage is split)."""
    examples, langs = [], set()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 ({exc})", path=path) from None
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        obj = _jsonl_record(line, path, n)
        if lang is not None and obj["lang"] != lang:
            continue
        langs.add(obj["lang"])
        passage = obj.get("passage") or ""
        _, sentences = _sentences(passage, obj["lang"]) if passage.strip() else ([], [])
        question = obj.get("question")
        examples.append(Example(id=str(obj["id"]), source_id=str(obj["id"]),
                                question=normalize(question) if question else None,
                                context=passage.strip(), sentences=sentences, gold=[],
                                answer_text=None, extra={"article": obj.get("article")}))
    if len(langs) != 1:
        raise DataError(f"expected rows of one language (pass source_lang), found "
                        f"{sorted(langs) or 'none'}", path=path)
    return langs.pop(), examples


def load_source(source: str, data_dir: Path | None = None,
                source_lang: str | None = None) -> tuple[str, str, list[Example]]:
    """(source language, description, examples) of a source spec.

    ``tydiqa-goldp:<lang>[:train|:dev]`` (default train) from the data folder; a SQuAD
    ``.json`` path (language ``source_lang``, default en); a ``.jsonl`` path.
    """
    name, _, rest = source.partition(":")
    if name == "tydiqa-goldp" and rest:
        lang, _, split = rest.partition(":")
        split = split or "train"
        if split not in ("train", "dev"):
            raise BabelirError(f"source {source!r}: split must be train or dev")
        if data_dir is None:
            raise BabelirError("no data folder: pass --data-dir or set $BABELIR_DATA")
        path = Path(data_dir) / "tydiqa" / f"goldp-{split}" / f"tydiqa.goldp.{lang}.{split}.json"
        make_id = ((lambda pos, raw: f"tydiqa-train-{lang}-{pos}") if split == "train"
                   else (lambda pos, raw: raw))
        return lang, str(path), read_squad(path, lang, make_id)
    path = Path(source).expanduser()
    if not path.exists() and data_dir is not None and (Path(data_dir) / path).exists():
        path = Path(data_dir) / path
    if path.suffix == ".jsonl":
        lang, examples = read_jsonl(path, source_lang)
        return lang, str(path), examples
    if path.suffix == ".json":
        lang = source_lang or "en"
        return lang, str(path), read_squad(path, lang)
    raise BabelirError(f"unknown translation source {source!r}: use tydiqa-goldp:<lang>, a "
                       "SQuAD .json or a .jsonl file")


# ---------------------------------------------------------------------------- quality


def quality_flags(source: str, translation: str | None,
                  ratio: tuple[float, float] = LENGTH_RATIO) -> list[str]:
    """``empty``, ``unchanged`` (same as the source), ``too_short`` / ``too_long`` (length
    ratio outside ``ratio``, for sources of at least MIN_CHARS_FOR_RATIO characters)."""
    if translation is None:
        return []
    if not translation.strip():
        return ["empty"]
    flags = []
    if (normalize(translation).casefold() == normalize(source).casefold()
            and len(_LETTERS.findall(source)) >= 2):  # "[8]", ":1", "1920" cannot change
        flags.append("unchanged")
    if len(source) >= MIN_CHARS_FOR_RATIO:
        r = len(translation) / max(len(source), 1)
        if r < ratio[0]:
            flags.append("too_short")
        elif r > ratio[1]:
            flags.append("too_long")
    return flags


# ---------------------------------------------------------------------------- translation


def _translate_all(engine: TranslationEngine, cache: TranslationCache, texts: list[str],
                   src: str, tgt: str, chunk_size: int, progress: bool,
                   failures: list[dict]) -> tuple[dict[str, str], dict]:
    """{text: translation} for ``texts`` (failed ones missing; listed in ``failures``)."""
    from tqdm.auto import tqdm

    engine_key = f"{engine.name}@{engine.pair_version(src, tgt)}"
    done = cache.get_many(engine_key, src, tgt, texts)
    todo = [t for t in dict.fromkeys(texts) if t not in done]
    stats = {"texts": len(set(texts)), "cache_hits": len(done), "translated": 0,
             "failed": 0, "translate_seconds": 0.0}
    bar = tqdm(total=len(todo), unit="sent", desc=f"{src}→{tgt}", disable=not progress,
               dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for k in range(0, len(todo), chunk_size):
            chunk = todo[k:k + chunk_size]
            new: dict[str, str] = {}
            try:
                out = engine.translate(chunk, src, tgt)
                if len(out) != len(chunk):
                    raise BabelirError(f"engine returned {len(out)} texts for {len(chunk)}")
                new.update(zip(chunk, out))
            except Exception:  # one bad text must not sink the chunk: retry one by one
                for text in chunk:
                    try:
                        out = engine.translate([text], src, tgt)
                        if len(out) != 1:
                            raise BabelirError(f"engine returned {len(out)} texts for 1")
                        new[text] = out[0]
                    except Exception as exc:
                        failures.append({"src": src, "tgt": tgt, "text": text,
                                         "error": f"{type(exc).__name__}: {exc}"})
                        stats["failed"] += 1
            cache.put_many(engine_key, src, tgt, new)
            done.update(new)
            stats["translated"] += len(new)
            bar.update(len(chunk))
    finally:
        bar.close()
        stats["translate_seconds"] = round(time.perf_counter() - start, 3)
    seconds = stats["translate_seconds"]
    stats["sentences_per_second"] = round(stats["translated"] / seconds, 2) if seconds else None
    return done, stats


def _row(example: Example, lang: str, question: str | None, sentences: list[str | None],
         article: str, positive: str, flags: list[str], answer_known: bool) -> dict | None:
    breaks, pos, ok = [], 0, all(s is not None for s in sentences)
    passage = None
    if ok and sentences:
        for s in sentences:
            breaks.append([pos, pos + len(s)])
            pos += len(s) + 1
        passage = " ".join(sentences)
    gold_sentence = example.gold[0] if len(example.gold) == 1 else None
    if passage is not None and positive != "paragraph" and example.gold:
        gold_text = " ".join(sentences[k] for k in example.gold)
        passage = gold_text if positive == "sentence" else f"{gold_text} {passage}"
    if question is None and passage is None:
        return None
    if answer_known:
        answers = [{"text": example.answer_text, "answer_start": example.answer_start}]
    else:
        answers = [{"text": None, "answer_start": None}] if example.answer_text else []
    return {"id": example.id, "lang": lang, "question": question, "passage": passage,
            "article": article, "sentences": sentences if ok else None,
            "sentence_breaks": breaks if ok else None, "gold_sentence": gold_sentence,
            "gold_sentences": example.gold, "answers": answers, "source_id": example.source_id,
            "flags": sorted(set(flags))}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def portable_path(path: str | Path, data_dir: str | Path | None) -> str:
    """``path`` as a manifest keeps it: relative to the data folder (``$BABELIR_DATA/...``)
    or to the home folder (``~/...``) when it is inside one, so manifests can be committed
    and compared across machines; a relative path stays as given."""
    if not Path(path).is_absolute():
        return Path(path).as_posix()
    path = Path(path).resolve()
    for root, name in ((data_dir, "$BABELIR_DATA"), (Path.home(), "~")):
        if root is not None and path.is_relative_to(Path(root).resolve()):
            return f"{name}/{path.relative_to(Path(root).resolve()).as_posix()}"
    return str(path)


def translate_source(source: str, targets: Sequence[str], engine: TranslationEngine,
                     out_dir: str | Path, data_dir: str | Path | None = None,
                     source_lang: str | None = None, limit: int | None = None,
                     cache: TranslationCache | str | Path | None = None,
                     chunk_size: int | None = None, positive: str = "paragraph",
                     progress: bool = True,
                     ratio: tuple[float, float] = LENGTH_RATIO) -> dict:
    """Translate ``source`` (see ``load_source``) into each of ``targets``; returns the manifest.

    Re-runs read finished translations from the sqlite ``cache`` (default
    ``<cache dir>/translations.sqlite``), so an interrupted run continues where it stopped.
    ``limit`` keeps the first N examples (for trying). ``positive`` chooses the JSONL
    ``passage``: the paragraph, the gold sentence(s), or ``"<sentence> <paragraph>"``.
    """
    if positive not in POSITIVE_MODES:
        raise BabelirError(f"unknown positive mode {positive!r}; valid: {', '.join(POSITIVE_MODES)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise BabelirError(f"limit must be a whole number >= 1 (or absent), got {limit!r}")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    src, where, examples = load_source(source, Path(data_dir) if data_dir else None, source_lang)
    if limit is not None:
        examples = examples[:int(limit)]
    targets = [t for t in dict.fromkeys(targets) if t != src]
    if not targets:
        raise BabelirError("no target language other than the source language")
    for tgt in targets:
        engine.check_pair(src, tgt)
    own_cache = not isinstance(cache, TranslationCache)
    cache = cache if isinstance(cache, TranslationCache) else TranslationCache(cache)
    chunk_size = int(chunk_size or max(engine.batch_size, 1))

    texts = []
    for ex in examples:
        if ex.question:
            texts.append(ex.question)
        texts.extend(s for s in ex.sentences)
    articles = {ex.id: (f"{src}:{ex.extra['article']}" if ex.extra.get("article")
                        else f"{src}:{_hash(ex.context)}") for ex in examples}
    all_rows = [r for ex in examples if (r := _row(
        ex, src, ex.question, list(ex.sentences), articles[ex.id], positive, [],
        answer_known=True)) is not None]
    for row in all_rows:
        row["answers"] = [a for a in row["answers"] if a["text"] is not None]
    _write_jsonl(out_dir / f"{src}.jsonl", all_rows)

    failures: list[dict] = []
    languages: dict[str, dict] = {}
    try:
        for tgt in targets:
            t1 = time.perf_counter()
            n_fail_before = len(failures)
            done, stats = _translate_all(engine, cache, texts, src, tgt, chunk_size, progress,
                                         failures)
            failed_texts = {f["text"] for f in failures[n_fail_before:]}
            for f in failures[n_fail_before:]:
                f["ids"] = [ex.id for ex in examples
                            if f["text"] == ex.question or f["text"] in ex.sentences][:20]
            rows, flag_counts, flagged_texts, n_texts, skipped = [], {}, 0, 0, 0
            flagged_examples = 0
            for ex in examples:
                row_flags = []
                question = done.get(ex.question) if ex.question else None
                items = ([(ex.question, question)] if ex.question else []) + \
                    [(s, done.get(s)) for s in ex.sentences]
                for text, translated in items:
                    flags = quality_flags(text, translated, ratio)
                    n_texts += 1
                    flagged_texts += bool(flags)
                    for fl in flags:
                        flag_counts[fl] = flag_counts.get(fl, 0) + 1
                    row_flags += flags
                row = _row(ex, tgt, question, [done.get(s) for s in ex.sentences],
                           articles[ex.id], positive, row_flags, answer_known=False)
                if row is None:
                    skipped += 1
                    continue
                flagged_examples += bool(row_flags)
                rows.append(row)
            _write_jsonl(out_dir / f"{tgt}.jsonl", rows)
            all_rows += rows
            languages[tgt] = {
                **stats, "pair_version": engine.pair_version(src, tgt),
                "examples": len(rows), "examples_left_out": skipped,
                "examples_incomplete": sum(1 for r in rows if r["question"] is None
                                           or r["passage"] is None),
                "failed_texts": len(failed_texts),
                "text_occurrences": n_texts,
                "flags": flag_counts,
                "flagged_text_share": round(flagged_texts / n_texts, 4) if n_texts else 0.0,
                "flag_shares": {k: round(v / n_texts, 4) for k, v in sorted(flag_counts.items())},
                "flagged_example_share": round(flagged_examples / len(rows), 4) if rows else 0.0,
                "seconds": round(time.perf_counter() - t1, 2),
            }
    finally:
        if own_cache:
            cache.close()
    combined = out_dir / f"{out_dir.name}.jsonl"
    _write_jsonl(combined, all_rows)
    _write_jsonl(out_dir / "failures.jsonl", failures)
    manifest = {
        "source": source, "source_file": portable_path(where, data_dir),
        "source_sha256": sha256_of(where), "source_lang": src, "targets": targets,
        "engine": engine.describe(), "positive": positive, "limit": limit,
        "examples": len(examples),
        "examples_with_gold_sentence": sum(1 for ex in examples if len(ex.gold) == 1),
        "answers_across_sentences": sum(1 for ex in examples if len(ex.gold) > 1),
        "texts": len(set(texts)),
        "quality_thresholds": {"length_ratio": list(ratio),
                               "min_chars_for_ratio": MIN_CHARS_FOR_RATIO},
        "languages": languages,
        "failures": len(failures),
        "files": {"combined": combined.name, "per_language": [f"{src}.jsonl"] +
                  [f"{t}.jsonl" for t in targets], "failures": "failures.jsonl"},
        "build_pairs_source": portable_path(out_dir, None),
        "seconds": round(time.perf_counter() - t0, 2),
        "cache": portable_path(cache.path, None),
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest
