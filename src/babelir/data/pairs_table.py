"""The pairs table's schema, and its validation on write (``validate_pairs``) and read
(``load_pairs``): a bad table is a DataError naming the file and the first bad row.

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
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from babelir.data.sources import ISO_639_1
from babelir.errors import DataError

COLUMNS = ("dataset", "example_id", "lang", "question", "passage", "article", "split")
KEY = ["dataset", "example_id", "lang"]
SPLITS = ("train", "dev")
# datasets whose same-language pairs are identities, not pairs (XNLI premises)
TRANSLATION_DATASETS = frozenset({"xnli"})


def is_pairs_output(path: Path) -> bool:
    """Whether babelir wrote the Parquet file at ``path``: its metadata key, or (a table
    written before babelir marked its files) every column of the pairs table."""
    import pyarrow.parquet as pq

    from babelir.io import is_babelir_parquet

    if is_babelir_parquet(path):
        return True
    try:
        return set(COLUMNS) <= set(pq.read_schema(path).names)
    except Exception:  # not Parquet (pyarrow raises several types): the user's file
        return False


def is_summary_output(path: Path) -> bool:
    """Whether the JSON at ``path`` is a pairs summary babelir wrote (``build_pairs``)."""
    import json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and {"out", "sources", "positive"} <= set(record)


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
