"""What an index folder (``babelir index build``) was made from, so that one folder never mixes
models, encodings, corpora or index parameters.

``<out>/corpus-index.json`` holds, from the start of a build, an ``identity``:

- ``model_fingerprint`` (``retrieval.dense.model_fingerprint``: the model's files), the
  ``query_prefix`` and ``passage_prefix``, ``max_length`` and the encoder's ``precision``;
- ``corpus``: the corpus file(s): resolved path, and each file's name, size and mtime;
- ``key``, ``shard_size`` and ``dtype`` of the sharded embeddings.

Each ``<out>/<kind>/index.json`` holds that index's resolved parameters. A build into a folder
made with anything else is refused, naming what differs, unless ``overwrite`` is given (the
folder's embeddings and indexes are then rebuilt); ``babelir search`` refuses a query model
other than the index's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from babelir.errors import BabelirError
from babelir.io import check_output_folder, mark_output, write_json

RECORD = "corpus-index.json"
#: recorded for people, not compared (the fingerprint decides whether it is the same model)
NOT_COMPARED = ("model",)


def corpus_fingerprint(corpus) -> dict:
    """Resolved path, and name / size / mtime (whole seconds) of each file of the corpus."""
    path = Path(corpus)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return {"path": str(path.resolve()),
            "files": [[p.name, p.stat().st_size, int(p.stat().st_mtime)]
                      for p in files if p.exists()]}


def encoder_identity(encoder, model: str | None = None) -> dict:
    """The settings of a ``DenseEncoder`` that decide its vectors."""
    return {"model": model, "model_fingerprint": encoder.fingerprint,
            "query_prefix": encoder.model.query_prefix,
            "passage_prefix": encoder.model.passage_prefix,
            "max_length": encoder.max_length,
            "precision": getattr(encoder, "precision", "fp32")}


def _is_index_folder(folder: Path) -> bool:
    """An index folder written before babelir marked its outputs."""
    return (folder / RECORD).is_file() or (folder / "embeddings" / "config.json").is_file()


def _differences(old: dict, new: dict) -> list[str]:
    keys = [k for k in dict.fromkeys([*new, *old]) if k not in NOT_COMPARED]
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def stored_identity(folder: Path) -> dict | None:
    """The folder's identity: the record's, or (older folders) what their key tells."""
    record = folder / RECORD
    if record.is_file():
        meta = json.loads(record.read_text(encoding="utf-8"))
        return meta.get("identity") or {"key": meta.get("key")}
    config = folder / "embeddings" / "config.json"
    if config.is_file():  # a build killed before it wrote its record
        settings = json.loads(config.read_text(encoding="utf-8"))
        return {"key": settings.get("key"), "shard_size": settings.get("shard_size"),
                "dtype": settings.get("dtype")}
    return None


def claim_index_folder(out: Path, identity: dict, overwrite: bool, world_size: int = 1,
                       **extra) -> None:
    """Make ``out`` this build's: refuse a folder that is not babelir's, or one built with
    other settings (naming them) unless ``overwrite``; then write the record."""
    check_output_folder(out, legacy=_is_index_folder)
    old, new = stored_identity(out), identity
    if old is not None and "model_fingerprint" not in old:  # an older folder: what it tells
        new = {k: identity.get(k) for k in old}
    diff = _differences(old, new) if old is not None else []
    if diff:
        if not overwrite:
            raise BabelirError(f"{out} holds an index built with other settings "
                               f"({'; '.join(diff)}); pass --overwrite to rebuild it, or "
                               "choose another --out")
        if world_size > 1:
            raise BabelirError(f"--overwrite of {out} runs in one process: run it once "
                               "without a launcher, or choose another --out")
        clear_index_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_output(out)
    write_record(out, identity, **extra)


def write_record(out: Path, identity: dict, **extra) -> None:
    write_json(out / RECORD, {"corpus": identity["corpus"]["path"], "key": identity["key"],
                              **extra, "identity": identity})


def clear_index_folder(out: Path) -> None:
    """Remove what a build wrote into ``out`` (embeddings, indexes, record); nothing else."""
    from babelir.retrieval.index import KINDS

    for name in ("embeddings", *KINDS):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    (out / RECORD).unlink(missing_ok=True)


def check_index_params(folder: Path, expected: dict, overwrite: bool) -> bool:
    """Whether the index at ``folder`` exists with ``expected`` parameters (False: build it).
    One with other parameters is refused, or rebuilt with ``overwrite``."""
    meta_path = folder / "index.json"
    if not meta_path.is_file():
        return False
    stored = json.loads(meta_path.read_text(encoding="utf-8")).get("params", {})
    diff = _differences(stored, expected)
    if diff and not overwrite:
        raise BabelirError(f"{folder} is an index with other parameters ({'; '.join(diff)}); "
                           "pass --overwrite to rebuild it, or choose another --out")
    return not diff


def check_query_encoder(folder: Path, meta: dict, encoder, model: str) -> None:
    """Refuse to search an index with queries from another model (or precision/prefix)."""
    ident = meta.get("identity") or {}
    stored = {"model_fingerprint": ident.get("model_fingerprint")
              or str(meta.get("key", "")).split(":")[0] or None,
              "query_prefix": ident.get("query_prefix"), "precision": ident.get("precision")}
    mine = encoder_identity(encoder, model)
    diff = [f"{k}: index {v!r}, query {mine[k]!r}" for k, v in stored.items()
            if v is not None and v != mine[k]]
    if diff:
        raise BabelirError(f"{folder} was built with model {meta.get('model')!r}; the query "
                           f"encoder ({model!r}) differs ({'; '.join(diff)}): search with the "
                           "index's model, or rebuild the index")
