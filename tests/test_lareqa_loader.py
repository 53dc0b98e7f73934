"""The LAReQA loader on the real XQuAD-R files, and its errors on bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from babelir.data.lareqa import load_benchmark, load_language_file
from babelir.data.registry import get_benchmark, resolve_file
from babelir.io import sha256_of
from babelir.errors import BabelirError, DataError

XQUAD_CANDIDATES = {"ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
                    "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196}


@pytest.fixture(scope="module")
def xquad(data_dir):
    return load_benchmark(get_benchmark("xquad-r"), data_dir)


def test_xquad_r_counts_match_the_published_statistics(xquad):
    assert xquad.languages == tuple(XQUAD_CANDIDATES)
    for lang, n in XQUAD_CANDIDATES.items():
        assert len(xquad.candidates_of(lang)) == n
        assert len(xquad.queries_of(lang)) == 1190
    assert xquad.n_candidates == 13014
    assert xquad.n_queries == 11 * 1190


def test_every_question_is_linked_to_a_gold_sentence_in_every_language(xquad):
    assert (xquad.gold >= 0).all()
    for j in range(len(xquad.languages)):  # the gold of language j is a candidate of language j
        assert (xquad.cand_lang[xquad.gold[:, j]] == j).all()
    en = xquad.languages.index("en")
    q = xquad.query_ids.index("en/56beb4343aeaaa14008c925b")
    assert "308 points" in xquad.cand_sentences[xquad.gold[q, en]]
    # the same question id in another language has the same gold row
    q_de = xquad.query_ids.index("de/56beb4343aeaaa14008c925b")
    np.testing.assert_array_equal(xquad.gold[q], xquad.gold[q_de])


def test_candidate_text_is_the_context_slice_and_context_mode_appends_the_paragraph(xquad):
    contexts = xquad.candidate_texts("context")
    assert contexts[0].startswith(xquad.cand_sentences[0] + " ")
    assert contexts[0].endswith(xquad.cand_contexts[0])
    assert len(set(xquad.cand_ids)) == xquad.n_candidates  # ids unique though texts repeat
    assert len(set(xquad.cand_sentences)) < xquad.n_candidates


def test_files_match_the_registry_checksums(data_dir):
    spec = get_benchmark("xquad-r")
    for lang in ("en", "zh"):
        assert sha256_of(resolve_file(spec, lang, data_dir, None, False)) == spec.sha256[lang]


def test_language_subset_and_article_subset(data_dir):
    bench = load_benchmark(get_benchmark("xquad-r"), data_dir, languages=["zh", "en"],
                           max_articles=2)
    assert bench.languages == ("en", "zh")  # benchmark order, not the user's
    assert bench.n_queries == 2 * len(bench.queries_of("en"))
    assert (bench.gold >= 0).all()


def test_unknown_language_and_benchmark_are_clear_errors(data_dir):
    with pytest.raises(BabelirError, match="unknown language code.*xx"):
        load_benchmark(get_benchmark("xquad-r"), data_dir, languages=["en", "xx"])
    with pytest.raises(BabelirError, match="unknown benchmark 'squad'"):
        get_benchmark("squad")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match="en.json.*not found"):
        load_benchmark(get_benchmark("xquad-r"), tmp_path, tmp_path / "cache", languages=["en"])


def _tiny_file(tmp_path, mutate=None):
    paragraph = {
        "context": "Paris is in France. It is big.",
        "sentence_breaks": [[0, 19], [20, 30]],
        "sentences": ["Paris is in France.", "It is big."],
        "qas": [{"id": "q1", "question": "Where is Paris?",
                 "answers": [{"answer_start": 12, "text": "France"}]}],
    }
    if mutate:
        mutate(paragraph)
    path = tmp_path / "en.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [paragraph]}]}))
    return path


def test_tiny_valid_file(tmp_path):
    parsed = load_language_file(_tiny_file(tmp_path), "en")
    assert parsed.cand_sentences == ["Paris is in France.", "It is big."]
    assert parsed.query_gold == [0]


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["qas"][0]["answers"][0].update(answer_start=99), "answer_start 99 falls in no"),
    (lambda p: p["qas"][0].update(question="  "), "empty or non-text question"),
    (lambda p: p["qas"][0].pop("answers"), "missing field 'answers'"),
    (lambda p: p.update(sentence_breaks=[[0, 19], [25, 20]]), "bad sentence_breaks entry 1"),
    (lambda p: p.update(sentence_breaks=[[0, 19], [19, 20]]), "empty or non-text sentence 1"),
])
def test_bad_records_name_file_and_record(tmp_path, mutate, message):
    path = _tiny_file(tmp_path, mutate)
    with pytest.raises(DataError, match=message) as info:
        load_language_file(path, "en")
    assert str(path) in str(info.value) and "en/a0/p0" in str(info.value)


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "en.json"
    path.write_text('{"data": [')
    with pytest.raises(DataError, match="malformed JSON") as info:
        load_language_file(path, "en")
    assert str(path) in str(info.value)


def test_mlqa_r_style_partial_parallelism(tmp_path, data_dir):
    """A question missing in one language: its gold there is -1 (MLQA-R has 2-4 of 7)."""
    root = tmp_path / "data" / "lareqa" / "xquad-r"
    root.mkdir(parents=True)
    for lang in ("en", "de"):
        shutil.copy(data_dir / "lareqa" / "xquad-r" / f"{lang}.json", root)
    doc = json.loads((root / "de.json").read_text())
    dropped = doc["data"][0]["paragraphs"][0]["qas"].pop(0)["id"]
    (root / "de.json").write_text(json.dumps(doc))
    bench = load_benchmark(get_benchmark("xquad-r"), tmp_path / "data", languages=["en", "de"],
                           max_articles=1)
    q = bench.query_ids.index(f"en/{dropped}")
    assert bench.gold[q, bench.languages.index("de")] == -1
    assert bench.gold[q, bench.languages.index("en")] >= 0
    assert len(bench.queries_of("de")) == len(bench.queries_of("en")) - 1


def test_offline_download_path_checks_the_checksum(data_dir, tmp_path):
    """The registry's download step, exercised with a file:// URL (no network here)."""
    from dataclasses import replace

    spec = get_benchmark("xquad-r")
    # another name: with no data folder, xquad-r itself is read from babelir's bundled copy
    local = replace(spec, name="xquad-r-download",
                    url_template=(data_dir / "lareqa" / "xquad-r").resolve().as_uri()
                    + "/{lang}.json")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="not found"):
        resolve_file(local, "en", None, cache, online=False)
    path = resolve_file(local, "en", None, cache, online=True)
    assert path == cache / "data" / "lareqa" / "xquad-r" / "en.json"
    assert sha256_of(path) == spec.sha256["en"]
    assert resolve_file(local, "en", None, cache, online=False) == path  # now from the cache
    wrong = replace(local, sha256={"de": "0" * 64})
    with pytest.raises(DataError, match="checksum mismatch"):
        resolve_file(wrong, "de", None, cache, online=True)
    assert not (cache / "data" / "lareqa" / "xquad-r" / "de.json").exists()
