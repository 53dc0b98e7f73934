"""MIRACL v1.0 dev: topics and relevance judgments per language, and a streaming corpus reader.

Files (``<data>/miracl/``, copied from anserini-tools, see the data README §3.5):

- ``topics.miracl-v1.0-<lang>-dev.tsv``: ``qid ⇥ query``, UTF-8, no header;
- ``qrels.miracl-v1.0-<lang>-dev.tsv``: ``qid ⇥ Q0 ⇥ docid ⇥ rel`` with rel 0 or 1 and docid
  ``X#Y`` (Wikipedia article X, passage Y).

The passages are not in the data folder: a corpus is a user-supplied JSON-lines file in the
``miracl/miracl-corpus`` format (``{"docid", "title", "text"}`` per line, plain or gzipped),
read in chunks by ``iter_corpus`` so that memory does not grow with the corpus.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from babelir.data.validate import text_lines
from babelir.errors import DataError

LANGUAGES = ("ar", "bn", "de", "en", "es", "fa", "fi", "fr", "hi", "id", "ja", "ko", "ru", "sw",
             "te", "th", "yo", "zh")
# the 15 languages of the paper's Tables 12-13 (MIRACL minus en and the surprise languages)
PAPER_LANGUAGES = tuple(x for x in LANGUAGES if x not in ("en", "de", "yo"))

ANSERINI_TOOLS_COMMIT = "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3"
TOPICS_URL = ("https://raw.githubusercontent.com/castorini/anserini-tools/"
              f"{ANSERINI_TOOLS_COMMIT}/topics/topics.miracl-v1.0-{{lang}}-dev.tsv")
QRELS_URL = ("https://raw.githubusercontent.com/castorini/anserini-tools/"
             f"{ANSERINI_TOOLS_COMMIT}/qrels/qrels.miracl-v1.0-{{lang}}-dev.tsv")
HF_DATASET = "miracl/miracl"  # topics and qrels under miracl-v1.0-<lang>/{topics,qrels}/
HF_CORPUS_DATASET = "miracl/miracl-corpus"  # passages under miracl-corpus-v1.0-<lang>/*.jsonl.gz


def download_corpus(lang: str, cache_root: Path) -> Path:
    """The passages of one language from the Hugging Face dataset ``miracl/miracl-corpus``
    (``miracl-corpus-v1.0-<lang>/*.jsonl.gz``, downloaded once into ``<cache>/hf``); needs
    the network (``--online``)."""
    if lang not in LANGUAGES:
        raise DataError(f"unknown MIRACL language {lang!r}; known: {', '.join(LANGUAGES)}",
                        HF_CORPUS_DATASET)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    folder = f"miracl-corpus-v1.0-{lang}"
    try:
        root = snapshot_download(HF_CORPUS_DATASET, repo_type="dataset",
                                 allow_patterns=[f"{folder}/*"], cache_dir=cache_root / "hf")
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise DataError(f"could not download the {lang} passages of the HF dataset "
                        f"{HF_CORPUS_DATASET} ({type(exc).__name__}: {exc}); without the "
                        "network, give --corpus (miracl-corpus JSONL files)",
                        HF_CORPUS_DATASET) from exc
    path = Path(root) / folder
    if not path.is_dir() or not any(path.glob("*.jsonl*")):
        raise DataError(f"the HF dataset {HF_CORPUS_DATASET} has no {folder}/*.jsonl.gz", path)
    return path


def topics_file(data: Path, lang: str) -> Path:
    return Path(data) / "miracl" / f"topics.miracl-v1.0-{lang}-dev.tsv"


def qrels_file(data: Path, lang: str) -> Path:
    return Path(data) / "miracl" / f"qrels.miracl-v1.0-{lang}-dev.tsv"


@dataclass
class MiraclLanguage:
    """One language's dev topics and judgments. ``qrels[qid][docid] = rel`` (0 or 1)."""

    lang: str
    topics: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def n_judgments(self) -> int:
        return sum(len(d) for d in self.qrels.values())

    @property
    def n_positives(self) -> int:
        return sum(r > 0 for d in self.qrels.values() for r in d.values())

    def judged_docids(self) -> set[str]:
        return {doc for d in self.qrels.values() for doc in d}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    if not path.is_file():
        raise DataError("missing MIRACL file (see the data README §3.5 for its source: "
                        f"{TOPICS_URL if 'topics' in path.name else QRELS_URL})", path)
    yield from text_lines(path)  # a line that is not UTF-8: DataError naming it


def load_topics(path: str | os.PathLike) -> dict[str, str]:
    """``qid -> query`` from a ``qid ⇥ query`` file."""
    path = Path(path)
    topics: dict[str, str] = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1].strip():
            raise DataError(f"expected 'qid<TAB>query', got {line[:80]!r}", path, f"line {number}")
        if parts[0] in topics:
            raise DataError(f"duplicate qid {parts[0]!r}", path, f"line {number}")
        topics[parts[0]] = parts[1]
    return topics


def load_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """``qid -> {docid: rel}`` from a ``qid ⇥ Q0 ⇥ docid ⇥ rel`` file (rel 0 or 1)."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 4:
            raise DataError(f"expected 4 tab-separated fields 'qid Q0 docid rel', got "
                            f"{line[:80]!r}", path, f"line {number}")
        qid, q0, docid, rel = parts
        if q0 != "Q0" or "#" not in docid or rel not in ("0", "1"):
            raise DataError(f"bad judgment {line[:80]!r} (want Q0, docid 'X#Y', rel 0 or 1)",
                            path, f"line {number}")
        judged = qrels.setdefault(qid, {})
        if docid in judged:
            raise DataError(f"duplicate judgment of {docid!r} for qid {qid!r}", path,
                            f"line {number}")
        judged[docid] = int(rel)
    return qrels


def load_language(data: str | os.PathLike, lang: str) -> MiraclLanguage:
    """Topics and qrels of one language, checked against each other."""
    if lang not in LANGUAGES:
        raise DataError(f"unknown MIRACL language {lang!r}; known: {', '.join(LANGUAGES)}")
    tpath, qpath = topics_file(Path(data), lang), qrels_file(Path(data), lang)
    topics, qrels = load_topics(tpath), load_qrels(qpath)
    stray = sorted(set(qrels) - set(topics))
    if stray:
        raise DataError(f"{len(stray)} qrels qids are not in the topics file {tpath.name}, "
                        f"e.g. {stray[0]!r}", qpath)
    return MiraclLanguage(lang, topics, qrels)


def load_miracl(data: str | os.PathLike, languages=None) -> dict[str, MiraclLanguage]:
    """``lang -> MiraclLanguage`` for the given languages (default: all 18)."""
    return {lang: load_language(data, lang) for lang in (languages or LANGUAGES)}


def passage_text(record: dict, with_title: bool = True) -> str:
    """The text to encode for a corpus record: ``title + " " + text`` (MIRACL baselines)."""
    title = record.get("title") or ""
    return f"{title} {record['text']}".strip() if with_title and title else record["text"]


def iter_corpus(path: str | os.PathLike, chunk_size: int = 10_000,
                ) -> Iterator[list[dict]]:
    """Stream a MIRACL corpus JSONL file (plain or gzip, or a folder of such files, read in
    name order) as lists of at most ``chunk_size`` records ``{"docid", "title", "text"}``."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".json.gz"))) \
        if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise DataError("no MIRACL corpus file (JSON lines {docid, title, text})", path)
    chunk: list[dict] = []
    for file in files:
        # text_lines: a truncated/corrupt .gz or a non-UTF-8 line is a DataError naming them
        for number, line in text_lines(file):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not JSON: {exc}", file, f"line {number}") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("docid"), str) \
                    or not isinstance(rec.get("text"), str):
                raise DataError("expected an object with string 'docid' and 'text'", file,
                                f"line {number}")
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
