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

Sources (``babelir.translate.source.load_source``) are named as for build-pairs
(``babelir.data.sources``); example ids are the sources' own (TyDi train:
``tydiqa-train-<source lang>-<position>``) in every language.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

from babelir.data.sources import POSITIVE_MODES, check_positive, positive_passage
from babelir.errors import BabelirError
from babelir.io import atomic_path, sha256_of, write_json
from babelir.translate.cache import TranslationCache
from babelir.translate.engines import TranslationEngine, normalize
from babelir.translate.source import Example, load_source, read_jsonl, read_squad

__all__ = ["Example", "POSITIVE_MODES", "load_source", "portable_path", "quality_flags",
           "read_jsonl", "read_squad", "translate_source"]

LENGTH_RATIO = (0.33, 3.0)
MIN_CHARS_FOR_RATIO = 10  # shorter sources (names, numbers) are not ratio-checked
_LETTERS = re.compile(r"[^\W\d_]")


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


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
    if passage is not None and example.gold:
        gold_text = " ".join(sentences[k] for k in example.gold)
        passage, _ = positive_passage(passage, gold_text, positive)
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


def _texts(examples: list[Example]) -> list[str]:
    """Every text to translate, in order: each question, then its sentences."""
    texts = []
    for ex in examples:
        if ex.question:
            texts.append(ex.question)
        texts.extend(s for s in ex.sentences)
    return texts


def _translated_rows(examples: list[Example], done: dict[str, str], tgt: str,
                     articles: dict[str, str], positive: str,
                     ratio: tuple[float, float]) -> tuple[list[dict], dict]:
    """The rows of one target language from the translations ``done``, and their counts
    (quality flags, texts, examples left out)."""
    rows, flag_counts = [], {}
    counts = {"texts": 0, "flagged_texts": 0, "flagged_examples": 0, "skipped": 0}
    for ex in examples:
        row_flags = []
        question = done.get(ex.question) if ex.question else None
        items = ([(ex.question, question)] if ex.question else []) + \
            [(s, done.get(s)) for s in ex.sentences]
        for text, translated in items:
            flags = quality_flags(text, translated, ratio)
            counts["texts"] += 1
            counts["flagged_texts"] += bool(flags)
            for fl in flags:
                flag_counts[fl] = flag_counts.get(fl, 0) + 1
            row_flags += flags
        row = _row(ex, tgt, question, [done.get(s) for s in ex.sentences], articles[ex.id],
                   positive, row_flags, answer_known=False)
        if row is None:
            counts["skipped"] += 1
            continue
        counts["flagged_examples"] += bool(row_flags)
        rows.append(row)
    return rows, {**counts, "flags": flag_counts}


def _language_summary(rows: list[dict], stats: dict, counts: dict, failed_texts: set[str],
                      pair_version: str, seconds: float) -> dict:
    """The manifest entry of one target language."""
    n_texts, flag_counts = counts["texts"], counts["flags"]
    return {
        **stats, "pair_version": pair_version,
        "examples": len(rows), "examples_left_out": counts["skipped"],
        "examples_incomplete": sum(1 for r in rows if r["question"] is None
                                   or r["passage"] is None),
        "failed_texts": len(failed_texts),
        "text_occurrences": n_texts,
        "flags": flag_counts,
        "flagged_text_share": round(counts["flagged_texts"] / n_texts, 4) if n_texts else 0.0,
        "flag_shares": {k: round(v / n_texts, 4) for k, v in sorted(flag_counts.items())},
        "flagged_example_share": (round(counts["flagged_examples"] / len(rows), 4) if rows
                                  else 0.0),
        "seconds": seconds,
    }


def _translate_target(engine: TranslationEngine, cache: TranslationCache,
                      examples: list[Example], texts: list[str], articles: dict[str, str],
                      src: str, tgt: str, settings: dict,
                      failures: list[dict]) -> tuple[list[dict], dict]:
    """The rows of target language ``tgt`` and its manifest entry; failed texts are
    appended to ``failures``."""
    t1 = time.perf_counter()
    n_fail_before = len(failures)
    done, stats = _translate_all(engine, cache, texts, src, tgt, settings["chunk_size"],
                                 settings["progress"], failures)
    failed_texts = {f["text"] for f in failures[n_fail_before:]}
    for f in failures[n_fail_before:]:
        f["ids"] = [ex.id for ex in examples
                    if f["text"] == ex.question or f["text"] in ex.sentences][:20]
    rows, counts = _translated_rows(examples, done, tgt, articles, settings["positive"],
                                    settings["ratio"])
    summary = _language_summary(rows, stats, counts, failed_texts,
                                engine.pair_version(src, tgt),
                                round(time.perf_counter() - t1, 2))
    return rows, summary


def _check_options(positive: str, limit: int | None) -> None:
    check_positive(positive)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise BabelirError(f"limit must be a whole number >= 1 (or absent), got {limit!r}")


def _manifest(source: str, where: str, data_dir, src: str, targets: list[str],
              engine: TranslationEngine, settings: dict, examples: list[Example],
              texts: list[str], languages: dict, failures: list[dict], combined: Path,
              out_dir: Path, cache: TranslationCache, t0: float) -> dict:
    ratio = settings["ratio"]
    return {
        "source": source, "source_file": portable_path(where, data_dir),
        "source_sha256": sha256_of(where), "source_lang": src, "targets": targets,
        "engine": engine.describe(), "positive": settings["positive"],
        "limit": settings["limit"], "examples": len(examples),
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
    _check_options(positive, limit)
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
    settings = {"chunk_size": int(chunk_size or max(engine.batch_size, 1)),
                "progress": progress, "positive": positive, "ratio": ratio, "limit": limit}

    texts = _texts(examples)
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
            rows, languages[tgt] = _translate_target(engine, cache, examples, texts, articles,
                                                     src, tgt, settings, failures)
            _write_jsonl(out_dir / f"{tgt}.jsonl", rows)
            all_rows += rows
    finally:
        if own_cache:
            cache.close()
    combined = out_dir / f"{out_dir.name}.jsonl"
    _write_jsonl(combined, all_rows)
    _write_jsonl(out_dir / "failures.jsonl", failures)
    manifest = _manifest(source, where, data_dir, src, targets, engine, settings, examples,
                         texts, languages, failures, combined, out_dir, cache, t0)
    write_json(out_dir / "manifest.json", manifest)
    return manifest
