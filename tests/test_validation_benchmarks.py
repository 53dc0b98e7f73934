"""Validation benchmarks from the training side (mlqa-val, xnli-val): pool sizes checked
against an independent count from the raw files, relevance, leak-freeness against the train
split of the pairs, and a BM25 evaluation through the CLI."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from babelir.cli import build_parser, main
from babelir.data.lareqa import load_benchmark
from babelir.data.pairs import build_pairs, make_pairs, split_of
from babelir.data.registry import BENCHMARKS, VALIDATION_BENCHMARKS, get_benchmark
from babelir.data.validation import DEV_FRACTION, SEED, build_mlqa_val, pool_from_rows
from babelir.errors import BabelirError

MLQA_LANGS = ("de", "es", "vi", "zh")


@pytest.fixture(scope="module")
def mlqa_val(data_dir):
    return load_benchmark(get_benchmark("mlqa-val"), data_dir)


@pytest.fixture(scope="module")
def xnli_val(data_dir):
    return load_benchmark(get_benchmark("xnli-val"), data_dir)


@pytest.fixture(scope="module")
def mlqa_pairs(data_dir):
    return make_pairs(["mlqa-test"], data_dir)[0]


@pytest.fixture(scope="module")
def xnli_pairs(data_dir):
    return make_pairs(["xnli"], data_dir)[0]


# ------------------------------------------------------------------ independent raw counts


def _raw_mlqa(data_dir: Path):
    """id -> {lang: question}, id -> {lang: context}, straight from the 16 JSON files."""
    questions, contexts = defaultdict(dict), defaultdict(dict)
    for path in sorted((data_dir / "mlqa" / "test").glob("test-context-*-question-*.json")):
        _, _, c_lang, _, q_lang = path.stem.split("-")
        for entry in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in entry["paragraphs"]:
                for qa in paragraph["qas"]:
                    questions[qa["id"]][q_lang] = qa["question"].strip()
                    contexts[qa["id"]][c_lang] = paragraph["context"].strip()
    return questions, contexts


def _raw_mlqa_dev_ids(contexts: dict) -> set[str]:
    """Dev ids by the documented rule, re-implemented: ids sharing a (language, paragraph)
    form one article named by its smallest key "<lang>:<blake2b-16 of the paragraph>"."""
    parent = {i: i for i in contexts}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner, keys = {}, defaultdict(list)
    for qid, by_lang in contexts.items():
        for lang, text in by_lang.items():
            key = f"{lang}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:16]}"
            keys[qid].append(key)
            other = owner.setdefault(key, qid)
            a, b = find(qid), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    name = {}
    for qid in contexts:
        root = find(qid)
        name[root] = min([name.get(root, "~")] + keys[qid])
    return {qid for qid in contexts
            if split_of("mlqa-test", name[find(qid)], DEV_FRACTION, SEED) == "dev"}


def test_defaults_match_build_pairs():
    args = build_parser().parse_args(["data", "build-pairs", "--source", "mlqa-test",
                                      "--out", "x.parquet"])
    assert (args.dev_fraction, args.seed) == (DEV_FRACTION, SEED)
    for function in (make_pairs, build_pairs):
        params = inspect.signature(function).parameters
        assert (params["dev_fraction"].default, params["seed"].default) == (DEV_FRACTION, SEED)


def test_registry_keeps_test_benchmarks_apart():
    assert set(BENCHMARKS) == {"xquad-r", "mlqa-r"}  # experiments' `auto` list unchanged
    assert set(VALIDATION_BENCHMARKS) == {"mlqa-val", "xnli-val", "tydi-val"}
    assert get_benchmark("mlqa-val").source == "mlqa-test"
    with pytest.raises(BabelirError, match="xnli-val"):
        get_benchmark("nope")


def test_mlqa_val_counts_match_raw_files(mlqa_val, mlqa_pairs, data_dir):
    questions, contexts = _raw_mlqa(data_dir)
    assert len(questions) == 9677
    dev = _raw_mlqa_dev_ids(contexts)
    pairs_dev = set(mlqa_pairs.loc[mlqa_pairs["split"] == "dev", "example_id"])
    assert dev == pairs_dev  # the pool's split is build-pairs' split
    assert mlqa_val.languages == MLQA_LANGS
    for lang in MLQA_LANGS:
        j = mlqa_val.languages.index(lang)
        q_ids = {i for i in dev if lang in questions[i]}
        rows = mlqa_val.queries_of(lang)
        assert len(rows) == len(q_ids) > 0
        assert {mlqa_val.query_xids[q] for q in rows} == q_ids
        assert len(mlqa_val.candidates_of(lang)) == len({contexts[i][lang] for i in dev
                                                         if lang in contexts[i]})
        # gold in `lang`: every query whose id has a paragraph in `lang`
        expected = sum(lang in contexts[mlqa_val.query_xids[q]] for q in range(mlqa_val.n_queries))
        assert int((mlqa_val.gold[:, j] >= 0).sum()) == expected
    # the gold candidate is the id's own paragraph, and the query its own question
    for q in range(mlqa_val.n_queries):
        xid, q_lang = mlqa_val.query_xids[q], mlqa_val.languages[mlqa_val.query_lang[q]]
        assert mlqa_val.query_texts[q] == questions[xid][q_lang]
        for j, lang in enumerate(mlqa_val.languages):
            g = mlqa_val.gold[q, j]
            assert (g >= 0) == (lang in contexts[xid])
            if g >= 0:
                assert mlqa_val.cand_sentences[g] == contexts[xid][lang]
                assert mlqa_val.cand_lang[g] == j
    assert (mlqa_val.n_queries, mlqa_val.n_candidates) == (779, 782)


def test_xnli_val_counts_match_raw_files(xnli_val, data_dir):
    langs = VALIDATION_BENCHMARKS["xnli-val"].languages
    groups, seen = [], set()
    for split in ("dev", "test"):
        columns = {lang: (data_dir / "xnli" / f"{split}-{lang}.tsv").read_text(encoding="utf-8")
                   .rstrip("\n").split("\n")[::3] for lang in langs}
        for g in range(len(columns["en"])):
            group = tuple(columns[lang][g].split("\t")[0].strip() for lang in langs)
            if group not in seen:
                seen.add(group)
                groups.append((f"xnli-{split}-{g}", group))
    assert len(groups) == 2500
    dev = [(i, g) for i, g in groups if split_of("xnli", i, DEV_FRACTION, SEED) == "dev"]
    train_texts = {(lang, text) for i, g in groups if (i, g) not in dev
                   for lang, text in zip(langs, g)}
    assert xnli_val.languages == langs
    kept = {i: {lang for lang, text in zip(langs, g) if (lang, text) not in train_texts}
            for i, g in dev}
    for j, lang in enumerate(langs):
        assert len(xnli_val.queries_of(lang)) == sum(lang in k for k in kept.values())
        assert len(xnli_val.candidates_of(lang)) == len({g[j] for i, g in dev
                                                         if lang in kept[i]})
        # gold in `lang`: every query of a group whose `lang` premise is kept
        assert int((xnli_val.gold[:, j] >= 0).sum()) == sum(len(k) for k in kept.values()
                                                            if lang in k)
    # 133 dev premise groups; one Urdu premise recurs in a train group and is left out
    assert xnli_val.n_queries == 133 * 15 - 1
    assert set(xnli_val.query_xids) == {i for i, _ in dev}


def test_every_query_has_a_relevant_candidate(mlqa_val, xnli_val):
    for bench in (mlqa_val, xnli_val):
        assert ((bench.gold >= 0).sum(axis=1) >= 1).all()
        assert (bench.gold < bench.n_candidates).all()
        # each language has queries and candidates (Mo is defined everywhere)
        for lang in bench.languages:
            assert len(bench.queries_of(lang)) and len(bench.candidates_of(lang))
    # xnli: relevant = the same premise in every language (its own included)
    assert (xnli_val.gold >= 0).sum(axis=1).max() == 15


@pytest.mark.data  # its fixtures come through request.getfixturevalue
@pytest.mark.parametrize("name,source", [("mlqa-val", "mlqa-test"), ("xnli-val", "xnli")])
def test_no_pool_text_in_the_train_split(name, source, request):
    bench = request.getfixturevalue(name.replace("-", "_"))
    pairs = request.getfixturevalue(f"{source.split('-')[0]}_pairs")
    train = pairs[pairs["split"] == "train"]
    train_passages = set(train["passage"].dropna())
    train_questions = set(train["question"].dropna())
    assert not set(bench.query_xids) & set(train["example_id"])
    assert not set(bench.cand_sentences) & train_passages  # no dev-pool context in train
    assert not set(bench.query_texts) & train_questions
    dev_articles = set(pairs.loc[pairs["example_id"].isin(bench.query_xids), "article"])
    assert not dev_articles & set(train["article"])


def test_subset_and_language_errors(data_dir):
    small = build_mlqa_val(data_dir, languages=["de", "es"], max_articles=40)
    assert small.languages == ("de", "es") and small.n_queries < 200
    assert ((small.gold >= 0).sum(axis=1) >= 1).all()
    with pytest.raises(BabelirError, match="unknown language"):
        build_mlqa_val(data_dir, languages=["ar"])  # ar questions have no ar candidates
    import pandas as pd

    rows = pd.DataFrame({"example_id": ["a", "b"], "lang": ["de", "es"],
                         "question": ["q1", "q2"], "passage": ["p1", None],
                         "article": ["x", "y"]})
    with pytest.raises(BabelirError, match="es"):
        pool_from_rows("t", rows, ("de", "es"), {}, required=("es",))
    bench = pool_from_rows("t", rows, ("de", "es"), {})
    assert bench.languages == ("de",) and bench.n_queries == 1


@pytest.mark.data  # $BABELIR_DATA, read by the command
def test_bm25_eval_on_mlqa_val(tmp_path, capsys):
    out = tmp_path / "bm25-mlqa-val"
    assert main(["eval", "--model", "bm25", "--benchmark", "mlqa-val", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("mono.map", "cross.map", "multi.map"):
        assert 0 < summary[key] <= 1, key
    assert summary["benchmark"] == "mlqa-val" and summary["n_queries"] == 779
    assert summary["multi.rank_distance"] > 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["data_files"]["test-context-de-question-ar"]["path"] == \
        "mlqa/test/test-context-de-question-ar.json"


@pytest.mark.data  # $BABELIR_DATA, read by the command
def test_bm25_eval_on_xnli_val(tmp_path):
    out = tmp_path / "bm25-xnli-val"
    assert main(["eval", "--model", "bm25", "--benchmark", "xnli-val", "--languages",
                 "en,de,zh", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["mono.map"] == pytest.approx(1.0)  # identity search, by construction
    assert 0 < summary["cross.map"] <= 1 and 0 < summary["multi.map"] <= 1
    assert np.isfinite(summary["multi.rank_distance"])
