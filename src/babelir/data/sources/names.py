"""Source names: one scheme, ``source:lang:split``, for build-pairs and translate alike.

==============================  ===========================================================
``<source>[:<lang>[:<split>]]`` a source of the data folder: ``mlqa``, ``tydiqa-goldp``,
                                ``xquad-r``, ``xnli``. ``lang``: ``*`` (every language, the
                                default) or codes joined by ``+``; ``split``: split names
                                joined by ``+``, e.g. ``tydiqa-goldp:en+sw:dev+train``.
``squad:<lang>:<path>``         a SQuAD v1.1 file in one language
``jsonl:[<lang>:]<path>``       babelir's JSON-lines format (every language, or ``lang``'s)
``<path>``                      a ``babelir translate`` output folder (build-pairs), or a
                                ``.json`` SQuAD / ``.jsonl`` file (translate)
==============================  ===========================================================

An omitted split is the command's default for that source: build-pairs takes the leak-free
TyDi dev split, translate (which wants answers) the train split; ``mlqa`` has no default and
needs ``:test`` (MLQA dev is where MLQA-R comes from). mlqa and xnli are read whole (their
languages are joined on the id): their language part is ``*``; choose languages with
build-pairs' ``--languages``.

Older spellings mean what they meant: ``mlqa-test`` = ``mlqa:*:test``; ``tydiqa-goldp:<split>``
and ``xnli:<split>`` (a split where the language goes) = ``<source>:*:<split>``;
``tydiqa-goldp:<lang>`` as translate's source = the train split of that language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babelir.data.sources.examples import ISO_639_1
from babelir.errors import BabelirError


@dataclass(frozen=True)
class Bundled:
    """A source of the data folder: its splits, default split and languages."""

    splits: tuple[str, ...]
    default: tuple[str, ...] | None  # build-pairs' default splits (None: must be given)
    per_language: bool  # one file per language: a language part other than * is allowed
    dataset: str  # the dataset column ({split} is replaced by the split)


BUNDLED = {
    "mlqa": Bundled(("test",), None, False, "mlqa-{split}"),
    "tydiqa-goldp": Bundled(("dev", "train"), ("dev",), True, "tydiqa-goldp-{split}"),
    "xquad-r": Bundled(("test",), ("test",), True, "xquad-r"),
    "xnli": Bundled(("dev", "test"), ("dev", "test"), False, "xnli"),
}
FILE_SOURCES = ("squad", "jsonl")
SPLIT_WORDS = frozenset({"dev", "train", "test"})
OLD_NAMES = {"mlqa-test": "mlqa:*:test"}

# Which evaluation benchmark each dataset must not be trained for (data README §2).
LEAKS = {
    "xquad-r": ("xquad-r",),
    "tydiqa-goldp-train": ("miracl",),
}

SOURCE_HELP = (
    "source:lang:split, e.g. tydiqa-goldp:*:dev+train or tydiqa-goldp:en:train: mlqa:*:test "
    "(= mlqa-test) | tydiqa-goldp[:<lang>|*[:dev|:train|:dev+train]] | xquad-r[:<lang>] | "
    "xnli[:*[:dev|:test|:dev+test]] | squad:<lang>:<path> | jsonl:[<lang>:]<path> | <folder "
    "written by babelir translate>; older tydiqa-goldp:<split>, xnli:<split> still work"
)


@dataclass(frozen=True)
class SourceName:
    """A parsed source name: ``source`` is a bundled source, ``squad``, ``jsonl`` or ``path``."""

    source: str
    langs: tuple[str, ...] | None = None  # None: every language (``*``)
    splits: tuple[str, ...] | None = None  # None: the command's default
    path: str | None = None  # squad, jsonl and path sources

    def with_default_splits(self, default: tuple[str, ...] | None = None) -> "SourceName":
        """This name with its splits filled in: ``default``, else build-pairs' default."""
        if self.source not in BUNDLED or self.splits is not None:
            return self
        splits = default or BUNDLED[self.source].default
        if splits is None:
            raise BabelirError(f"source {format_source_name(self)!r} needs a split: "
                               f"{self.source}:*:{'|'.join(BUNDLED[self.source].splits)}")
        return SourceName(self.source, self.langs, tuple(splits), self.path)

    def datasets(self) -> list[str]:
        """The dataset names the source yields ([] for files: their names come from them)."""
        if self.source not in BUNDLED:
            return []
        name = self.with_default_splits()
        return list(dict.fromkeys(BUNDLED[self.source].dataset.format(split=split)
                                  for split in name.splits))


