"""The documents of an index folder (``babelir index build``), for ``babelir search`` to show
and filter: each row's docid, language, title and text, stored beside the index.

``<index>/documents/``:

- ``documents.jsonl``: one line ``{"docid", "lang", "title", "text"}`` per row id, in row order
  (the order of the sharded embeddings: the corpus stream's);
- ``offsets.npy``: the byte offset of every line, and the file's length (int64, n + 1): a hit
  is read by seeking to its line;
- ``languages.npy``: each row's language as a position in ``store.json``'s ``languages``
  (uint16), for language-restricted search (``VectorIndex.search(restrict_to=...)``);
- ``store.json``: ``n``, ``languages``, ``counts`` and the ``corpus`` it was read from (the
  index record's fingerprint: path, file names, sizes, mtimes).

It is written by ``babelir index build`` (one more pass over the corpus, reading only), or by the
first search of a folder without it or whose corpus record changed since (``--overwrite``),
from the corpus file the index record names.

A row's language: its record's ``lang`` (or ``language``) field; else the one its corpus file's
path names in the MIRACL layouts (``miracl-corpus-v1.0-<lang>/``, ``<lang>.jsonl[.gz]``);
else identified from its text (py3langid).
"""

from __future__ import annotations

import json
import re
import sys
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from babelir.errors import BabelirError

STORE = "documents"
#: a language named by a corpus path (MIRACL's corpus folders, or one file per language)
_PATH_LANGUAGE = (re.compile(r"miracl-corpus-v[\d.]+-([a-z]{2,3})(?:/|$)"),
                  re.compile(r"(?:^|/)([a-z]{2,3})\.jsonl?(?:\.gz)?$"))


def path_language(path: Path) -> str | None:
    """The language a corpus file's path names, or None."""
    text = Path(path).as_posix()
    for pattern in _PATH_LANGUAGE:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def _corpus_files(corpus: Path) -> list[Path]:
    """The files ``data.miracl.iter_corpus`` reads, in its order."""
    if not corpus.is_dir():
        return [corpus]
    return sorted(p for p in corpus.iterdir()
                  if p.name.endswith((".jsonl", ".jsonl.gz", ".json.gz")))


def corpus_documents(corpus: str | Path) -> Iterator[dict]:
    """``{"docid", "lang", "title", "text"}`` of every record of a corpus, in stream order."""
    from babelir.data.miracl import iter_corpus

    for file in _corpus_files(Path(corpus)):
        named = path_language(file)
        for chunk in iter_corpus(file):
            langs = [rec.get("lang") or rec.get("language") or named for rec in chunk]
            unknown = [i for i, lang in enumerate(langs) if not lang]
            if unknown:
                import py3langid

                for i in unknown:
                    langs[i] = py3langid.classify(f"{chunk[i].get('title') or ''} "
                                                  f"{chunk[i]['text']}")[0]
            for rec, lang in zip(chunk, langs):
                yield {"docid": rec["docid"], "lang": str(lang),
                       "title": rec.get("title") or "", "text": rec["text"]}


def write_documents(folder: str | Path, corpus: str | Path, docids: list[str],
                    corpus_record: dict) -> DocumentStore:
    """Write ``<folder>/documents`` from ``corpus``, whose records must be ``docids`` (the
    index's rows, in order); ``corpus_record`` is kept to tell a stale store."""
    from babelir.io import atomic_dir, write_json

    offsets, codes, names = array("q", [0]), array("H"), {}
    with atomic_dir(Path(folder) / STORE) as tmp:
        with (tmp / "documents.jsonl").open("wb") as out:
            for row, doc in enumerate(corpus_documents(corpus)):
                if row >= len(docids) or doc["docid"] != docids[row]:
                    raise BabelirError(f"the corpus {corpus} is not the one indexed in {folder} "
                                       f"(row {row}: {doc['docid']!r}); rebuild the index "
                                       "(babelir index build ... --overwrite)")
                line = (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")
                offsets.append(offsets[-1] + out.write(line))
                codes.append(names.setdefault(doc["lang"], len(names)))
        if len(codes) != len(docids):
            raise BabelirError(f"the corpus {corpus} has {len(codes)} records, the index "
                               f"{folder} {len(docids)} rows; rebuild the index")
        np.save(tmp / "offsets.npy", np.frombuffer(offsets, dtype=np.int64))
        np.save(tmp / "languages.npy", np.frombuffer(codes, dtype=np.uint16))
        counts = np.bincount(np.frombuffer(codes, dtype=np.uint16), minlength=len(names))
        write_json(tmp / "store.json", {"n": len(codes), "languages": list(names),
                                        "counts": dict(zip(names, counts.tolist())),
                                        "corpus": corpus_record})
    return DocumentStore(Path(folder) / STORE)


class DocumentStore:
    """The ``documents/`` folder of an index (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "store.json").read_text(encoding="utf-8"))
        self.languages: list[str] = self.meta["languages"]

    def rows_in(self, languages: Iterable[str]) -> np.ndarray:
        """The row ids of the documents in ``languages`` (an unknown one is an error)."""
        wanted = list(languages)
        unknown = [lang for lang in wanted if lang not in self.languages]
        if unknown:
            held = ", ".join(f"{k} ({v})" for k, v in self.meta["counts"].items())
            raise BabelirError(f"no document in {', '.join(unknown)}; the index holds {held}")
        codes = np.load(self.folder / "languages.npy", mmap_mode="r")
        return np.flatnonzero(np.isin(codes, [self.languages.index(x) for x in wanted]))

    def get(self, rows: Iterable[int]) -> dict[int, dict]:
        """The documents of ``rows`` (row id -> ``{"docid", "lang", "title", "text"}``)."""
        offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")
        found = {}
        with (self.folder / "documents.jsonl").open("rb") as handle:
            for row in sorted({int(r) for r in rows}):
                handle.seek(int(offsets[row]))
                found[row] = json.loads(handle.readline())
        return found


def open_documents(folder: Path, meta: dict, docids: list[str],
                   quiet: bool = False) -> DocumentStore | None:
    """The index folder's document store, written first where it is missing or stale (from the
    corpus its record names; a note on stderr unless ``quiet``); None, with a note on stderr,
    where that corpus is gone."""
    record = (meta.get("identity") or {}).get("corpus") or {"path": meta.get("corpus")}
    store = Path(folder) / STORE
    if (store / "store.json").is_file():
        found = DocumentStore(store)
        if found.meta.get("corpus") == record and found.meta.get("n") == len(docids):
            return found
    corpus = record.get("path")
    if not corpus or not Path(corpus).exists():
        print(f"babelir: note: {folder} holds no titles, texts or languages of its documents "
              f"and its corpus ({corpus}) is gone: hits show docids only", file=sys.stderr)
        return None
    if not quiet:
        print(f"babelir: note: reading the documents of {corpus} into {store} (once)",
              file=sys.stderr)
    return write_documents(folder, corpus, docids, record)
