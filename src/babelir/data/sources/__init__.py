"""The data-source layer: one reader per source, one example type, one naming scheme.

Every command that reads training data (``babelir data build-pairs``, ``babelir translate``)
names a source with ``source:lang:split`` (``names``; older spellings still mean what they
meant) and reads it through ``read_source``, which returns ``QAExample`` objects (XNLI:
``ParallelSentence``; ``examples``). One module per source:

``mlqa:*:test`` (= ``mlqa-test``; ``mlqa``)
    The 16 XTREME-layout MLQA test files, joined on the question id; answers blanked.
``tydiqa-goldp[:<lang>][:dev|:train|:dev+train]`` (``tydiqa``)
    TyDi QA GoldP, monolingual; the train files (answers present) leak into MIRACL dev.
``xquad-r[:<lang>]`` (``xquad_r``)
    The 11-way parallel XQuAD-R files, with LAReQA's answer sentences.
``xnli[:*][:dev|:test|:dev+test]`` (``xnli``)
    XNLI premises as parallel sentences.
``squad:<lang>:<path>`` (``squad``)
    A SQuAD v1.1 file in one language (dataset ``squad-<file stem>``); ``squad`` is also the
    parser behind MLQA and TyDi.
``jsonl:[<lang>:]<path>``, a ``babelir translate`` folder (``jsonl``)
    babelir's JSON-lines format (dataset ``jsonl-<file stem>``); a folder is read through
    its manifest (dataset ``jsonl-<folder name>``).
"""

from __future__ import annotations

from pathlib import Path

from babelir.data.sources import jsonl, mlqa, tydiqa, xnli, xquad_r
from babelir.data.sources.examples import (
    ISO_639_1,
    POSITIVE_MODES,
    ParallelSentence,
    QAExample,
    check_lang,
    check_positive,
    clean,
    positive_passage,
)
from babelir.data.sources.names import (
    BUNDLED,
    LEAKS,
    SOURCE_HELP,
    SourceName,
    format_source_name,
    parse_source_name,
    resolve_path,
)
from babelir.data.sources.squad import read_squad
from babelir.errors import BabelirError

__all__ = ["BUNDLED", "ISO_639_1", "LEAKS", "POSITIVE_MODES", "SOURCE_HELP", "ParallelSentence",
           "QAExample", "SourceName", "check_lang", "check_positive", "clean",
           "format_source_name", "parse_source_name", "positive_passage", "read_source",
           "read_squad", "resolve_path", "source_file"]


def _translation_folder(name: SourceName, data_dir: Path | None) -> Path:
    folder = resolve_path(name.path, data_dir)
    if (folder / "manifest.json").is_file():
        return jsonl.translation_folder_file(folder)
    hint = (f" ({folder} is a folder, but not one written by `babelir translate`: no "
            "manifest.json)" if folder.is_dir() else "")
    raise BabelirError(f"unknown source {name.path!r}{hint}; valid: {SOURCE_HELP}")


def read_source(name: SourceName | str, data_dir: Path | None,
                default_splits: tuple[str, ...] | None = None
                ) -> list[QAExample] | list[ParallelSentence]:
    """The examples of one source; ``default_splits`` fills an omitted split (else the
    source's build-pairs default). A plain path must be a ``babelir translate`` folder."""
    if isinstance(name, str):
        name = parse_source_name(name)
    name = name.with_default_splits(default_splits)
    if name.source in BUNDLED and data_dir is None:
        raise BabelirError("no data folder: pass --data-dir or set $BABELIR_DATA")
    if name.source == "mlqa":
        return mlqa.read_mlqa_test(data_dir)
    if name.source == "tydiqa-goldp":
        return tydiqa.read_tydiqa_goldp(data_dir, name.splits, name.langs)
    if name.source == "xquad-r":
        return xquad_r.read_xquad_r(data_dir, name.langs)
    if name.source == "xnli":
        return xnli.read_xnli(data_dir, name.splits)
    if name.source == "squad":
        path = resolve_path(name.path, data_dir)
        return read_squad(path, name.langs[0], f"squad-{path.stem}")
    if name.source == "jsonl":
        lang = name.langs[0] if name.langs else None
        return jsonl.read_jsonl(resolve_path(name.path, data_dir), lang)
    return jsonl.read_jsonl(_translation_folder(name, data_dir))


def source_file(name: SourceName, data_dir: Path | None) -> Path | None:
    """The one file a name reads (one TyDi language and split, a squad or jsonl file), else
    None."""
    if name.source in ("squad", "jsonl"):
        return resolve_path(name.path, data_dir)
    if (name.source == "tydiqa-goldp" and data_dir is not None and name.langs is not None
            and len(name.langs) == 1 and name.splits is not None and len(name.splits) == 1):
        return tydiqa.file_path(data_dir, name.splits[0], name.langs[0])
    return None
