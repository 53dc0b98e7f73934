"""Hard-negative mining: same language and dataset, never the own example, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from babelir.errors import BabelirError
from babelir.retrieval.bm25 import bm25_score_matrix
from babelir.retrieval.mining import mine_hard_negatives, mining_summary

# (example id, {lang: passage}); e1 and e2 share their English paragraph (as MLQA does)
EIFFEL_EN = "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris."
DS1 = [
    ("e1", {"en": EIFFEL_EN,
            "de": "Der Eiffelturm ist ein Gitterturm aus Schmiedeeisen auf dem Marsfeld in Paris.",
            "zh": "埃菲尔铁塔是位于巴黎战神广场的锻铁格子塔。"}),
    ("e2", {"en": EIFFEL_EN}),
    ("e3", {"en": "The Eiffel Tower in Paris was designed by the company of the engineer Gustave Eiffel.",
            "de": "Der Eiffelturm in Paris wurde von der Firma des Ingenieurs Gustave Eiffel entworfen.",
            "zh": "巴黎的埃菲尔铁塔由工程师古斯塔夫·埃菲尔的公司设计。"}),
    ("e4", {"en": "The Great Wall of China is a series of fortifications across northern China.",
            "de": "Die Chinesische Mauer ist eine Reihe von Befestigungen im Norden Chinas.",
            "zh": "中国长城是横跨中国北方的一系列防御工事。"}),
    ("e5", {"en": "The Great Wall of China was built over many centuries by several dynasties.",
            "de": "Die Chinesische Mauer wurde über viele Jahrhunderte von mehreren Dynastien gebaut.",
            "zh": "中国长城由多个朝代在许多世纪中修建而成。"}),
    ("e6", {"en": "Photosynthesis converts light energy into chemical energy in green plants.",
            "de": "Die Photosynthese wandelt in grünen Pflanzen Lichtenergie in chemische Energie um.",
            "zh": "光合作用在绿色植物中将光能转化为化学能。"}),
    ("e7", {"en": "Green plants use photosynthesis to turn light, water and carbon dioxide into sugar.",
            "de": "Grüne Pflanzen nutzen die Photosynthese, um aus Licht, Wasser und Kohlendioxid Zucker zu machen.",
            "zh": "绿色植物利用光合作用把光、水和二氧化碳变成糖。"}),
    ("e8", {"en": "The stock market fell sharply today after the bank announced heavy losses.",
            "de": "Der Aktienmarkt fiel heute stark, nachdem die Bank hohe Verluste gemeldet hatte.",
            "zh": "银行宣布巨额亏损后，股市今天大幅下跌。"}),
]
DS2 = [
    ("f1", {"en": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
            "de": "Ein einziger deutscher Absatz."}),
    ("f2", {"en": "Mount Everest is the highest mountain above sea level, in the Himalayas.",
            "de": "Ein einziger deutscher Absatz."}),
    ("f3", {"en": "The Himalayas hold many of the highest mountains on Earth, such as Everest."}),
]


def _frame() -> pd.DataFrame:
    rows = []
    for dataset, examples in (("ds1", DS1), ("ds2", DS2)):
        for example_id, passages in examples:
            for lang in ("en", "de", "zh"):
                passage = passages.get(lang)
                if passage is None and lang != "de":
                    continue
                rows.append({"dataset": dataset, "example_id": example_id, "lang": lang,
                             "question": f"q {example_id} {lang}", "passage": passage,
                             "article": example_id, "split": "train"})
    return pd.DataFrame(rows, dtype=object)


@pytest.fixture(scope="module")
def pairs() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def mined(pairs) -> pd.DataFrame:
    return mine_hard_negatives(pairs, top_k=3, seed=0, show_progress=False)


def test_negatives_respect_language_dataset_and_example(pairs, mined):
    assert list(mined.columns) == [*pairs.columns, "negative"]
    assert "negative" not in pairs.columns  # a copy
    corpus = {}
    for row in pairs.itertuples():
        if row.passage is not None:
            corpus.setdefault((row.dataset, row.lang), set()).add(row.passage)
    own = {}
    for row in pairs.itertuples():
        if row.passage is not None:
            own.setdefault((row.dataset, row.example_id), set()).add(row.passage)
    checked = 0
    for row in mined.itertuples():
        if row.negative is None:
            continue
        checked += 1
        assert row.negative in corpus[(row.dataset, row.lang)]  # same language and dataset
        assert row.negative != row.passage
        assert row.negative not in own[(row.dataset, row.example_id)]  # not its own example
    assert checked == 25  # ds1: 8 en + 7 de + 7 zh; ds2: 3 en
    # the shared English paragraph of e1/e2 is never the negative of either
    for example_id in ("e1", "e2"):
        row = mined[(mined.example_id == example_id) & (mined.lang == "en")].iloc[0]
        assert row.negative is not None and row.negative != EIFFEL_EN


def test_none_cases_and_summary(mined):
    by_key = {(r.dataset, r.example_id, r.lang): r.negative for r in mined.itertuples()}
    assert by_key[("ds1", "e2", "de")] is None  # no passage
    assert by_key[("ds2", "f1", "de")] is None  # group with a single distinct passage
    assert by_key[("ds2", "f3", "de")] is None
    # the Everest paragraphs are each other's only BM25-close neighbour, but top_k=3 of 3
    assert all(by_key[("ds2", f, "en")] is not None for f in ("f1", "f2", "f3"))
    info = mined.attrs["mining"]
    assert info["skipped_groups"] == [{"dataset": "ds2", "lang": "de", "rows": 2,
                                       "distinct_passages": 1}]
    summary = mining_summary(mined)
    assert summary["datasets"]["ds1"]["en"] == {
        "rows": 8, "with_passage": 8, "with_negative": 8, "without_negative": 0,
        "without_passage": 0, "share": 1.0}
    assert summary["datasets"]["ds1"]["de"]["without_passage"] == 1
    assert summary["datasets"]["ds2"]["de"]["without_negative"] == 2
    assert summary["total"]["rows"] == len(mined)
    assert summary["total"]["with_negative"] == 25
    assert summary["mining"]["method"] == "bm25"


def test_deterministic_per_seed_and_varies_across_seeds(pairs, mined):
    again = mine_hard_negatives(pairs, top_k=3, seed=0, show_progress=False)
    assert again["negative"].tolist() == mined["negative"].tolist()
    # row order does not change a row's draw
    shuffled = mine_hard_negatives(pairs.iloc[::-1], top_k=3, seed=0, show_progress=False)
    assert shuffled["negative"].tolist() == mined["negative"].tolist()[::-1]
    other = mine_hard_negatives(pairs, top_k=3, seed=1, show_progress=False)
    assert other["negative"].tolist() != mined["negative"].tolist()


def test_top1_is_the_bm25_nearest_other_passage(pairs):
    top1 = mine_hard_negatives(pairs, top_k=1, seed=5, show_progress=False)
    top1_other_seed = mine_hard_negatives(pairs, top_k=1, seed=6, show_progress=False)
    assert top1["negative"].tolist() == top1_other_seed["negative"].tolist()
    for (dataset, lang), group in top1[top1.passage.notna()].groupby(["dataset", "lang"]):
        texts = sorted(set(group.passage))
        if len(texts) < 2:
            continue
        scores = bm25_score_matrix(texts, texts)
        for row in group.itertuples():
            own = set(group[group.example_id == row.example_id].passage)
            i = texts.index(row.passage)
            allowed = [j for j in range(len(texts)) if texts[j] not in own]
            best = max(scores[i, j] for j in allowed)
            assert row.negative in {texts[j] for j in allowed if scores[i, j] == best}
    by_key = {(r.dataset, r.example_id, r.lang): r.negative for r in top1.itertuples()}
    assert "Great Wall" in by_key[("ds1", "e5", "en")]
    assert "Photosynthese" in by_key[("ds1", "e6", "de")]
    assert "Everest" in by_key[("ds2", "f3", "en")]


def test_errors(pairs):
    with pytest.raises(BabelirError, match="unknown mining method"):
        mine_hard_negatives(pairs, method="tfidf")
    with pytest.raises(BabelirError, match="needs a model"):
        mine_hard_negatives(pairs, method="model")
    with pytest.raises(BabelirError, match="lacks the column"):
        mine_hard_negatives(pairs.drop(columns=["passage"]))
    with pytest.raises(BabelirError, match="top_k"):
        mine_hard_negatives(pairs, top_k=0)
    with pytest.raises(BabelirError, match="lacks the column"):
        mining_summary(pairs)


@pytest.mark.model
def test_model_method_picks_the_paraphrase():
    passages = {
        "p1": "A cat is sleeping on the sofa.",
        "p2": "The kitten naps on the couch.",
        "p3": "Stock prices dropped sharply on Wall Street.",
        "p4": "Mix two cups of flour with one egg.",
    }
    frame = pd.DataFrame([{"dataset": "toy", "example_id": k, "lang": "en", "question": None,
                           "passage": v, "article": k, "split": "train"}
                          for k, v in passages.items()], dtype=object)
    out = mine_hard_negatives(frame, method="model", model="multilingual-e5-small", top_k=1,
                              show_progress=False, device="cpu")
    negative = dict(zip(out.example_id, out.negative))
    assert negative["p1"] == passages["p2"]
    assert negative["p2"] == passages["p1"]
    assert np.all(out.negative != out.passage)
