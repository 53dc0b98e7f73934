"""Where babelir finds data and keeps its caches.

One setting points at the data folder (laid out like the upstream sources, see the README):
the ``--data-dir`` CLI option, else the ``BABELIR_DATA`` environment variable. Without it,
XQuAD-R is read from the copy bundled with babelir (``babelir.data.bundled``); every other
benchmark and the training sources need the data folder (or ``--online`` where it applies).
Caches (the materialised default model, embeddings, downloads, the checked bundled files) live
under ``--cache-dir`` / ``BABELIR_CACHE``, default ``~/.cache/babelir``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "BABELIR_DATA"
CACHE_ENV = "BABELIR_CACHE"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The data folder: the explicit value, else $BABELIR_DATA, else None."""
    value = explicit if explicit is not None else os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The cache folder: the explicit value, else $BABELIR_CACHE, else ~/.cache/babelir."""
    value = explicit if explicit is not None else os.environ.get(CACHE_ENV)
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "babelir"
    path.mkdir(parents=True, exist_ok=True)
    return path
