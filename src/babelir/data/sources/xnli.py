"""XNLI dev and test premises as parallel sentences.

Each premise stands on 3 consecutive rows (one per hypothesis) of the line-aligned
``xnli/<split>-<lang>.tsv`` files; rows ``3g .. 3g+2`` form premise group ``g`` (their
premises must be identical, else DataError) and become ONE sentence id
``xnli-<split>-<g>``, with that language's premise in each language. A group whose premises
in every language repeat an earlier group is dropped (dedupe across dev and test).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from babelir.data.sources.examples import ParallelSentence, check_lang
from babelir.data.sources.jsonfields import text
from babelir.errors import BabelirError, DataError

DATASET = "xnli"
SPLITS = ("dev", "test")
_FILE = re.compile(r"^(dev|test)-([a-z]{2})\.tsv$")


def _premises(path: Path) -> list[str]:
    """The premise of each group of 3 rows of one file."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 ({exc})", path=path) from None
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 3:
        raise DataError(f"{len(lines)} rows: not a multiple of 3 (premise, 3 hypotheses)",
                        path=path)
    column = []
    for n, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            raise DataError(f"{len(fields)} tab-separated fields, expected premise, "
                            "hypothesis[, label]", path=path, record=f"line {n}")
        premise = text(fields[0], "premise", path, f"line {n}")
        if n % 3 != 1 and premise != column[-1]:
            raise DataError("premise differs from the row above: each premise must stand "
                            "on 3 consecutive rows", path=path, record=f"line {n}")
        column.append(premise)
    return column[::3]


def _split_premises(folder: Path, split: str) -> dict[str, list[str]]:
    """{language: premises} of one split, checked to be line-aligned."""
    files = sorted(f for f in folder.glob(f"{split}-*.tsv") if _FILE.match(f.name))
    if not files:
        raise DataError(f"no {split}-<lang>.tsv files", path=folder)
    premises = {check_lang(_FILE.match(path.name).group(2), path, "file name"): _premises(path)
                for path in files}
    if len({len(v) for v in premises.values()}) != 1:
        detail = ", ".join(f"{lang}: {3 * len(v)}" for lang, v in premises.items())
        raise DataError(f"files are not line-aligned (rows per language: {detail})",
                        path=folder, record=f"{split}-*.tsv")
    return premises


def read_xnli(data_dir: Path, splits: Iterable[str] = SPLITS) -> list[ParallelSentence]:
    """The premises of the ``splits`` (⊆ {"dev", "test"}), one sentence per language and
    premise group."""
    splits = tuple(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise BabelirError(f"xnli splits must be dev and/or test, not {splits!r}")
    sentences: list[ParallelSentence] = []
    seen_groups: set[tuple] = set()
    for split in splits:
        premises = _split_premises(Path(data_dir) / "xnli", split)
        langs = sorted(premises)
        for g in range(len(premises[langs[0]])):
            group = tuple(premises[lang][g] for lang in langs)
            if (tuple(langs), group) in seen_groups:
                continue  # the same premise in every language as an earlier group
            seen_groups.add((tuple(langs), group))
            sentences += [ParallelSentence(f"xnli-{split}-{g}", lang, premise, DATASET)
                          for lang, premise in zip(langs, group)]
    return sentences
