"""Checked access to a parsed JSON file: a wrong shape is a DataError naming the file and
the record, never a KeyError or TypeError."""

from __future__ import annotations

import json
from pathlib import Path

from babelir.data.sources.examples import clean
from babelir.errors import DataError


def read_json(path: Path) -> object:
    """The parsed file; DataError when it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON ({exc})", path=path) from None


def field(mapping: object, key: str, path: Path, record: str) -> object:
    """``mapping[key]``; DataError when ``mapping`` is not an object or lacks ``key``."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise DataError(f"missing field {key!r}", path=path, record=record)
    return mapping[key]


def items(mapping: object, key: str, path: Path, record: str) -> list:
    """The JSON array ``mapping[key]``: a DataError when missing or not a list."""
    value = field(mapping, key, path, record)
    if not isinstance(value, list):
        raise DataError(f"{key!r} must be a list, got {type(value).__name__}", path=path,
                        record=record)
    return value


def text(value: object, what: str, path: Path, record: str) -> str:
    """``clean(value)``; DataError when it is not a string or is empty once cleaned."""
    if not isinstance(value, str) or not clean(value):
        raise DataError(f"empty or non-text {what}", path=path, record=record)
    return clean(value)


def whole_number(value: object) -> bool:
    """Whether ``value`` is an int (and not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)
