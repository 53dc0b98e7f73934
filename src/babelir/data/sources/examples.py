"""The example types every source reader returns, and the small checks they share.

``QAExample``
    One question and/or its paragraph in ONE language, as a source file gives them: texts
    as in the file, validated non-empty (the consumers ``clean`` them; MLQA, which joins
    files on the id, gives them cleaned), the
    first answer (text and character offset, None when absent or blanked), the file's
    ``sentence_breaks`` when it has them, the source's article label (SQuAD title, JSONL
    ``article``, XQuAD-R article index) and where in the file it was read (for messages).
    Examples that share ``id`` within one ``source`` are translations of each other.
``ParallelSentence``
    One sentence in one language; sentences that share ``id`` are translations (XNLI).

``positive_passage`` composes the positive passage of the three positive modes, for the
pairs builder and the translator alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from babelir.data.splitting import split_sentences
from babelir.errors import BabelirError, DataError

POSITIVE_MODES = ("paragraph", "sentence", "sentence+paragraph")

# ISO 639-1 (two-letter) codes, the valid language codes of every source.
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu
hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb
lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om
or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())


@dataclass(frozen=True)
class QAExample:
    """One question and/or paragraph in one language (see the module docstring)."""

    id: str  # the example id: shared by every translation of the example
    lang: str  # ISO 639-1
    question: str | None  # as in the file; None: no question in this language
    context: str | None  # the paragraph, as in the file; None: none in this language
    source: str  # the dataset: "mlqa-test", "tydiqa-goldp-train", "squad-<stem>", ...
    article: str | None = None  # the source's article label, as given (None: none)
    answer_text: str | None = None  # the first answer; None when absent or blanked
    answer_start: int | None = None  # its character offset into ``context``
    sentence_breaks: tuple[tuple[int, int], ...] | None = None  # the file's, when given
    answer_sentence: str | None = None  # when the source names the answer sentence itself
    raw_id: str | None = None  # the id in the file (``id`` may be derived from it)
    path: str | None = field(default=None, compare=False)  # where it was read
    record: str | None = field(default=None, compare=False)

    def sentence_spans(self) -> list[tuple[int, int]]:
        """``[start, end)`` of each context sentence: the file's ``sentence_breaks``, else
        ``babelir.data.splitting.split_sentences``."""
        if self.context is None:
            return []
        if self.sentence_breaks:
            return list(self.sentence_breaks)
        return split_sentences(self.context, self.lang)

    def answer_sentences(self, spans: list[tuple[int, int]]) -> list[int]:
        """Indices of the ``spans`` the answer touches ([] without an answer)."""
        if self.answer_text is None or self.answer_start is None:
            return []
        start = self.answer_start
        end = max(start + len(self.answer_text), start + 1)
        return [k for k, (s, e) in enumerate(spans) if s < end and e > start]


@dataclass(frozen=True)
class ParallelSentence:
    """One sentence in one language; the sentences sharing ``id`` are translations."""

    id: str
    lang: str
    text: str
    source: str


def clean(text: str) -> str:
    """Strip surrounding whitespace and byte-order marks."""
    return text.strip().strip("\ufeff").strip()


def check_lang(lang: object, path: object, record: object) -> str:
    """``lang`` when it is an ISO 639-1 code, else a DataError naming the file and record."""
    if not isinstance(lang, str) or not lang:
        raise DataError("missing language code", path=path, record=record)
    if lang not in ISO_639_1:
        raise DataError(f"unknown language code {lang!r} (expected ISO 639-1, e.g. 'en')",
                        path=path, record=record)
    return lang


def check_positive(positive: str) -> str:
    if positive not in POSITIVE_MODES:
        raise BabelirError(f"unknown positive mode {positive!r}; valid: "
                           f"{', '.join(POSITIVE_MODES)}")
    return positive


def positive_passage(paragraph: str, sentence: str | None, positive: str) -> tuple[str, str]:
    """(passage, positive mode actually used): the paragraph, the answer sentence, or
    ``f"{sentence} {paragraph}"`` (as LAReQA encodes candidates); without an answer
    sentence, always the paragraph."""
    if sentence is None or positive == "paragraph":
        return paragraph, "paragraph"
    if positive == "sentence":
        return sentence, "sentence"
    return f"{sentence} {paragraph}", "sentence+paragraph"
