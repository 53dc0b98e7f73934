"""Training pairs (babelir.data.pairs) on the real data files, their errors on bad input, and
the sentence splitter (babelir.data.splitting) on real samples."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from babelir.data.pairs import (
    COLUMNS,
    ISO_639_1,
    build_pairs,
    load_jsonl,
    load_pairs,
    load_squad_file,
    load_xnli,
    load_xquad_r,
    make_pairs,
    pairs_available,
    split_of,
)
from babelir.data.splitting import THAI_MIN_CHARS, covering_span, sentences, split_sentences
from babelir.errors import BabelirError, DataError

# --- expected counts, from the data README ---------------------------------------------
MLQA_PAIRS = {  # ids available per (question language, context language)
    "ar": {"de": 1649, "es": 1978, "vi": 370, "zh": 1912},
    "de": {"de": 3821, "es": 1776, "vi": 1675, "zh": 1621},
    "es": {"de": 1776, "es": 3283, "vi": 417, "zh": 1947},
    "hi": {"de": 1430, "es": 1723, "vi": 358, "zh": 1767},
    "vi": {"de": 1675, "es": 2018, "vi": 1675, "zh": 1943},
    "zh": {"de": 1621, "es": 1947, "vi": 394, "zh": 3128},
}
MLQA_PARAGRAPHS = {"de": 3963, "es": 4671, "vi": 1508, "zh": 4438}
TYDI_DEV = {"ar": (921, 842), "bn": (113, 105), "en": (440, 429), "fi": (782, 634),
            "id": (565, 514), "ko": (276, 228), "ru": (812, 778), "sw": (499, 357),
            "te": (669, 601)}  # questions, distinct paragraphs
TYDI_TRAIN = {"en": (3696, 3429), "ko": (1625, 1269), "sw": (2755, 1687)}
XNLI_LANGS = sorted("ar bg de el en es fr hi ru sw th tr ur vi zh".split())


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs") / "pairs.parquet"
    summary = build_pairs(["mlqa-test", "tydiqa-goldp:dev+train", "xquad-r", "xnli"],
                          data_dir, out, positive="sentence")
    return summary, out, load_pairs(out)


def _of(frame, dataset):
    return frame[frame["dataset"] == dataset]


# --- MLQA ---------------------------------------------------------------------------


def test_mlqa_join_gives_the_published_pair_counts(built):
    summary, _, frame = built
    mlqa = _of(frame, "mlqa-test")
    assert mlqa["example_id"].nunique() == 9677
    counts = pairs_available(mlqa)
    got = {(q, p): n for q, p, n in zip(counts["q_lang"], counts["p_lang"], counts["pairs"])}
    want = {(q, c): n for q, row in MLQA_PAIRS.items() for c, n in row.items()}
    assert got == want
    assert summary["datasets"]["mlqa-test"]["pairs"] == {
        f"{q}-{c}": n for (q, c), n in want.items()}
    assert set(mlqa.loc[mlqa["question"].notna(), "lang"]) == set(MLQA_PAIRS)
    passages = mlqa[mlqa["passage"].notna()]
    assert passages.groupby("lang")["passage"].nunique().to_dict() == MLQA_PARAGRAPHS
    assert summary["datasets"]["mlqa-test"]["positive"] == {"paragraph": int(len(passages))}


def test_mlqa_rows_equal_the_raw_files(built, data_dir):
    frame = _of(built[2], "mlqa-test").set_index(["example_id", "lang"])
    for c, q in (("de", "ar"), ("zh", "de"), ("vi", "de")):
        path = data_dir / "mlqa" / "test" / f"test-context-{c}-question-{q}.json"
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    assert frame.at[(qa["id"], q), "question"] == qa["question"].strip()
                    assert frame.at[(qa["id"], c), "passage"] == paragraph["context"].strip()


def _mlqa_file(folder: Path, c: str, q: str, entries: list[tuple[str, str, str]]) -> None:
    data = [{"paragraphs": [{"context": ctx, "qas": [
        {"id": qid, "question": question, "answers": [{"answer_start": 0, "text": ""}]}]}]}
        for qid, question, ctx in entries]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"test-context-{c}-question-{q}.json").write_text(
        json.dumps({"version": "1.0", "data": data}), encoding="utf-8")


def test_mlqa_conflicting_duplicates_are_errors(tmp_path):
    folder = tmp_path / "mlqa" / "test"
    _mlqa_file(folder, "de", "ar", [("id1", "سؤال؟", "Absatz eins."), ("id2", "آخر؟", "Zwei.")])
    _mlqa_file(folder, "es", "ar", [("id1", "سؤال؟", "Párrafo uno.")])
    rows = make_pairs(["mlqa-test"], tmp_path)[0]
    assert set(rows.loc[rows["example_id"] == "id1", "lang"]) == {"ar", "de", "es"}
    _mlqa_file(folder, "zh", "ar", [("id1", "سؤال مختلف؟", "第一段。")])  # other ar question
    with pytest.raises(DataError, match=r"test-context-zh-question-ar\.json.*id1.*different ar "
                                        r"question in test-context-de-question-ar\.json"):
        make_pairs(["mlqa-test"], tmp_path)
    (folder / "test-context-zh-question-ar.json").unlink()
    _mlqa_file(folder, "de", "es", [("id1", "¿Pregunta?", "Ein anderer Absatz.")])  # other de
    with pytest.raises(DataError, match=r"id1.*different de context"):
        make_pairs(["mlqa-test"], tmp_path)


def test_mlqa_groups_translations_and_shared_paragraphs_into_one_article(tmp_path):
    folder = tmp_path / "mlqa" / "test"
    # a and b share the es paragraph; only b also has a de one; c shares b's de paragraph
    _mlqa_file(folder, "es", "de", [("a", "Frage a?", "Párrafo P."),
                                    ("b", "Frage b?", "Párrafo P.")])
    _mlqa_file(folder, "de", "es", [("b", "¿b?", "Absatz P."), ("c", "¿c?", "Absatz P."),
                                    ("d", "¿d?", "Ganz anderer Absatz.")])
    frame = make_pairs(["mlqa-test"], tmp_path)[0]
    article = frame.groupby("example_id")["article"].agg(set)
    assert all(len(v) == 1 for v in article)
    assert article["a"] == article["b"] == article["c"] != article["d"]


# --- TyDi QA ------------------------------------------------------------------------


def test_tydiqa_counts_ids_and_articles(built, data_dir):
    frame = built[2]
    for dataset, table in (("tydiqa-goldp-dev", TYDI_DEV), ("tydiqa-goldp-train", TYDI_TRAIN)):
        part = _of(frame, dataset)
        assert part["example_id"].is_unique  # monolingual: one row per example
        for lang, (questions, paragraphs) in table.items():
            rows = part[part["lang"] == lang]
            assert len(rows) == questions and rows["question"].notna().all()
            assert rows["article"].nunique() == paragraphs, (dataset, lang)
    train = _of(frame, "tydiqa-goldp-train")
    for lang, (n, _) in TYDI_TRAIN.items():
        assert set(train.loc[train["lang"] == lang, "example_id"]) == {
            f"tydiqa-train-{lang}-{i}" for i in range(n)}
    raw = json.loads((data_dir / "tydiqa/goldp-train/tydiqa.goldp.en.train.json")
                     .read_text(encoding="utf-8"))
    raw_ids = [qa["id"] for a in raw["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert len(raw_ids) == 3696 and len(set(raw_ids)) == 89


def test_tydiqa_train_sentence_positive_holds_the_answer(built, data_dir):
    train = _of(built[2], "tydiqa-goldp-train").set_index("example_id")
    shorter = 0
    for lang in TYDI_TRAIN:
        raw = json.loads((data_dir / f"tydiqa/goldp-train/tydiqa.goldp.{lang}.train.json")
                         .read_text(encoding="utf-8"))
        qas = [(p["context"], qa) for a in raw["data"] for p in a["paragraphs"] for qa in p["qas"]]
        for i, (context, qa) in enumerate(qas):
            sentence = train.at[f"tydiqa-train-{lang}-{i}", "passage"]
            assert qa["answers"][0]["text"] in sentence and sentence in context
            shorter += len(sentence) < len(context.strip())
    assert shorter > 0.8 * len(train)
    assert built[0]["datasets"]["tydiqa-goldp-train"]["positive"] == {"sentence": 8076}
    assert built[0]["datasets"]["tydiqa-goldp-train"]["leaks_into"] == ["miracl"]


def test_blanked_answers_always_give_the_paragraph(built):
    positives = {d: v["positive"] for d, v in built[0]["datasets"].items()}
    assert positives["tydiqa-goldp-dev"] == {"paragraph": 5077}
    assert set(positives["mlqa-test"]) == {"paragraph"}


# --- XQuAD-R and positive modes ----------------------------------------------------


def test_xquad_r_positive_modes(data_dir, built):
    modes = {m: pd.DataFrame(load_xquad_r(data_dir, m)).set_index(["example_id", "lang"])
             for m in ("sentence", "paragraph", "sentence+paragraph")}
    assert len(modes["sentence"]) == 11 * 1190
    key = ("56beb4343aeaaa14008c925b", "en")
    sentence = modes["sentence"].at[key, "passage"]
    paragraph = modes["paragraph"].at[key, "passage"]
    assert "308 points" in sentence and sentence in paragraph and len(sentence) < len(paragraph)
    assert modes["sentence+paragraph"].at[key, "passage"] == f"{sentence} {paragraph}"
    assert (modes["sentence"]["question"] == modes["paragraph"]["question"]).all()
    xquad = _of(built[2], "xquad-r")
    assert xquad["article"].nunique() == 48
    assert built[0]["datasets"]["xquad-r"]["pairs"]["th-en"] == 1190
    assert built[0]["datasets"]["xquad-r"]["leaks_into"] == ["xquad-r"]


# --- dev split ------------------------------------------------------------------------


def test_dev_split_keeps_articles_and_examples_whole(built):
    frame = built[2]
    assert frame.groupby(["dataset", "article"])["split"].nunique().max() == 1
    assert frame.groupby(["dataset", "example_id"])["split"].nunique().max() == 1
    mlqa = _of(frame, "mlqa-test")
    with_passage = mlqa[mlqa["passage"].notna()]
    assert with_passage.groupby(["lang", "passage"])["article"].nunique().max() == 1
    articles = mlqa.drop_duplicates("article")
    assert 0.04 <= (articles["split"] == "dev").mean() <= 0.06
    assert articles["article"].nunique() == 8499  # paragraph groups (measured)
    assert set(frame["split"]) == {"train", "dev"}
    summary = built[0]
    assert summary["split"]["dev"]["rows"] + summary["split"]["train"]["rows"] == len(frame)


def test_dev_split_is_deterministic_seeded_and_language_independent(built, data_dir):
    first, _ = make_pairs(["tydiqa-goldp"], data_dir)
    again, _ = make_pairs(["tydiqa-goldp"], data_dir)
    pd.testing.assert_frame_equal(first, again)
    other, _ = make_pairs(["tydiqa-goldp"], data_dir, seed=1)
    assert (first["split"] != other["split"]).any()
    assert split_of("d", "a", 0.0) == "train" and split_of("d", "a", 1.0) == "dev"
    de_only, _ = make_pairs(["mlqa-test"], data_dir, languages=["de"])
    assert set(de_only["lang"]) == {"de"} and len(de_only) == 3821  # de-de pairs only
    full = _of(built[2], "mlqa-test").set_index(["example_id", "lang"])
    for col in ("article", "split"):
        assert (de_only.set_index(["example_id", "lang"])[col] == full.loc[
            list(de_only.set_index(["example_id", "lang"]).index), col]).all()


# --- XNLI -------------------------------------------------------------------------------


def test_xnli_premises_as_translation_pairs(built, data_dir):
    xnli = _of(built[2], "xnli")
    assert xnli["example_id"].nunique() == 830 + 1670
    assert sorted(xnli["lang"].unique()) == XNLI_LANGS
    assert (xnli["question"] == xnli["passage"]).all()
    pairs = built[0]["datasets"]["xnli"]["pairs"]
    assert pairs["en-de"] == 2500 and "en-en" not in pairs and len(pairs) == 15 * 14
    assert len(load_xnli(data_dir, ["dev"])) == 830 * 15
    lines = (data_dir / "xnli/test-th.tsv").read_text(encoding="utf-8").split("\n")
    assert xnli.set_index(["example_id", "lang"]).at[("xnli-test-1", "th"), "question"] == \
        lines[3].split("\t")[0]


@pytest.mark.parametrize("files, message", [
    ({"en": "a\th\nb\th\n", "de": "x\th\n"}, r"not a multiple of 3"),
    ({"en": "a\th\na\th\na\th\n", "de": "x\th\nx\th\nx\th\ny\th\ny\th\ny\th\n"},
     r"not line-aligned.*de: 6.*en: 3"),
    ({"en": "a\th\na\th\nb\th\n"}, r"dev-en\.tsv, record line 3: premise differs"),
    ({"en": "a\th\na\th\na\n"}, r"dev-en\.tsv, record line 3: 1 tab-separated fields"),
    ({"en": "a\th\n\th\n\th\n"}, r"line 2: empty or non-text premise"),
    ({"en": "a\th\na\th\na\th\n", "xx": "a\th\na\th\na\th\n"}, r"dev-xx\.tsv.*unknown language"),
])
def test_xnli_errors(tmp_path, files, message):
    (tmp_path / "xnli").mkdir()
    for lang, text in files.items():
        (tmp_path / "xnli" / f"dev-{lang}.tsv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_xnli(tmp_path, ["dev"])


# --- user files: JSONL and SQuAD ---------------------------------------------------------


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)
                              for r in records) + "\n", encoding="utf-8")
    return path


GOOD_JSONL = [
    {"id": "q1", "lang": "en", "question": "Who wrote Faust?", "passage": "Goethe wrote Faust."},
    {"id": "q1", "lang": "de", "question": "Wer schrieb Faust?", "passage": None},
    {"id": "q1", "lang": "th", "question": None, "passage": "เกอเธ่เขียนเฟาสท์"},
    {"id": 2, "lang": "en", "question": "Where is Weimar?", "passage": "In Thuringia.",
     "article": "Weimar"},
    {"id": "3", "lang": "en", "question": "Is Weimar old?", "passage": "Yes, very.",
     "article": "Weimar"},
]


def test_jsonl_source(tmp_path):
    path = _jsonl(tmp_path / "mine.jsonl", GOOD_JSONL)
    out = tmp_path / "out" / "p.parquet"
    summary = build_pairs([f"jsonl:{path}"], tmp_path, out, dev_fraction=0.5)
    frame = load_pairs(out)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["dataset"]) == {"jsonl-mine"} and len(frame) == 5
    assert summary["datasets"]["jsonl-mine"]["pairs"] == {"de-en": 1, "de-th": 1, "en-en": 3,
                                                          "en-th": 1}
    row = frame[(frame["example_id"] == "q1") & (frame["lang"] == "de")].iloc[0]
    assert row["passage"] is None and row["question"] == "Wer schrieb Faust?"
    weimar = frame[frame["example_id"].isin(["2", "3"])]
    assert weimar["article"].nunique() == 1 and weimar["split"].nunique() == 1
    assert json.loads((tmp_path / "out" / "p.summary.json").read_text()) == summary
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.parquet", "p.summary.json"]
    # relative to the data folder, too
    assert len(make_pairs(["jsonl:mine.jsonl"], tmp_path)[0]) == 5


@pytest.mark.parametrize("bad, message", [
    ("{not json", r"malformed JSON"),
    ("[1, 2]", r"a line must be a JSON object"),
    ({"id": "x", "lang": "en", "question": "q?"}, r"missing field 'passage'"),
    ({"id": "x", "lang": "en", "question": "", "passage": "p"}, r"empty or non-text question"),
    ({"id": "x", "lang": "en", "question": "q?", "passage": "   "}, r"empty or non-text passage"),
    ({"id": "x", "lang": "en", "question": None, "passage": None},
     r"question and passage are both null"),
    ({"id": "x", "lang": "english", "question": "q?", "passage": "p"}, r"unknown language"),
    ({"id": "x", "lang": "", "question": "q?", "passage": "p"}, r"missing language"),
    ({"id": "x", "lang": None, "question": "q?", "passage": "p"}, r"missing language"),
    ({"id": None, "lang": "en", "question": "q?", "passage": "p"}, r"'id' must be"),
    ({"id": "q1", "lang": "en", "question": "q?", "passage": "p"},
     r"duplicate \(id, lang\) \('q1', 'en'\); first at line 1"),
])
def test_jsonl_errors_name_the_file_and_line(tmp_path, bad, message):
    path = _jsonl(tmp_path / "bad.jsonl", [GOOD_JSONL[0], bad])
    with pytest.raises(DataError, match=rf"bad\.jsonl, record line 2: {message}"):
        load_jsonl(path)


def _squad(path: Path, paragraphs: list, title: str | None = "Goethe") -> Path:
    article = {"paragraphs": paragraphs}
    if title:
        article["title"] = title
    path.write_text(json.dumps({"version": "1.1", "data": [article]}, ensure_ascii=False),
                    encoding="utf-8")
    return path


DE_CONTEXT = "Goethe wurde 1749 in Frankfurt geboren. Er starb 1832 in Weimar. Faust ist sein Werk."


def test_squad_user_file_positive_modes(tmp_path):
    start = DE_CONTEXT.index("1832")
    qas = [{"id": "a", "question": "Wann starb Goethe?", "answers": [{"text": "1832",
                                                                      "answer_start": start}]},
           {"id": "b", "question": "Wo?", "answers": [{"text": "", "answer_start": 0}]}]
    path = _squad(tmp_path / "goethe.json", [{"context": DE_CONTEXT, "qas": qas}])
    rows = {r["example_id"]: r for r in load_squad_file(path, "de", positive="sentence")}
    assert rows["a"]["passage"] == "Er starb 1832 in Weimar."
    assert rows["b"]["passage"] == DE_CONTEXT  # blanked answer: the paragraph
    assert rows["a"]["dataset"] == "squad-goethe" and rows["a"]["article_key"] == "title:Goethe"
    both = load_squad_file(path, "de", positive="sentence+paragraph")[0]["passage"]
    assert both == f"Er starb 1832 in Weimar. {DE_CONTEXT}"
    # given sentence_breaks win over the splitter
    path = _squad(tmp_path / "g2.json", [{"context": DE_CONTEXT, "qas": qas[:1],
                                          "sentence_breaks": [[0, 64], [65, 85]]}])
    assert load_squad_file(path, "de", "sentence")[0]["passage"] == DE_CONTEXT[:64]
    frame = make_pairs([f"squad:de:{path}"], tmp_path, positive="sentence")[0]
    assert frame.iloc[0]["passage"] == DE_CONTEXT[:64]


@pytest.mark.parametrize("qa, extra, message", [
    ({"id": "a", "question": "Q?", "answers": [{"text": "1833", "answer_start": 49}]}, {},
     r"answer '1833' is not at answer_start 49"),
    ({"id": "a", "question": "Q?", "answers": [{"text": "1832"}]}, {},
     r"missing field 'answer_start'"),
    ({"id": "a", "question": " ", "answers": []}, {}, r"empty or non-text question"),
    ({"question": "Q?", "answers": []}, {}, r"missing field 'id'"),
    ({"id": "a", "question": "Q?", "answers": []}, {"dup": True}, r"duplicate question id 'a'"),
    ({"id": "a", "question": "Q?", "answers": [{"text": "1832", "answer_start": 49}]},
     {"sentence_breaks": [[0, 500]]}, r"bad sentence_breaks entry 0"),
])
def test_squad_errors_name_the_file_and_record(tmp_path, qa, extra, message):
    paragraph = {"context": DE_CONTEXT, "qas": [qa, qa] if extra.pop("dup", False) else [qa],
                 **extra}
    path = _squad(tmp_path / "bad.json", [paragraph])
    where = r"bad\.json, record data\[0\]\.paragraphs\[0\]"
    with pytest.raises(DataError, match=rf"{where}.*{message}"):
        load_squad_file(path, "de", positive="sentence")


def test_unreadable_user_files(tmp_path):
    with pytest.raises(DataError, match="missing.json: file not found"):
        load_squad_file(tmp_path / "missing.json", "de")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match="broken.json: malformed JSON"):
        load_squad_file(tmp_path / "broken.json", "de")
    with pytest.raises(DataError, match="unknown language code 'german'"):
        load_squad_file(tmp_path / "broken.json", "german")
    with pytest.raises(DataError, match="none.jsonl: file not found"):
        load_jsonl(tmp_path / "none.jsonl")


def test_bad_arguments(tmp_path, data_dir):
    out = tmp_path / "p.parquet"
    for kwargs, message in (
        ({"sources": ["mlqa"]}, r"unknown source 'mlqa'"),
        ({"sources": []}, r"no sources"),
        ({"sources": ["squad:/x.json"]}, r"squad:<lang>:<path>"),
        ({"sources": ["tydiqa-goldp:test"]}, r"dev and/or train"),
        ({"sources": ["xnli:train"]}, r"dev and/or test"),
        ({"sources": ["xquad-r"], "positive": "answer"}, r"unknown positive mode"),
        ({"sources": ["xquad-r"], "languages": ["en", "eng"]}, r"unknown language.*'eng'"),
        ({"sources": ["xquad-r"], "dev_fraction": 1.5}, r"dev_fraction"),
        ({"sources": ["mlqa-test", "xquad-r"], "benchmark": "xquad-r"}, r"'xquad-r' leaks"),
        ({"sources": ["tydiqa-goldp:dev+train"], "benchmark": "miracl"}, r"leaks into the miracl"),
    ):
        with pytest.raises(BabelirError, match=message):
            build_pairs(data_dir=data_dir, out=out, **kwargs)
    assert not out.exists()


# --- load_pairs validation ------------------------------------------------------------


def _valid_frame() -> pd.DataFrame:
    return pd.DataFrame([
        ("ds", "1", "en", "Q one?", "P one.", "art1", "train"),
        ("ds", "1", "de", "Frage eins?", None, "art1", "train"),
        ("ds", "2", "en", None, "P two.", "art2", "dev"),
        ("ds", "3", "en", "Q three?", "P three.", "art2", "dev"),
    ], columns=list(COLUMNS))


def _set(frame, row, column, value):
    frame[column] = frame[column].astype(object)
    frame.at[row, column] = value
    return frame


@pytest.mark.parametrize("mutate, message", [
    (lambda f: f.drop(columns=["article"]), r"missing column\(s\) article"),
    (lambda f: _set(f, 1, "lang", None), r"row 1 .*: missing language"),
    (lambda f: _set(f, 2, "lang", "xx"), r"row 2 .*: unknown language code 'xx'"),
    (lambda f: _set(f, 0, "question", ""), r"row 0 .*: empty question"),
    (lambda f: _set(f, 3, "passage", "  "), r"row 3 .*: empty passage"),
    (lambda f: _set(f, 2, "question", None).assign(passage=[*f["passage"][:2], None, "x"]),
     r"row 2 .*: neither question nor passage"),
    (lambda f: pd.concat([f, f.iloc[[2]]], ignore_index=True),
     r"row 4 \(dataset='ds', example_id='2', lang='en'\): duplicate"),
    (lambda f: _set(f, 3, "split", "test"), r"row 3 .*: split must be"),
    (lambda f: _set(f, 3, "split", "train"), r"row 2 .*: article 'art2' is in both splits"),
    (lambda f: _set(f, 1, "article", "art9"), r"row 0 .*: the rows of one example have"),
    (lambda f: _set(f, 0, "example_id", None), r"row 0 .*: missing or empty example_id"),
    (lambda f: _set(f, 1, "dataset", "other"), r"row 0 .*: example_id '1' is used by more than"),
    (lambda f: f.iloc[0:0], r"no rows"),
])
def test_load_pairs_errors_name_the_file_and_row(tmp_path, mutate, message):
    path = tmp_path / "pairs.parquet"
    _valid_frame().to_parquet(path, index=False)
    assert len(load_pairs(path)) == 4
    mutate(_valid_frame()).to_parquet(path, index=False)
    with pytest.raises(DataError, match=rf"pairs\.parquet.*{message}"):
        load_pairs(path)


def test_load_pairs_unreadable(tmp_path):
    with pytest.raises(DataError, match="nothing.parquet: file not found"):
        load_pairs(tmp_path / "nothing.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="junk.parquet: not a readable Parquet file"):
        load_pairs(tmp_path / "junk.parquet")


def test_iso_codes():
    assert len(ISO_639_1) == 184
    assert {"ar", "de", "en", "th", "zh", "sw", "te", "yo", "fa"} <= ISO_639_1
    assert not {"xx", "eng", "zz"} & ISO_639_1


# --- sentence splitting -----------------------------------------------------------------

# real samples: (file under the data folder, line, language, expected sentences)
SPLIT_SAMPLES = [
    ("xnli/dev-zh.tsv", 729, "zh", ["我应该教她怎样做家庭作业吗？", "如果是的话，我该怎么做？"]),
    ("xnli/dev-zh.tsv", 348, "zh", ["是的，什么让我不爽你知道吗？",
                                     "去年12月份我们被打败，知道被多少票打扮吗？",
                                     "只被几百票打败。"]),
    # "वह लड़की, वहाँ पर।" / "उसने खुली बांह को …": escaped, as the file has the precomposed
    # \u095c (ड़), which editors tend to normalise away
    ("xnli/dev-hi.tsv", 957, "hi", [
        "\u0935\u0939 \u0932\u095c\u0915\u0940, \u0935\u0939\u093e\u0901 \u092a\u0930\u0964",
        "\u0909\u0938\u0928\u0947 \u0916\u0941\u0932\u0940 \u092c\u093e\u0902\u0939 \u0915\u094b "
        "\u0924\u093e\u0928\u0915\u0930 \u0909\u0938\u0915\u0940 \u0914\u0930 "
        "\u0938\u0902\u0915\u0947\u0924 \u0915\u093f\u092f\u093e\u0964"]),
    ("xnli/dev-ar.tsv", 804, "ar", ["قاتل - أنا؟", "قال أخيرا."]),
    ("xnli/dev-ar.tsv", 792, "ar", ["لماذا تركض؟", "سألته بهدوء، وقفت أمامه، وكلها بيضاء ومحفظة "
                                                 "بالكامل في رباطة جأشها غير الطبيعي."]),
    ("xnli/dev-th.tsv", 813, "th", ["ทางที่ดีกว่าอะไร?", "เขาร้องถาม"]),
    ("xnli/dev-th.tsv", 879, "th", ["และคุณเป็นปีศาจที่เป็นใคร?", "เขาก็ระเบิดขึ้นในที่สุด"]),
    ("xnli/test-th.tsv", 48, "th", ["เธอกล่าวว่ามีน้ำตาไหลออกมาจากตาของเธอ",
                                    "และเธอกล่าวว่าโจมาปรากฏตัวที่ชานบ้าน"]),
    ("xnli/test-th.tsv", 6, "th", ["พวกเขาบอกฉันว่าเขาจะเรียกคน ๆ หนึ่งเข้ามาในตอนท้ายให้ฉันพบ"]),
]


@pytest.mark.parametrize("file, line, lang, expected", SPLIT_SAMPLES)
def test_split_real_samples(data_dir, file, line, lang, expected):
    text = (data_dir / file).read_text(encoding="utf-8").split("\n")[line].split("\t")[0]
    assert sentences(text, lang) == expected


def _gold(context, breaks):
    def blank(ch):
        return ch.isspace() or ch in "\ufeff\u200b\u200c\u200d\u2060"

    out = []
    for s, e in breaks:
        while s < e and blank(context[s]):
            s += 1
        while e > s and blank(context[e - 1]):
            e -= 1
        out.append((s, e))
    return out


@pytest.mark.parametrize("lang, min_exact", [("zh", 0.8), ("hi", 0.85), ("ar", 0.9)])
def test_split_agrees_with_xquad_r_sentence_breaks(data_dir, lang, min_exact):
    root = json.loads((data_dir / f"lareqa/xquad-r/{lang}.json").read_text(encoding="utf-8"))
    paragraphs = [p for a in root["data"] for p in a["paragraphs"]]
    exact = sum(split_sentences(p["context"], lang) == _gold(p["context"], p["sentence_breaks"])
                for p in paragraphs)
    assert exact >= min_exact * len(paragraphs)
    hi = root["data"][0]["paragraphs"][1]["context"] if lang == "hi" else None
    if hi:  # a real Hindi paragraph: three sentences ending in the danda
        assert [s[-1] for s in sentences(hi, "hi")] == ["।", "।", "।"]


def test_split_thai_rules(data_dir):
    root = json.loads((data_dir / "lareqa/xquad-r/th.json").read_text(encoding="utf-8"))
    context = root["data"][0]["paragraphs"][0]["context"]
    spans = split_sentences(context, "th")
    assert len(spans) > 5
    for (_, e1), (s2, _) in zip(spans, spans[1:]):
        assert context[e1:s2].isspace()  # breaks only at spaces
        assert not context[e1 - 1].isnumeric()  # a number stays with the word after it
    assert all(e - s >= THAI_MIN_CHARS for s, e in spans)
    breaks = root["data"][0]["paragraphs"][0]["sentence_breaks"]
    gold = {s for s, _ in _gold(context, breaks)[1:]}
    assert gold & {s for s, _ in spans}  # finds some of LAReQA's Thai breaks
    abbreviations = "ขนาด 1,600 มม. (5 ฟุต) ในปีค.ศ.1348 นิโคลัส อี. โกโลว"
    assert sentences(abbreviations, "th") == ["ขนาด 1,600 มม. (5 ฟุต)",
                                             "ในปีค.ศ.1348 นิโคลัส อี. โกโลว"]
    assert sentences("สวัสดีครับ\nลาก่อน", "th") == ["สวัสดีครับ", "ลาก่อน"]  # newline: hard


def test_split_spans_are_trimmed_ordered_and_code_point_based():
    text = "\ufeff  😀 Hello there. 𝔘 World? ok\n\nNew para  "
    spans = split_sentences(text, "en")
    assert [text[s:e] for s, e in spans] == ["😀 Hello there.", "𝔘 World?", "ok", "New para"]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert split_sentences("", "en") == [] and split_sentences(" \n ", "zh") == []
    assert sentences("Dr. Smith came. He left.", "en") == ["Dr. Smith came.", "He left."]
    with pytest.raises(TypeError):
        split_sentences(None, "en")
    assert covering_span([(0, 5), (6, 10), (11, 20)], 7, 12) == (6, 20)
    assert covering_span([(0, 5), (6, 10)], 5, 6) is None


# --- decontamination: build-pairs --drop-overlap ----------------------------------------


@pytest.fixture(scope="module")
def small_xquad(data_dir, tmp_path_factory):
    """A data folder holding the first 2 articles of every XQuAD-R file (source and benchmark),
    and a user JSONL source: u1 repeats an XQuAD-R question (case changed), u2 hides an
    XQuAD-R sentence inside its passage, u3 is clean."""
    root = tmp_path_factory.mktemp("small-xquad")
    folder = root / "lareqa" / "xquad-r"
    folder.mkdir(parents=True)
    for lang in XQUAD_LANGS:
        data = json.loads((data_dir / "lareqa" / "xquad-r" / f"{lang}.json").read_text("utf-8"))
        data["data"] = data["data"][:2]
        (folder / f"{lang}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    paragraph = json.loads((folder / "en.json").read_text("utf-8"))["data"][0]["paragraphs"][0]
    start, end = paragraph["sentence_breaks"][1]
    rows = [
        {"id": "u1", "lang": "en", "question": paragraph["qas"][0]["question"].upper(),
         "passage": "Nothing to do with it."},
        {"id": "u1", "lang": "de", "question": "Wer?", "passage": "Etwas ganz anderes."},
        {"id": "u2", "lang": "en", "question": "Which?",
         "passage": f"An opening. {paragraph['context'][start:end]} A close."},
        {"id": "u3", "lang": "en", "question": "Clean?", "passage": "A clean passage."},
        {"id": "u3", "lang": "de", "question": "Sauber?", "passage": "Ein sauberer Absatz."},
    ]
    user = _jsonl(root / "user.jsonl", rows)
    ids = {qa["id"] for lang in ("en", "de")
           for a in json.loads((folder / f"{lang}.json").read_text("utf-8"))["data"]
           for p in a["paragraphs"] for qa in p["qas"]}
    return root, user, ids


XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def test_drop_overlap_removes_what_the_guard_flags(small_xquad, tmp_path):
    from babelir.training.leakage import check_leakage

    data, user, xquad_ids = small_xquad
    sources = ["xquad-r", f"jsonl:{user}"]
    plain = build_pairs(sources, data, tmp_path / "plain.parquet", languages=["en", "de"])
    assert "drop_overlap" not in plain  # without the option: nothing removed, no such key
    leaky = check_leakage(load_pairs(tmp_path / "plain.parquet"), "xquad-r", data)
    assert leaky.verdict == "leak"
    out = tmp_path / "clean.parquet"
    summary = build_pairs(sources, data, out, languages=["en", "de"], drop_overlap=["xquad-r"])
    frame = load_pairs(out)
    assert sorted(zip(frame["example_id"], frame["lang"])) == [("u3", "de"), ("u3", "en")]
    report = check_leakage(frame, "xquad-r", data)
    assert report.verdict == "clean" and report.checked  # the guard now passes
    removed = summary["drop_overlap"]
    assert json.loads((tmp_path / "clean.summary.json").read_text())["drop_overlap"] == removed
    reasons = {(r["dataset"], r["example_id"]): r["reasons"] for r in removed["removed"]}
    assert reasons.pop(("jsonl-user", "u1")) == ["xquad-r:questions"]  # both its rows go
    assert reasons.pop(("jsonl-user", "u2")) == ["xquad-r:sentences"]
    assert {e for d, e in reasons} == xquad_ids and {d for d, e in reasons} == {"xquad-r"}
    assert all("xquad-r:ids" in r for r in reasons.values())
    assert removed["removed_examples"] == len(xquad_ids) + 2
    assert removed["removed_rows"] == plain["rows"] - summary["rows"] == plain["rows"] - 2
    by = removed["by_benchmark"]["xquad-r"]
    assert by["examples"] == len(xquad_ids) + 2
    assert by["by_reason"]["ids"]["examples"] == len(xquad_ids)
    assert by["by_reason"]["questions"]["examples"] == len(xquad_ids) + 1  # + u1
    assert by["by_reason"]["sentences"]["examples"] == len(xquad_ids) + 1  # + u2
    assert by["by_reason"]["questions"]["rows"] == 2 * len(xquad_ids) + 1  # en, de + u1/en


def test_drop_overlap_on_the_command_line(small_xquad, tmp_path, capsys):
    from babelir.cli import main

    data, user, xquad_ids = small_xquad
    out = tmp_path / "p.parquet"
    args = ["data", "build-pairs", "--source", "xquad-r", "--source", f"jsonl:{user}",
            "--languages", "en,de", "--data-dir", str(data), "--out", str(out)]
    assert main(args + ["--drop-overlap", "xquad-r"]) == 0
    assert f"removed {len(xquad_ids) + 2} examples" in capsys.readouterr().out
    assert set(load_pairs(out)["example_id"]) == {"u3"}
    for bad, message in (("squad", "known benchmarks are xquad-r, mlqa-r, miracl"),
                         ("mlqa-r", "cannot decontaminate against mlqa-r: no lareqa/mlqa-r")):
        out.unlink(missing_ok=True)
        assert main(args + ["--drop-overlap", bad]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not out.exists()


def test_drop_overlap_miracl_removes_tydi_train_questions(data_dir, tmp_path):
    from babelir.training.leakage import check_leakage

    out = tmp_path / "p.parquet"
    summary = build_pairs(["tydiqa-goldp:train"], data_dir, out, languages=["sw"],
                          drop_overlap=["miracl"])
    frame = load_pairs(out)
    assert check_leakage(frame, "miracl", data_dir).verdict == "clean"
    by = summary["drop_overlap"]["by_benchmark"]["miracl"]["by_reason"]
    assert by["questions"]["examples"] >= 446  # sw topics that are TyDi train questions
    assert all(by[c]["examples"] == 0 for c in ("ids", "contexts", "sentences"))
    assert summary["examples"] + by["questions"]["examples"] == 2755  # sw train questions


def test_passages_with_sentences_finds_every_passage():
    from babelir.training.decontaminate import passages_with_sentences

    sentence = "this sentence is long enough to be compared here"
    passages = ["nothing here at all, really nothing", f"a {sentence} b", sentence,
                f"{sentence} and more", "short"]
    assert passages_with_sentences([sentence, "too short"], passages) == {1, 2, 3}
    assert passages_with_sentences(["an absent sentence that is long enough"], passages) == set()


def test_drop_overlap_in_an_experiment(small_xquad, tmp_path):
    from babelir.experiment import ensure_pairs, load_experiment

    data, user, xquad_ids = small_xquad

    def experiment(drop: str) -> Path:
        path = tmp_path / "exp.yaml"
        path.write_text(f"""
