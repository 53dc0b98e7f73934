"""Training pairs: build the table of (question, passage) examples from named sources,
summarise it, and write it (``build_pairs``; ``babelir data build-pairs``).

The table (``babelir.data.pairs_table``) has one row per (dataset, example_id, lang). A
(question, positive) training pair is any question row joined with any passage row of the
same (dataset, example_id): same language gives a monolingual (X-X) pair, different
languages a cross-lingual (X-Y) pair. ``pairs_available`` counts them; the same-language
pairs of ``TRANSLATION_DATASETS`` (XNLI premises) are identities and are not pairs.

Sources are named ``source:lang:split`` and read by ``babelir.data.sources`` (``SOURCE_HELP``);
``babelir.data.pair_rows`` turns their examples into rows, with the positive passage
(``positive=``: ``paragraph``, ``sentence`` or ``sentence+paragraph`` where answers exist)
and an article key. The dev split is by article (``babelir.data.articles``), decided before
the ``languages`` filter, so it does not depend on the languages kept.

Decontamination (``build_pairs(drop_overlap=[benchmark, ...])``, ``--drop-overlap``): after the
split and the language filter, every example that the leakage guard's checks flag against a
named benchmark is removed, all its rows (``babelir.training.decontaminate``); the splits of
the others do not change, and the summary's ``drop_overlap`` lists what went and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from babelir.data.articles import assign_articles, split_of
from babelir.data.pair_rows import (
    _parse_squad,
    load_jsonl,
    load_mlqa_test,
    load_source,
    load_squad_file,
    load_translation_folder,
    load_tydiqa_goldp,
    load_xnli,
    load_xquad_r,
)
from babelir.data.pairs_table import (
    COLUMNS,
    KEY,
    SPLITS,
    TRANSLATION_DATASETS,
    is_pairs_output,
    is_summary_output,
    load_pairs,
    validate_pairs,
)
from babelir.data.sources import (
    ISO_639_1,
    LEAKS,
    POSITIVE_MODES,
    SOURCE_HELP,
    check_positive,
    parse_source_name,
)
from babelir.errors import BabelirError, DataError
from babelir.io import check_output_file, write_json, write_parquet

__all__ = ["COLUMNS", "ISO_639_1", "KEY", "LEAKS", "POSITIVE_MODES", "SOURCE_HELP", "SPLITS",
           "TRANSLATION_DATASETS", "_parse_squad", "assign_articles", "build_pairs",
           "load_jsonl", "load_mlqa_test", "load_pairs", "load_source", "load_squad_file",
           "load_translation_folder", "load_tydiqa_goldp", "load_xnli", "load_xquad_r",
           "make_pairs", "pairs_available", "split_of", "summarize", "validate_pairs"]

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
    check_positive(positive)
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


def summary_path(out: Path) -> Path:
    """Where ``build_pairs`` writes the summary of the table at ``out``."""
    return out.with_name(f"{out.stem}.summary.json")


def build_pairs(sources: list[str], data_dir: Path, out: Path, positive: str = "paragraph",
                dev_fraction: float = 0.05, seed: int = 0,
                languages: Iterable[str] | None = None, benchmark: str | None = None,
                drop_overlap: Iterable[str] | None = None,
                cache_dir: Path | None = None) -> dict:
    """Build the pairs table from ``sources``, write it to ``out`` (Parquet), return a summary.

    The summary is also written beside ``out`` as ``<stem>.summary.json``. ``benchmark``
    (e.g. ``"xquad-r"``, ``"miracl"``) refuses sources that leak into that benchmark.
    ``drop_overlap`` (benchmark names: xquad-r, mlqa-r, miracl, or a validation pool such as
    tydi-val) removes every example that
    the leakage guard flags against them (``babelir.training.decontaminate``; benchmark
    files from ``data_dir``, then ``cache_dir``); the summary's ``drop_overlap`` says what
    was removed and why. Without it nothing is removed and the summary has no such key.
    """
    out = Path(out)
    check_output_file(out, ours=is_pairs_output)  # a user's own file: never replaced
    check_output_file(summary_path(out), ours=is_summary_output)
    if drop_overlap is not None:
        from babelir.training.decontaminate import check_benchmarks

        drop_overlap = check_benchmarks(drop_overlap)  # before any source is read
    if benchmark is not None:
        for spec in sources:
            for dataset in parse_source_name(spec).datasets():
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
    write_parquet(frame, out)
    write_json(summary_path(out), summary)
    return summary


