"""The data-source layer (babelir.data.sources): each reader against the raw files read with
plain json / text, the ``source:lang:split`` names (round trips, older spellings, errors), and
the article grouping (connected components) against groups worked out by hand."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from babelir.data.articles import assign_articles
from babelir.data.sources import (
    QAExample,
    SourceName,
    format_source_name,
    parse_source_name,
    read_source,
    source_file,
)
from babelir.errors import BabelirError, DataError


def _qas(path: Path) -> list[tuple[dict, dict]]:
    """(paragraph, qa) of every question of a SQuAD file, read with plain json."""
    root = json.loads(path.read_text(encoding="utf-8"))
    return [(p, qa) for a in root["data"] for p in a["paragraphs"] for qa in p["qas"]]


# --- readers vs the raw files ------------------------------------------------------------


@pytest.mark.parametrize("split", ["dev", "train"])
def test_tydiqa_counts_per_language_equal_plain_json(data_dir, split):
    folder = data_dir / "tydiqa" / f"goldp-{split}"
    want = {p.name.split(".")[2]: len(_qas(p)) for p in folder.glob("*.json")}
    examples = read_source(f"tydiqa-goldp:*:{split}", data_dir)
    assert Counter(ex.lang for ex in examples) == want
    assert {ex.source for ex in examples} == {f"tydiqa-goldp-{split}"}


def test_tydiqa_one_language_keeps_file_order_texts_and_id_scheme(data_dir):
    path = data_dir / "tydiqa" / "goldp-train" / "tydiqa.goldp.sw.train.json"
    raw = _qas(path)
    examples = read_source("tydiqa-goldp:sw:train", data_dir)
    assert len(examples) == len(raw) == 2755
    for i, (ex, (paragraph, qa)) in enumerate(zip(examples, raw)):
        assert ex.id == f"tydiqa-train-sw-{i}" and ex.raw_id == qa["id"]
        assert (ex.question, ex.context) == (qa["question"], paragraph["context"])
        answer = qa["answers"][0]
        assert (ex.answer_text, ex.answer_start) == (answer["text"], answer["answer_start"])
    dev = read_source("tydiqa-goldp:sw:dev", data_dir)
    assert [ex.id for ex in dev] == [qa["id"] for _, qa in _qas(
        data_dir / "tydiqa" / "goldp-dev" / "tydiqa.goldp.sw.dev.json")]
    assert all(ex.answer_text is None for ex in dev)  # dev answers are blanked


def test_mlqa_join_equals_plain_json(data_dir):
    questions, contexts = {}, {}
    for path in sorted((data_dir / "mlqa" / "test").glob("*.json")):
        _, _, c, _, q = path.stem.split("-")
        for paragraph, qa in _qas(path):
            questions[(qa["id"], q)] = qa["question"].strip()
            contexts[(qa["id"], c)] = paragraph["context"].strip()
    examples = read_source("mlqa-test", data_dir)
    assert len({ex.id for ex in examples}) == 9677  # the data README's figure
    got_q = {(ex.id, ex.lang): ex.question for ex in examples if ex.question is not None}
    got_c = {(ex.id, ex.lang): ex.context for ex in examples if ex.context is not None}
    assert got_q == questions and got_c == contexts
    assert len(examples) == len(set(questions) | set(contexts))


def test_xnli_sentences_are_the_premise_column(data_dir):
    sentences = read_source("xnli:*:dev", data_dir)
    langs = sorted(p.stem.split("-")[1] for p in (data_dir / "xnli").glob("dev-*.tsv"))
    assert sorted({s.lang for s in sentences}) == langs and len(langs) == 15
    lines = {lang: (data_dir / "xnli" / f"dev-{lang}.tsv").read_text("utf-8").split("\n")
             for lang in ("en", "th")}
    for s in sentences:
        if s.lang in lines:
            group = int(s.id.rsplit("-", 1)[1])
            assert s.text == lines[s.lang][3 * group].split("\t")[0].strip()
    assert len({s.id for s in sentences}) == 830


def test_xquad_r_one_language(data_dir):
    examples = read_source("xquad-r:de", data_dir)
    raw = _qas(data_dir / "lareqa" / "xquad-r" / "de.json")
    assert [ex.id for ex in examples] == [qa["id"] for _, qa in raw]
    assert all(ex.answer_sentence in ex.context for ex in examples)
    assert {ex.lang for ex in examples} == {"de"}


def test_jsonl_reader_language_filter_and_folder_errors(tmp_path):
    rows = [{"id": 1, "lang": "en", "question": "Q?", "passage": "P."},
            {"id": 1, "lang": "de", "question": "F?", "passage": None, "article": 7}]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    both = read_source(f"jsonl:{path}", None)
    assert [(ex.id, ex.lang, ex.article) for ex in both] == [("1", "en", None), ("1", "de", "7")]
    assert [ex.lang for ex in read_source(f"jsonl:de:{path}", None)] == ["de"]
    assert {ex.source for ex in both} == {"jsonl-mine"}
    with pytest.raises(BabelirError, match="no manifest.json"):
        read_source(str(tmp_path), None)


def test_squad_reader_checks_the_answer_for_every_consumer(tmp_path):
    from babelir.translate.pipeline import read_squad as translate_read_squad

    context = "One sentence. Another one."
    root = {"data": [{"paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "Q?", "answers": [{"text": "Another", "answer_start": 0}]}]}]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(root), encoding="utf-8")
    for read in (lambda: read_source(f"squad:en:{path}", None),
                 lambda: translate_read_squad(path, "en")):
        with pytest.raises(DataError, match=r"bad\.json, record .*\(id a\): answer 'Another' "
                                            r"is not at answer_start 0"):
            read()
    root["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 14
    path.write_text(json.dumps(root), encoding="utf-8")
    (ex,) = read_source(f"squad:en:{path}", None)
    spans = ex.sentence_spans()
    assert [context[s:e] for s, e in spans] == ["One sentence.", "Another one."]
    assert ex.answer_sentences(spans) == [1]


def test_source_file_names_the_one_file(data_dir):
    name = parse_source_name("tydiqa-goldp:ko").with_default_splits(("train",))
    assert source_file(name, data_dir) == \
        data_dir / "tydiqa" / "goldp-train" / "tydiqa.goldp.ko.train.json"
    assert source_file(parse_source_name("tydiqa-goldp"), data_dir) is None
    assert source_file(parse_source_name("squad:de:x.json"), None) == Path("x.json")


# --- names --------------------------------------------------------------------------------

OLD_SPELLINGS = {  # name in configs and tests -> its meaning, in the new scheme
    "mlqa-test": "mlqa:*:test",
    "tydiqa-goldp": "tydiqa-goldp:*",
    "tydiqa-goldp:dev": "tydiqa-goldp:*:dev",
    "tydiqa-goldp:train": "tydiqa-goldp:*:train",
    "tydiqa-goldp:dev+train": "tydiqa-goldp:*:dev+train",
    "tydiqa-goldp:en": "tydiqa-goldp:en",  # translate's: the train split, by its default
    "xquad-r": "xquad-r:*",
    "xnli": "xnli:*",
    "xnli:dev": "xnli:*:dev",
    "xnli:test": "xnli:*:test",
    "xnli:dev+test": "xnli:*:dev+test",
    "squad:de:/data/goethe.json": "squad:de:/data/goethe.json",
    "jsonl:mine.jsonl": "jsonl:mine.jsonl",
    "runs/data/tydi-mt": "runs/data/tydi-mt",
}


@pytest.mark.parametrize("old, new", OLD_SPELLINGS.items())
def test_old_spellings_mean_what_they_meant(old, new):
    assert parse_source_name(old) == parse_source_name(new)
    assert format_source_name(parse_source_name(old)) == new


def test_defaults_and_datasets():
    tydi = parse_source_name("tydiqa-goldp")
    assert tydi.with_default_splits().splits == ("dev",)  # build-pairs: leak-free dev
    assert tydi.with_default_splits(("train",)).splits == ("train",)  # translate
    assert parse_source_name("tydiqa-goldp:en:dev").with_default_splits(("train",)).splits \
        == ("dev",)  # a given split wins
    assert parse_source_name("tydiqa-goldp:dev+train").datasets() == [
        "tydiqa-goldp-dev", "tydiqa-goldp-train"]
    assert parse_source_name("mlqa-test").datasets() == ["mlqa-test"]
    assert parse_source_name("xnli").datasets() == ["xnli"]
    assert parse_source_name("xquad-r:en").datasets() == ["xquad-r"]
    assert parse_source_name("jsonl:x.jsonl").datasets() == []


def _all_names():
    for source, langs, splits in itertools.product(
            ("tydiqa-goldp", "xquad-r", "mlqa", "xnli"), (None, ("en",), ("sw", "ko")),
            (None, ("dev",), ("train",), ("test",), ("dev", "train"), ("dev", "test"))):
        yield SourceName(source, langs, splits)
    for langs, path in itertools.product((None, ("en",)), ("a.jsonl", "/x/y:z.jsonl")):
        yield SourceName("jsonl", langs, None, path)
    yield SourceName("squad", ("de",), None, "/x/g.json")
    yield SourceName("path", None, None, "runs/data/tydi-mt")


def test_every_valid_name_round_trips():
    valid = 0
    for name in _all_names():
        try:
            text = format_source_name(name)
            parsed = parse_source_name(text)
        except BabelirError:
            continue
        assert parsed == name, text
        assert format_source_name(parsed) == text
        valid += 1
    assert valid >= 25


@pytest.mark.parametrize("text, message", [
    ("mlqa", r"unknown source 'mlqa'.*mlqa:\*:test"),
    ("tydiqa-goldp:test", r"tydiqa-goldp splits must be dev and/or train, not 'test'"),
    ("xnli:train", r"xnli splits must be dev and/or test"),
    ("xnli:en", r"xnli is read in every language at once"),
    ("mlqa:de:test", r"mlqa is read in every language at once"),
    ("tydiqa-goldp:english", r"unknown language code\(s\) 'english'"),
    ("tydiqa-goldp:en+en:dev", r"a language is named twice"),
    ("tydiqa-goldp:dev+dev", r"splits must be dev and/or train, not 'dev\+dev'"),
    ("tydiqa-goldp:en:dev:x", r"too many ':' parts"),
    ("tydiqa-goldp::dev", r"an empty part"),
    ("squad:/x.json", r"write squad:<lang>:<path>"),
    ("squad:*:/x.json", r"a SQuAD file is in one language"),
    ("jsonl:", r"write jsonl:<path>"),
    ("", r"empty source name"),
])
def test_bad_names_say_what_is_wrong(text, message):
    with pytest.raises(BabelirError, match=message):
        parse_source_name(text)


def test_mlqa_without_a_split_is_refused_where_it_is_read():
    with pytest.raises(BabelirError, match=r"needs a split: mlqa:\*:test"):
        parse_source_name("mlqa:*").with_default_splits()


# --- articles: connected components ------------------------------------------------------


def _frame(rows):
    return pd.DataFrame(rows, columns=["dataset", "example_id", "lang", "article_key"],
                        dtype=object)


def test_articles_equal_hand_made_groups():
    frame = _frame([
        ("d", "a", "en", "k1"),
        ("d", "b", "en", "k1"), ("d", "b", "de", "k2"),  # b joins k1 and k2
        ("d", "c", "de", "k2"),
        ("d", "e", "en", None),  # no key: its own article, id:e
        ("d", "f", "en", "k3"), ("d", "f", "de", None),
        ("d2", "g", "en", "k1"),  # same key, other dataset: not joined
        ("d", "h", "en", "k5"), ("d", "i", "en", "k4"), ("d", "h", "de", "k4"),  # h-i: k4
    ])
    want = {"a": "k1", "b": "k1", "c": "k1", "e": "id:e", "f": "k3", "g": "k1", "h": "k4",
            "i": "k4"}
    got = assign_articles(frame)
    assert dict(zip(frame["example_id"], got)) == want
    assert list(got.index) == list(frame.index)


def _oracle(frame):
    """Articles by repeated merging of key sets until nothing changes (no graph library)."""
    groups = []  # (dataset, set of example ids, set of keys)
    for dataset, example_id, key in zip(frame["dataset"], frame["example_id"],
                                        frame["article_key"]):
        groups.append((dataset, {example_id}, {key} if key is not None else set()))
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(groups)), 2):
            (di, ei, ki), (dj, ej, kj) = groups[i], groups[j]
            if di == dj and (ei & ej or ki & kj):
                groups[i] = (di, ei | ej, ki | kj)
                del groups[j]
                merged = True
                break
    name = {}
    for dataset, ids, keys in groups:
        for example_id in ids:
            name[(dataset, example_id)] = min(keys) if keys else f"id:{example_id}"
    return [name[(d, e)] for d, e in zip(frame["dataset"], frame["example_id"])]


@pytest.mark.parametrize("seed", range(5))
def test_articles_equal_a_merging_oracle_on_random_tables(seed):
    rng = random.Random(seed)
    rows = [(rng.choice("xy"), f"e{rng.randrange(25)}", rng.choice(["en", "de", "fr"]),
             rng.choice([None, *[f"k{i}" for i in range(15)]])) for _ in range(60)]
    frame = _frame(rows).drop_duplicates(["dataset", "example_id", "lang"])
    assert list(assign_articles(frame)) == _oracle(frame)


def test_qa_example_is_frozen():
    ex = QAExample(id="1", lang="en", question="Q?", context="C.", source="s")
    with pytest.raises(AttributeError):
        ex.id = "2"
