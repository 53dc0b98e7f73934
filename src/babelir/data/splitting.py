r"""Sentence splitting: character spans of the sentences of a text, in many languages.

``split_sentences(text, lang)`` returns ``[(start, end), ...]``: half-open spans of Python
``str`` indices (Unicode code points, like the LAReQA ``sentence_breaks``), in order, never
overlapping, never empty, each trimmed of surrounding whitespace (and of BOM / zero-width
characters). ``text[start:end]`` is a sentence; between two spans there is only whitespace.

Engine: ``sentencex`` (Wikimedia; MIT; rule-based, compiled; ~300 languages; maintained).
It knows the sentence punctuation of each script — the full-width ``。！？`` of Chinese and
Japanese, the Devanagari danda ``।``, the Arabic question mark ``؟``, Latin ``. ? !`` with
per-language abbreviation lists. Against the gold ``sentence_breaks`` of the 11 XQuAD-R
files its boundaries have precision 0.97-0.99 and recall 0.94-0.98 for ar, de, el, en, es,
hi, ru, vi and zh (tr 0.89 / 0.93). Compared on the same files: ``blingfire`` does not split
Hindi at ``।`` (recall 0.03) and ``pysbd`` over-splits Arabic (precision 0.43) and has no
Thai; neither has had a release since 2021.

Thai is the exception. Thai writes no sentence-final punctuation; a space separates clauses
and sentences alike, and "." only ends abbreviations (``มม.``, ``ค.ศ.``, initials).
sentencex splits Thai at those abbreviation dots and never at a space, so Thai (and Lao,
which follows the same conventions) is split here by a rule instead:

* a break is a run of spaces before a character that can start a Thai/Lao word (a
  consonant or a leading vowel: not the repetition mark ``ๆ``), after a character that is
  not a number (``\p{N}``: digits, ``½``) nor ``, ; : ๆ`` — so a number stays with the
  counted word after it (``136 ครั้ง``), ``คน ๆ หนึ่ง`` stays whole, a comma joins
  clauses, and abbreviation dots never split;
* pieces shorter than ``THAI_MIN_CHARS`` characters are merged into the following piece,
  so that names and short phrases are not "sentences"; a newline and a space after ``?`` or
  ``!`` are always breaks.

This yields clause-to-sentence sized chunks. Thai sentence boundaries are ambiguous even
for trained models: against XQuAD-R's Thai breaks this rule scores precision 0.14 /
recall 0.73, pythainlp's CRF model (``crfcut``, a 67 MB package) 0.21 / 0.52; the rule
recovers 80 % of the boundaries between two joined XNLI Thai premises. Where a file
supplies sentence boundaries (LAReQA ``sentence_breaks``), use those instead.
"""

from __future__ import annotations

import regex
import sentencex

THAI_MIN_CHARS = 20
# languages written without sentence punctuation, split by the whitespace rule below
# (the characters a word can start with: consonants and the leading vowels เ แ โ ใ ไ, not
# the repetition mark ๆ nor combining vowels and tone marks;
# and the repetition mark, after which a space does not end a clause)
_SPACE_SPLIT = {"th": ("\u0e01-\u0e2e\u0e40-\u0e44", "\u0e46"),
                "lo": ("\u0e81-\u0eae\u0ec0-\u0ec4", "\u0ec6")}
_SPACE_BREAKS = {
    lang: regex.compile(rf"(?P<hard>(?<=[?!])\s+|\s*\n\s*)"
                        rf"|(?<=[^\p{{N}}\s,;:{repeat}])[^\S\n]+(?=[{starts}])")
    for lang, (starts, repeat) in _SPACE_SPLIT.items()
}
# invisible characters that never make a sentence on their own (BOM, zero-width space/joiners)
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and (text[start].isspace() or text[start] in _INVISIBLE):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _INVISIBLE):
        end -= 1
    return (start, end) if end > start else None


def _split_by_space(text: str, lang: str, min_chars: int) -> list[tuple[int, int]]:
    pieces: list[list] = []  # [start, end, ends_with_hard_break]
    start = 0
    for match in _SPACE_BREAKS[lang].finditer(text):
        pieces.append([start, match.start(), match.group("hard") is not None])
        start = match.end()
    pieces.append([start, len(text), True])
    merged: list[list] = []
    for piece in pieces:
        if piece[1] <= piece[0]:
            continue
        last = merged[-1] if merged else None
        if last is not None and not last[2] and last[1] - last[0] < min_chars:
            last[1], last[2] = piece[1], piece[2]
        else:
            merged.append(piece)
    # a short last piece joins the one before it (unless a newline separates them)
    if len(merged) > 1 and merged[-1][1] - merged[-1][0] < min_chars and not merged[-2][2]:
        last = merged.pop()
        merged[-1][1] = last[1]
    return [(s, e) for s, e, _ in merged]


def split_sentences(text: str, lang: str, thai_min_chars: int = THAI_MIN_CHARS
                    ) -> list[tuple[int, int]]:
    """Sentence spans ``[(start, end), ...]`` of ``text`` (see the module docstring).

    ``lang`` is an ISO 639-1 code; an unknown code falls back to sentencex's defaults
    (Latin-style punctuation). An empty or all-whitespace text has no sentences.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    lang = (lang or "").lower()
    if lang in _SPACE_SPLIT:
        raw = _split_by_space(text, lang, thai_min_chars)
    else:
        raw = [(b["start_index"], b["end_index"])
               for b in sentencex.get_sentence_boundaries(lang, text)
               if not b.get("is_paragraph_break")]
    spans = []
    for start, end in raw:
        span = _trim(text, start, end)
        if span is not None:
            spans.append(span)
    return spans


def sentences(text: str, lang: str) -> list[str]:
    """The sentence strings of ``text`` (``text[start:end]`` of each span)."""
    return [text[s:e] for s, e in split_sentences(text, lang)]


def covering_span(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The smallest union of consecutive spans that overlaps ``[start, end)``, or None.

    Used to find the answer sentence: an answer that crosses a boundary yields the
    sentences it touches, joined.
    """
    hit = [k for k, (s, e) in enumerate(spans) if s < max(end, start + 1) and e > start]
    if not hit:
        return None
    return spans[hit[0]][0], spans[hit[-1]][1]
