"""Errors that babelir reports to users: each names the file and the record at fault."""

from __future__ import annotations


class BabelirError(Exception):
    """An error with a message meant for the user (printed without a traceback by the CLI)."""


class DataError(BabelirError):
    """Bad input data: names the file and, where known, the record."""

    def __init__(self, message: str, path: object = None, record: object = None):
        where = []
        if path is not None:
            where.append(f"file {path}")
        if record is not None:
            where.append(f"record {record}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.path = path
        self.record = record