def _error(text: str, why: str) -> BabelirError:
    return BabelirError(f"bad source name {text!r}: {why}; valid: {SOURCE_HELP}")


def _langs(text: str, part: str) -> tuple[str, ...] | None:
    if part == "*":
        return None
    langs = tuple(part.split("+"))
    bad = [lang for lang in langs if lang not in ISO_639_1]
    if bad:
        raise _error(text, f"unknown language code(s) {', '.join(map(repr, bad))} (ISO 639-1 "
                           "codes such as 'en', or * for every language)")
    if len(set(langs)) != len(langs):
        raise _error(text, "a language is named twice")
    return langs


def _splits(text: str, source: str, part: str) -> tuple[str, ...]:
    splits = tuple(part.split("+"))
    allowed = BUNDLED[source].splits
    if any(s not in allowed for s in splits) or len(set(splits)) != len(splits):
        raise BabelirError(f"source {text!r}: {source} splits must be "
                           f"{' and/or '.join(allowed)}, not {part!r}")
    return splits


def _bundled(text: str, source: str, parts: list[str]) -> SourceName:
    if len(parts) > 2:
        raise _error(text, f"too many ':' parts (write {source}:<lang>:<split>)")
    if any(not p for p in parts):
        raise _error(text, "an empty part (write * for every language)")
    if len(parts) == 1 and set(parts[0].split("+")) <= SPLIT_WORDS:
        parts = ["*", parts[0]]  # the older <source>:<split>
    langs = _langs(text, parts[0]) if parts else None
    if langs is not None and not BUNDLED[source].per_language:
        raise _error(text, f"{source} is read in every language at once (its languages are "
                           f"joined on the id): write {source}:*:<split> and choose "
                           "languages with --languages")
    splits = _splits(text, source, parts[1]) if len(parts) == 2 else None
    return SourceName(source, langs, splits)


def _file(text: str, source: str, rest: str) -> SourceName:
    first, colon, more = rest.partition(":")
    if source == "squad":
        if not first or not colon or not more:
            raise BabelirError(f"source {text!r}: write squad:<lang>:<path>")
        langs = _langs(text, first)
        if langs is None or len(langs) != 1:
            raise _error(text, "a SQuAD file is in one language: write squad:<lang>:<path>")
        return SourceName("squad", langs, None, more)
    if not rest:
        raise _error(text, "write jsonl:<path>")
    if colon and more and (first == "*" or first in ISO_639_1):
        return SourceName("jsonl", _langs(text, first), None, more)  # one language or *
    return SourceName("jsonl", None, None, rest)


def parse_source_name(text: str) -> SourceName:
    """The parsed ``text`` (see the module docstring); a BabelirError says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise BabelirError(f"empty source name; valid: {SOURCE_HELP}")
    text = OLD_NAMES.get(text, text)
    source, colon, rest = text.partition(":")
    if source in BUNDLED:
        if source == "mlqa" and not colon:
            raise BabelirError(f"unknown source 'mlqa': name its split, mlqa:*:test or "
                               f"mlqa-test (MLQA dev, the source of MLQA-R, is not in the "
                               f"data folder); valid: {SOURCE_HELP}")
        return _bundled(text, source, rest.split(":") if colon else [])
    if source in FILE_SOURCES and colon:
        return _file(text, source, rest)
    return SourceName("path", None, None, text)


def format_source_name(name: SourceName) -> str:
    """The canonical spelling of ``name``: ``parse_source_name`` gives ``name`` back."""
    langs = "+".join(name.langs) if name.langs else "*"
    if name.source == "path":
        return str(name.path)
    if name.source == "squad":
        return f"squad:{langs}:{name.path}"
    if name.source == "jsonl":
        return f"jsonl:{langs}:{name.path}" if name.langs else f"jsonl:{name.path}"
    if name.splits is None:
        return f"{name.source}:{langs}"
    return f"{name.source}:{langs}:{'+'.join(name.splits)}"


def resolve_path(text: str, data_dir: Path | None) -> Path:
    """A user path: as given, else relative to the data folder when it exists there."""
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and data_dir is not None:
        if (Path(data_dir) / path).exists():
            return Path(data_dir) / path
    return path
