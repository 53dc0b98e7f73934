"""A persistent translation cache: sqlite3, keyed by (engine@version, src, tgt, text).

A file that is not a readable sqlite database (truncated, overwritten, from another program)
is a DataError naming it, with the fix (delete it: it only holds translations that can be
redone), at opening or at the first query that meets the damage.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from babelir.errors import DataError
from babelir.settings import cache_dir


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class TranslationCache:
    """``get_many`` / ``put_many`` translations; every ``put_many`` is committed at once, so an
    interrupted run keeps what it translated. ``path=None`` → ``<cache dir>/translations.sqlite``."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else cache_dir() / "translations.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=60)
        try:
            with self._guard("opening it"):
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS translations (engine TEXT NOT NULL, "
                    "src TEXT NOT NULL, tgt TEXT NOT NULL, key TEXT NOT NULL, "
                    "text TEXT NOT NULL, translation TEXT NOT NULL, "
                    "PRIMARY KEY (engine, src, tgt, key))")
                self.db.commit()
        except DataError:
            self.db.close()
            raise

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn sqlite's "file is not a database" / "malformed" errors into a DataError."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise  # another process: not damage
            raise DataError(f"translation cache unusable when {doing} ({exc}); delete the "
                            "file (it only holds translations, redone on the next run) or "
                            "choose another --cache-dir", path=self.path) from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"corrupt translation cache ({exc}) when {doing}; delete the file "
                            "(it only holds translations, redone on the next run) or choose "
                            "another --cache-dir", path=self.path) from None

    def get_many(self, engine: str, src: str, tgt: str, texts: Iterable[str]) -> dict[str, str]:
        """{text: translation} for the texts that are cached."""
        found: dict[str, str] = {}
        texts = list(dict.fromkeys(texts))
        for start in range(0, len(texts), 500):
            chunk = {_key(t): t for t in texts[start:start + 500]}
            marks = ",".join("?" * len(chunk))
            with self._guard("reading it"):
                rows = self.db.execute(
                    f"SELECT key, text, translation FROM translations WHERE engine=? AND "
                    f"src=? AND tgt=? AND key IN ({marks})", (engine, src, tgt, *chunk)
                ).fetchall()
            for key, text, translation in rows:
                if chunk.get(key) == text:
                    found[text] = translation
        return found

    def put_many(self, engine: str, src: str, tgt: str, items: dict[str, str]) -> None:
        with self._guard("writing to it"):
            self.db.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?)",
                [(engine, src, tgt, _key(t), t, tr) for t, tr in items.items()])
            self.db.commit()

    def count(self, engine: str | None = None) -> int:
        with self._guard("counting its rows"):
            if engine is None:
                return self.db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]
            return self.db.execute("SELECT COUNT(*) FROM translations WHERE engine=?",
                                   (engine,)).fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
