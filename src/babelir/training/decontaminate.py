"""Decontamination: remove the training examples that the leakage guard would flag.

``babelir.training.leakage`` compares a training table with an evaluation benchmark and
refuses training on overlap. This module runs the same checks — same benchmark files (data
folder, then cache, never a download), same normalisation (``leakage.normalise``), same
columns (``question``; ``passage`` and, when present, ``negative``), same 30-character rule for
sentences — but marks every training ROW that holds a matching value:

==========  ================================================================================
ids         the row's ``example_id`` equals a benchmark question id
questions   the row's normalised question equals a normalised benchmark question
contexts    the row's normalised passage (or negative) equals a normalised benchmark paragraph
sentences   a normalised benchmark sentence (>= 30 characters) occurs inside the row's
            normalised passage (or negative)
==========  ================================================================================

and removes every EXAMPLE (all rows of a ``(dataset, example_id)``) with a marked row, so the
other translations of a leaked example go too. The guard finds nothing in what is left: every
row that could match is gone. ``leakage.find_sentences`` reports the first passage holding a
sentence only; ``passages_with_sentences`` searches again without the passages found, for the
sentences found, until nothing new turns up, so every passage holding a sentence is found.

A benchmark whose files are not there cannot be compared: asking to decontaminate against it
is an error (the guard would pass such a table as "unchecked", which is not what was asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from babelir.data.lareqa import load_benchmark
from babelir.data.registry import (BENCHMARKS, VALIDATION_BENCHMARKS, get_benchmark,
                                   resolve_file)
from babelir.errors import BabelirError, DataError
from babelir.training.leakage import (
    CHECKS,
    KNOWN_BENCHMARKS,
    MIN_SENTENCE_CHARS,
    NORMALISATION,
    PASSAGE_COLUMNS,
    REQUIRED_COLUMNS,
    _miracl_topics,
    _normalised_column,
    find_sentences,
)


#: what ``--drop-overlap`` takes: the test benchmarks, and the validation pools (a training
#: source that a pool is built from, e.g. TyDi GoldP train for tydi-val, can then be trained
#: on without the pool's paragraphs and questions)
DROPPABLE = (*KNOWN_BENCHMARKS, *VALIDATION_BENCHMARKS)


def check_benchmarks(benchmarks: Sequence[str]) -> list[str]:
    """The benchmark names, checked (``DROPPABLE``), duplicates removed."""
    names = list(dict.fromkeys(str(b).strip() for b in benchmarks))
    bad = [b for b in names if b not in DROPPABLE]
    if bad or not names:
        raise BabelirError(f"cannot decontaminate against {', '.join(map(repr, bad)) or '(none)'}"
                           f": known benchmarks are {', '.join(DROPPABLE)}")
    return names


def passages_with_sentences(sentences: Sequence[str], passages: Sequence[str]) -> set[int]:
    """Indices of EVERY passage containing one of ``sentences`` (both already normalised;
    sentences shorter than MIN_SENTENCE_CHARS are not looked for)."""
    wanted = [s for s in sentences if len(s) >= MIN_SENTENCE_CHARS]
    remaining = list(range(len(passages)))
    hits: set[int] = set()
    while wanted and remaining:
        found = find_sentences(wanted, [passages[j] for j in remaining])
        if not found:
            break
        local = set(found.values())
        hits.update(remaining[j] for j in local)
        # a sentence not found is in none of the remaining passages: look only for the others
        wanted = [wanted[i] for i in sorted(found)]
        remaining = [j for k, j in enumerate(remaining) if k not in local]
    return hits


def _benchmark_texts(benchmark: str, data_dir: Path, cache_dir: Path | None) -> dict:
    """What the guard compares: ids, questions, contexts, sentences (raw) and languages."""
    if benchmark in VALIDATION_BENCHMARKS:  # built from the data folder's training files
        bench = load_benchmark(get_benchmark(benchmark), data_dir, cache_dir)
        return {"ids": [], "questions": bench.query_texts, "contexts": bench.cand_contexts,
                "sentences": bench.cand_sentences, "languages": list(bench.languages)}
    if benchmark not in BENCHMARKS:  # miracl: the dev topics, questions only
        topics, _ = _miracl_topics(data_dir)
        if not topics:
            raise BabelirError(f"cannot decontaminate against miracl: no "
                               f"miracl/topics.miracl-v1.0-<lang>-dev.tsv file in {data_dir}")
        return {"ids": [], "contexts": [], "sentences": [], "languages": sorted(topics),
                "questions": [q for lang in sorted(topics) for _, q in topics[lang]]}
    spec = get_benchmark(benchmark)
    present = []
    for lang in spec.languages:
        try:
            resolve_file(spec, lang, data_dir, cache_dir, online=False)
            present.append(lang)
        except DataError:
            continue
    if not present:
        raise BabelirError(f"cannot decontaminate against {benchmark}: no "
                           f"{spec.relative_dir}/<lang>.json in the data folder {data_dir}"
                           + (f" or the cache {cache_dir}" if cache_dir else ""))
    bench = load_benchmark(spec, data_dir, cache_dir, languages=present)
    return {"ids": [str(x) for x in bench.query_xids], "questions": bench.query_texts,
            "contexts": bench.cand_contexts, "sentences": bench.cand_sentences,
            "languages": present}


def overlap_rows(frame: pd.DataFrame, benchmark: str, data_dir: Path,
                 cache_dir: Path | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """({check: boolean mask over the rows of ``frame`` it flags}, benchmark languages)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BabelirError(f"decontamination needs the pairs column(s) {', '.join(missing)}")
    texts = _benchmark_texts(benchmark, Path(data_dir), Path(cache_dir) if cache_dir else None)
    n = len(frame)
    questions = _normalised_column(frame["question"])
    passages = [_normalised_column(frame[c]) for c in PASSAGE_COLUMNS if c in frame.columns]

    def rows_with_passage(values: set[str]) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for column in passages:
            mask |= np.fromiter((p is not None and p in values for p in column), bool, n)
        return mask

    ids = set(texts["ids"])
    bench_questions = set(q for q in _normalised_column(texts["questions"]) if q)
    contexts = set(c for c in _normalised_column(dict.fromkeys(texts["contexts"])) if c)
    distinct = list(dict.fromkeys(p for column in passages for p in column if p))
    sentences = [s for s in _normalised_column(dict.fromkeys(texts["sentences"])) if s]
    holding = {distinct[j] for j in passages_with_sentences(sentences, distinct)}
    masks = {
        "ids": np.fromiter((str(x) in ids for x in frame["example_id"]), bool, n),
        "questions": np.fromiter((q is not None and q in bench_questions for q in questions),
                                 bool, n),
        "contexts": rows_with_passage(contexts),
        "sentences": rows_with_passage(holding),
    }
    return {c: masks[c] for c in CHECKS}, texts["languages"]


