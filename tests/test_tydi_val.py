"""tydi-val, the sentence-candidate validation pool (TyDi GoldP train en/ko/sw): checked
against the raw JSON files and MIRACL topic files read here independently: every gold
sentence holds its question's answer and lies in the question's paragraph, no query is a
MIRACL dev topic, the paragraph limit holds, and BM25 through the CLI gives Mo with Cr NaN."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

from babelir.cli import main
from babelir.data.lareqa import load_benchmark
from babelir.data.registry import get_benchmark
from babelir.data.validation import TYDI_MAX_PARAGRAPHS, build_tydi_val
from babelir.errors import BabelirError

LANGS = ("en", "ko", "sw")


@pytest.fixture(scope="module")
def tydi_val(data_dir):
    return load_benchmark(get_benchmark("tydi-val"), data_dir)


def _raw(data_dir, lang):
    """question -> [(paragraph, answer text)] straight from the train file."""
    path = data_dir / "tydiqa" / "goldp-train" / f"tydiqa.goldp.{lang}.train.json"
    out = defaultdict(list)
    for entry in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in entry["paragraphs"]:
            for qa in paragraph["qas"]:
                out[qa["question"]].append((paragraph["context"], qa["answers"][0]["text"]))
    return out


def _topics(data_dir, lang):
    path = data_dir / "miracl" / f"topics.miracl-v1.0-{lang}-dev.tsv"
    return {line.split("\t")[1].strip() for line in path.read_text("utf-8").splitlines()
            if "\t" in line}


def test_gold_sentences_hold_the_answer(tydi_val, data_dir):
    assert tydi_val.languages == LANGS
    for j, lang in enumerate(LANGS):
        raw, topics = _raw(data_dir, lang), _topics(data_dir, lang)
        rows = (tydi_val.query_lang == j).nonzero()[0]
        assert 250 <= len(rows) <= 2 * TYDI_MAX_PARAGRAPHS, lang
        for q in rows:
            question = tydi_val.query_texts[q]
            assert question.strip() not in topics  # never a MIRACL dev topic
            gold = tydi_val.gold[q]
            assert (gold >= 0).sum() == 1 and gold[j] >= 0  # own language only
            sentence = tydi_val.cand_sentences[gold[j]]
            assert any(answer in sentence and sentence in context
                       for context, answer in raw[question]), (lang, question)
        paragraphs = {tydi_val.cand_contexts[c] for c in (tydi_val.cand_lang == j).nonzero()[0]}
        assert len(paragraphs) <= TYDI_MAX_PARAGRAPHS
    # the MIRACL filter matters: en TyDi train questions are mostly MIRACL dev topics
    en_raw = _raw(data_dir, "en")
    assert sum(q.strip() in _topics(data_dir, "en") for q in en_raw) > 500


def test_small_subset_and_errors(data_dir):
    small = build_tydi_val(data_dir, languages=["ko"], max_articles=20)
    assert small.languages == ("ko",) and 0 < small.n_queries <= 40
    assert len(set(small.cand_contexts)) <= 20
    with pytest.raises(BabelirError, match="unknown language"):
        build_tydi_val(data_dir, languages=["de"])


@pytest.mark.data  # $BABELIR_DATA, read by the command
def test_bm25_eval_on_tydi_val(tmp_path, tydi_val):
    out = tmp_path / "bm25-tydi-val"
    assert main(["eval", "--model", "bm25", "--benchmark", "tydi-val", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert 0 < summary["mono.map"] <= 1 and 0 < summary["multi.map"] <= 1
    assert math.isnan(summary["cross.map"])  # not parallel: no cross-lingual pair
    assert summary["n_queries"] == tydi_val.n_queries
