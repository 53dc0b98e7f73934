"""TyDi QA GoldP (XTREME per-language layout): its files and its example ids.

``tydiqa/goldp-<split>/tydiqa.goldp.<lang>.<split>.json``, monolingual. Dev files (dataset
``tydiqa-goldp-dev``): ids are unique, answers blanked. Train files (dataset
``tydiqa-goldp-train``): XTREME kept only the last ``-N`` of the original ids, so they repeat
(en: 89 distinct ids for 3,696 questions); examples are keyed by position instead,
``tydiqa-train-<lang>-<position>`` (``example_id``). Train answers are present. **The train
files leak into MIRACL dev** (data README, section 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from babelir.data.sources.examples import QAExample, check_lang
from babelir.data.sources.squad import read_squad
from babelir.errors import BabelirError, DataError

SPLITS = ("dev", "train")
_FILE = re.compile(r"^tydiqa\.goldp\.([a-z]{2})\.(dev|train)\.json$")


def dataset_name(split: str) -> str:
    return f"tydiqa-goldp-{split}"


def example_id(split: str, lang: str, position: int, raw_id: str) -> str:
    """The id scheme: the file's id in dev, ``tydiqa-train-<lang>-<position>`` in train."""
    return f"tydiqa-train-{lang}-{position}" if split == "train" else raw_id


def file_path(data_dir: Path, split: str, lang: str) -> Path:
    return Path(data_dir) / "tydiqa" / f"goldp-{split}" / f"tydiqa.goldp.{lang}.{split}.json"


def files(data_dir: Path, split: str,
          langs: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """(language, path) of the split's files: all of them, or those of ``langs``."""
    if langs is not None:
        found = [(lang, file_path(data_dir, split, lang)) for lang in langs]
        for _, path in found:
            if not path.is_file():
                raise DataError("file not found", path=path)
        return found
    folder = Path(data_dir) / "tydiqa" / f"goldp-{split}"
    paths = sorted(f for f in folder.glob(f"tydiqa.goldp.*.{split}.json") if _FILE.match(f.name))
    if not paths:
        raise DataError(f"no tydiqa.goldp.<lang>.{split}.json files", path=folder)
    return [(check_lang(_FILE.match(p.name).group(1), p, "file name"), p) for p in paths]


def read_tydiqa_goldp(data_dir: Path, splits: Iterable[str] = ("dev",),
                      langs: Iterable[str] | None = None) -> list[QAExample]:
    """The questions of the ``splits`` (⊆ {"dev", "train"}), all languages or ``langs``."""
    splits = tuple(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise BabelirError(f"tydiqa-goldp splits must be dev and/or train, not {splits!r}")
    examples: list[QAExample] = []
    for split in splits:
        for lang, path in files(data_dir, split, langs):
            examples += read_squad(
                path, lang, dataset_name(split),
                lambda pos, raw, split=split, lang=lang: example_id(split, lang, pos, raw))
    return examples
