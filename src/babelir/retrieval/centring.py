"""Per-language mean centring of embeddings: remove each language's offset in embedding space.

A multilingual encoder puts every text of one language a little to the same side: the mean
embedding of a language, ``mu_l``, is far from the origin and differs between languages
(SHIFT, arXiv 2606.18801; Libovicky et al. 2020). That shared offset makes a query prefer
candidates in its own language, which hurts pooled (multilingual) retrieval. Centring removes it:

    e'(x) = (e(x) - mu_{side, lang(x)}) / || e(x) - mu_{side, lang(x)} ||

``mu_{side, l}`` is the mean of the (L2-normalised) embeddings of parallel sentences in language
``l``, encoded as queries (side "query", with the model's query prefix) or passages (side
"passage"): the same content in every language, so the difference of two means is the language
offset alone, not a topic difference. A language without a mean of its own gets the average of
the known means, ``mu_bar`` (the offset every language shares).

The means travel with the model: ``babelir centre MODEL --out DIR`` copies the model folder and
writes ``babelir_centring.npz`` + ``babelir_centring.json`` into it; ``DenseEncoder`` applies them
whenever it loads such a folder (``eval``, ``index build``, ``search``, ``mine-negatives``). The
embedding cache keeps the raw embeddings (the centring files are left out of the model
fingerprint), so a centred copy shares its base model's cache. Where a text's language is not
given (``search``, corpora without a language column) it is identified with ``py3langid``
(offline, a maintained fork of langid.py) among the languages that have a mean.

Written here because no kept library applies per-language offsets to sentence-transformers
embeddings; the estimate is one ``numpy.mean`` per language.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from babelir.errors import BabelirError

CENTRING_FILE = "babelir_centring.npz"
CENTRING_META = "babelir_centring.json"
SIDES = ("query", "passage")


def is_centring_file(name: str) -> bool:
    """True for the files ``babelir centre`` adds (left out of the model fingerprint)."""
    return name in (CENTRING_FILE, CENTRING_META)


@dataclass
class LanguageCentring:
    """Per-side, per-language mean embeddings and how to subtract them."""

    languages: tuple[str, ...]
    means: dict[str, np.ndarray]  # side -> (len(languages), dim) float32
    meta: dict = field(default_factory=dict)

    def mean_for(self, side: str, lang: str | None) -> np.ndarray:
        table = self.means[side]
        if lang in self.languages:
            return table[self.languages.index(lang)]
        return table.mean(axis=0)

    def apply(self, embeddings: np.ndarray, side: str,
              languages: Sequence[str | None]) -> np.ndarray:
        """Centred, renormalised embeddings; ``languages[i]`` is the language of row i."""
        if side not in self.means:
            return embeddings
        if len(languages) != len(embeddings):
            raise BabelirError(f"centring: {len(languages)} languages for {len(embeddings)} rows")
        offsets = np.stack([self.mean_for(side, lang) for lang in languages]) \
            if len(languages) else np.zeros_like(embeddings)
        out = embeddings - offsets
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)

    def save(self, folder: Path) -> None:
        arrays = {side: table for side, table in self.means.items()}
        np.savez(folder / CENTRING_FILE, languages=np.array(self.languages), **arrays)
        meta = dict(self.meta, languages=list(self.languages), sides=sorted(self.means))
        (folder / CENTRING_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "LanguageCentring | None":
        """The centring saved in a model folder, or None if it has none."""
        path = Path(folder) / CENTRING_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                languages = tuple(str(x) for x in data["languages"])
                means = {side: data[side].astype(np.float32) for side in SIDES if side in data}
        except (OSError, ValueError, KeyError) as exc:
            raise BabelirError(f"{path}: not a babelir centring file ({exc})") from exc
        if not means or any(t.shape[0] != len(languages) for t in means.values()):
            raise BabelirError(f"{path}: means do not match its {len(languages)} languages")
        meta_path = Path(folder) / CENTRING_META
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        return cls(languages, means, meta)


def estimate_centring(encode, sentences: dict[str, list[str]],
                      sides: Sequence[str] = SIDES, meta: dict | None = None) -> LanguageCentring:
    """Means of ``encode(texts, side)`` (L2-normalised rows) per language and side.

    ``sentences``: language -> parallel sentences (the same content in every language)."""
    bad = [s for s in sides if s not in SIDES]
    if bad or not sides:
        raise BabelirError(f"centring sides must be among {SIDES}, not {list(sides)}")
    languages = tuple(sorted(sentences))
    if not languages or any(not sentences[lang] for lang in languages):
        raise BabelirError("centring needs at least one sentence in every language")
    means = {side: np.stack([encode(sentences[lang], side).mean(axis=0) for lang in languages])
             .astype(np.float32) for side in sides}
    counts = {lang: len(sentences[lang]) for lang in languages}
    return LanguageCentring(languages, means, dict(meta or {}, sentences_per_language=counts))


@functools.lru_cache(maxsize=8)
def _identifier(candidates: tuple[str, ...]):
    """py3langid's identifier restricted to ``candidates`` (loaded once per language set)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    known = [lang for lang in candidates if lang in identifier.nb_classes]
    if not known:
        raise BabelirError(f"py3langid knows none of the languages {list(candidates)}")
    identifier.set_languages(known)
    return identifier


def identify_languages(texts: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """The language of each text (py3langid, restricted to ``candidates``)."""
    identifier = _identifier(tuple(candidates))
    return [identifier.classify(text)[0] for text in texts]


def centre(centring: LanguageCentring | None, embeddings: np.ndarray, side: str,
           texts: Sequence[str], languages: str | Sequence[str] | None) -> np.ndarray:
    """The one centring step of every encoder (``DenseEncoder``, ``LAReQAEvaluator``):
    ``embeddings`` of ``texts`` unchanged without a centring, else centred with ``languages``
    (one for all texts, one per text, or None: identified by py3langid)."""
    if centring is None:
        return embeddings
    if languages is None:
        languages = identify_languages(texts, centring.languages)
    elif isinstance(languages, str):
        languages = [languages] * len(texts)
    return centring.apply(embeddings, side, languages)