def drop_overlap(frame: pd.DataFrame, benchmarks: Sequence[str], data_dir: Path,
                 cache_dir: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """``frame`` without the examples flagged against any of ``benchmarks``, and a report:
    counts per benchmark and per check, and the removed examples with their reasons."""
    benchmarks = check_benchmarks(benchmarks)
    keys = list(zip(frame["dataset"].astype(str), frame["example_id"].astype(str)))
    reasons: dict[tuple[str, str], list[str]] = {}
    per_benchmark = {}
    for benchmark in benchmarks:
        masks, langs = overlap_rows(frame, benchmark, data_dir, cache_dir)
        by_reason, flagged = {}, set()
        for check, mask in masks.items():
            examples = {keys[i] for i in np.flatnonzero(mask)}
            by_reason[check] = {"examples": len(examples), "rows": int(mask.sum())}
            flagged |= examples
            for key in examples:
                reasons.setdefault(key, []).append(f"{benchmark}:{check}")
        rows = int(sum(key in flagged for key in keys))
        per_benchmark[benchmark] = {"examples": len(flagged), "rows": rows,
                                    "by_reason": by_reason, "benchmark_languages": langs}
    keep = np.fromiter((key not in reasons for key in keys), bool, len(keys))
    report = {
        "benchmarks": benchmarks,
        "normalisation": NORMALISATION,
        "min_sentence_chars": MIN_SENTENCE_CHARS,
        "removed_examples": len(reasons),
        "removed_rows": int((~keep).sum()),
        "by_benchmark": per_benchmark,
        "removed": [{"dataset": d, "example_id": e, "reasons": r}
                    for (d, e), r in sorted(reasons.items())],
    }
    return frame[keep], report
