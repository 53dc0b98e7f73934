"""The training examples a sampler draws from: which language versions of each exist.

An *example* is one question/passage pair and all its translations; it has an id shared by
every translation and comes from one source dataset. Per language it may have a question,
a passage, both, or neither (MLQA: questions in some languages, passages in others; TyDi:
one language only). The pool stores only this availability, as two boolean matrices of
shape (n_examples, n_languages); the texts stay with the caller, who looks them up by
(``example_ids[i]``, ``languages[j]``).

An example with no usable (question, passage) combination for a strategy is simply never
drawn by it; that is not an error.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from babelir.errors import BabelirError, DataError

RECORD_KEYS = ("example_id", "dataset", "lang", "question", "passage")


def _duplicates(values: Iterable[str], limit: int = 5) -> list[str]:
    return [v for v, n in Counter(values).items() if n > 1][:limit]


def _bool_matrix(name: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != np.bool_:
        raise BabelirError(f"{name} must be a boolean array, got dtype {array.dtype}")
    if array.shape != shape:
        raise BabelirError(
            f"{name} has shape {array.shape}, expected (n_examples, n_languages) = {shape}")
    array = array.copy()
    array.setflags(write=False)
    return array


def _non_empty_strings(name: str, values: Sequence[object]) -> list[str]:
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            raise BabelirError(f"{name}[{i}] must be a non-empty string, got {v!r}")
    return list(values)  # type: ignore[arg-type]


@dataclass(eq=False)
class ExamplePool:
    """Availability of questions and passages per example and language.

    ``has_question[i, j]`` / ``has_passage[i, j]``: example i has a question / a positive
    passage in ``languages[j]``. ``dataset_names`` (sorted) and ``dataset_index`` (per
    example, an index into it) are derived.
    """

    example_ids: list[str]
    datasets: list[str]
    languages: tuple[str, ...]
    has_question: np.ndarray
    has_passage: np.ndarray
    # datasets whose same-language pairs are identities (parallel sentences: XNLI), usable
    # only across languages: never drawn into X-X-mono, En-En or X-X batches
    cross_only_datasets: frozenset = frozenset()
    dataset_names: tuple[str, ...] = field(init=False)
    dataset_index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.example_ids = _non_empty_strings("example_ids", list(self.example_ids))
        n = len(self.example_ids)
        if n == 0:
            raise BabelirError("empty example pool: no training examples")
        dupes = _duplicates(self.example_ids)
        if dupes:
            raise BabelirError(f"duplicate example ids (an id is shared by all translations "
                               f"of one example and must appear once): {dupes}")
        self.datasets = _non_empty_strings("datasets", list(self.datasets))
        if len(self.datasets) != n:
            raise BabelirError(
                f"datasets has {len(self.datasets)} entries for {n} examples")
        self.languages = tuple(_non_empty_strings("languages", list(self.languages)))
        if not self.languages:
            raise BabelirError("the example pool has no languages")
        dupes = _duplicates(self.languages)
        if dupes:
            raise BabelirError(f"duplicate languages: {dupes}")
        shape = (n, len(self.languages))
        self.has_question = _bool_matrix("has_question", self.has_question, shape)
        self.has_passage = _bool_matrix("has_passage", self.has_passage, shape)
        self.dataset_names = tuple(sorted(set(self.datasets)))
        position = {name: d for d, name in enumerate(self.dataset_names)}
        self.dataset_index = np.array([position[d] for d in self.datasets], dtype=np.int64)
        self.dataset_index.setflags(write=False)

    @classmethod
    def from_arrays(cls, example_ids: Sequence[str], datasets: Sequence[str],
                    languages: Sequence[str], has_question: np.ndarray,
                    has_passage: np.ndarray) -> ExamplePool:
        """The pool of these columns (validated; arrays are copied and made read-only)."""
        return cls(list(example_ids), list(datasets), tuple(languages),
                   has_question, has_passage)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]],
                     cross_only_datasets: Iterable[str] = ()) -> ExamplePool:
        """A pool from long-format rows, one per (example, language)::

            {"example_id": str, "dataset": str, "lang": str,
             "question": str | None, "passage": str | None}

        A question / passage counts as present when it is a string that is not blank.
        Languages are sorted; examples keep the order of their first row.
        """
        rows: dict[str, dict[str, tuple[bool, bool]]] = {}
        datasets: dict[str, str] = {}
        for number, record in enumerate(records):
            example_id, dataset, lang, has_q, has_p = _parse_record(number, record)
            if datasets.setdefault(example_id, dataset) != dataset:
                raise DataError(f"example {example_id!r} is in dataset {dataset!r} here but "
                                f"in {datasets[example_id]!r} in an earlier record",
                                record=number)
            per_lang = rows.setdefault(example_id, {})
            if lang in per_lang:
                raise DataError(f"second record for example {example_id!r} in language "
                                f"{lang!r}", record=number)
            per_lang[lang] = (has_q, has_p)
        languages = tuple(sorted({lang for per_lang in rows.values() for lang in per_lang}))
        column = {lang: j for j, lang in enumerate(languages)}
        has_q = np.zeros((len(rows), len(languages)), dtype=bool)
        has_p = np.zeros_like(has_q)
        for i, per_lang in enumerate(rows.values()):
            for lang, (q, p) in per_lang.items():
                has_q[i, column[lang]], has_p[i, column[lang]] = q, p
        return cls(list(rows), [datasets[e] for e in rows], languages, has_q, has_p,
                   frozenset(cross_only_datasets))

    @property
    def n_examples(self) -> int:
        return len(self.example_ids)

    def lang_index(self, lang: str) -> int:
        """The column of language ``lang``; BabelirError if the pool has no such language."""
        try:
            return self.languages.index(lang)
        except ValueError:
            raise BabelirError(f"the example pool has no language {lang!r} "
                               f"(it has {', '.join(self.languages)})") from None

    def fingerprint(self) -> str:
        """A short hash of the whole pool, stored in sampler checkpoints so that a run is
        never resumed on different data (which would silently change its batches)."""
        h = hashlib.sha256()
        for part in (self.example_ids, self.datasets, self.languages):
            h.update("\x1f".join(part).encode())
            h.update(b"\x1e")
        h.update(np.packbits(self.has_question).tobytes())
        h.update(np.packbits(self.has_passage).tobytes())
        h.update("\x1f".join(sorted(self.cross_only_datasets)).encode())
        return h.hexdigest()[:16]


def _parse_record(number: int, record: Mapping[str, object]) -> tuple[str, str, str, bool, bool]:
    if not isinstance(record, Mapping):
        raise DataError(f"expected a mapping with keys {RECORD_KEYS}, got "
                        f"{type(record).__name__}", record=number)
    missing = [k for k in ("example_id", "dataset", "lang") if k not in record]
    if missing:
        raise DataError(f"missing key(s) {missing}", record=number)
    for key in ("example_id", "dataset", "lang"):
        if not isinstance(record[key], str) or not record[key]:
            raise DataError(f"{key} must be a non-empty string, got {record[key]!r}",
                            record=number)
    present = []
    for key in ("question", "passage"):
        text = record.get(key)
        if text is not None and not isinstance(text, str):
            raise DataError(f"{key} must be a string or None, got {type(text).__name__}",
                            record=number)
        present.append(bool(text and text.strip()))
    return (record["example_id"], record["dataset"], record["lang"],  # type: ignore[return-value]
            present[0], present[1])