name: t
results: {tmp_path / 'results'}
work: {tmp_path / 'work'}
data_dir: {data}
pairs:
  out: {tmp_path / 'pairs.parquet'}
  sources: [xquad-r, "jsonl:{user}"]
  languages: [en, de]
{drop}
systems:
  - name: bm25
    model: bm25
""")
        return path

    ensure_pairs(load_experiment(experiment("  drop_overlap: [xquad-r]")))
    kept = json.loads((tmp_path / "results" / "pairs.summary.json").read_text())
    assert kept["drop_overlap"]["benchmarks"] == ["xquad-r"]
    assert kept["drop_overlap"]["removed_examples"] == len(xquad_ids) + 2
    assert set(load_pairs(tmp_path / "pairs.parquet")["example_id"]) == {"u3"}
    ensure_pairs(load_experiment(experiment("  drop_overlap: xquad-r")))  # same, as a string
    with pytest.raises(BabelirError, match=r"built otherwise.*drop_overlap: \['xquad-r'\] "
                                           r"\(file\) vs None \(experiment\)"):
        ensure_pairs(load_experiment(experiment("")))
    with pytest.raises(BabelirError, match=r"`pairs.drop_overlap`: cannot decontaminate "
                                           r"against 'xnli'"):
        load_experiment(experiment("  drop_overlap: [xquad-r, xnli]"))
