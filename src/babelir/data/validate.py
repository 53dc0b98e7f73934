"""Readers that turn damaged input files into a ``DataError`` naming the file and the record.

``text_lines`` reads a text file (plain or gzip-compressed, told apart by its first bytes)
line by line and decodes each line as UTF-8 itself, so that a byte sequence that is not UTF-8,
a truncated ``.gz`` (a download cut short) or a corrupt one is reported with the file and the
line number instead of a traceback from the codec or from ``gzip``.

``read_npy`` loads a ``.npy`` array (an embedding cache, a shard): a truncated or corrupt file
is a DataError that says to delete the file, not a bare ``ValueError`` / ``EOFError``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from babelir.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as probe:
        return probe.read(2) == GZIP_MAGIC


def text_lines(path: str | os.PathLike, skip_blank: bool = True) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 text file, plain or gzip (line end stripped).

    Raises DataError naming the file and the line for a line that is not UTF-8 and for a
    gzip file that is truncated or corrupt (the line number is the first one not read).
    """
    path = Path(path)
    try:
        handle = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc})", path) from None
    number = 0
    with handle:
        try:
            for number, raw in enumerate(handle, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start} of "
                                    "the line)", path, f"line {number}") from None
                line = line.rstrip("\n").rstrip("\r")
                if skip_blank and not line.strip():
                    continue
                yield number, line
        except (EOFError, OSError, zlib.error) as exc:
            what = ("truncated gzip file (it ends before the end of its compressed stream: "
                    "download it again)" if isinstance(exc, EOFError)
                    else f"corrupt compressed data ({exc})")
            raise DataError(what, path, f"line {number + 1}") from None


def json_object_line(line: str, path: str | os.PathLike, record: str, shape: str) -> dict:
    """One JSONL line that must be a JSON object (``shape`` names its fields in the error)."""
    import json

    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON ({exc})", path=path,
                        record=record) from None
    if not isinstance(obj, dict):
        raise DataError(f"a line must be a JSON object {shape}", path=path, record=record)
    return obj


def read_npy(path: str | os.PathLike, ndim: int | None = None,
             rows: int | None = None) -> np.ndarray:
    """A ``.npy`` array; DataError for a missing, truncated or corrupt file, or one whose
    number of dimensions (``ndim``) or of rows (``rows``) is not the expected one.

    For a cache file the fix is to delete it (it is rebuilt): the message says so.
    """
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"truncated or corrupt .npy file ({exc}); delete it (a cache file is "
                        "rebuilt on the next run)", path) from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise DataError("expected a .npy array, found an .npz archive", path)
    if ndim is not None and array.ndim != ndim:
        raise DataError(f"expected a {ndim}-dimensional array, got shape {array.shape}; "
                        "delete the file", path)
    if rows is not None and (array.ndim == 0 or array.shape[0] != rows):
        raise DataError(f"expected {rows} rows, got shape {array.shape}; delete the file", path)
    return array
