"""Leakage guard (babelir.training.leakage) on the real data: the overlaps of the data README,
section 2, measured on the training TEXTS rather than on source names."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from babelir.data.lareqa import load_benchmark
from babelir.data.pairs import make_pairs
from babelir.data.registry import get_benchmark
from babelir.errors import BabelirError
from babelir.training import leakage
from babelir.training.leakage import (
    CHECKS,
    MAX_EXAMPLES,
    LeakageReport,
    check_leakage,
    enforce,
    find_sentences,
    normalise,
    write_report,
)

XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
# XQuAD-R candidate sentences of >= 30 normalised characters, per language (12,551 of the
# pool's 13,014): the ones the sentence check compares.
XQUAD_LONG_SENTENCES = {"ar": 1190, "de": 1270, "el": 1220, "en": 1170, "es": 1195,
                        "hi": 1216, "ru": 1211, "th": 838, "tr": 1143, "vi": 1191, "zh": 907}
# MIRACL dev topics per language that are TyDi GoldP train questions: exactly the data
# README's figures (en 658 of 799, ko 163 of 213, sw 446 of 482). NFKC + casefold give the
# same counts as the README's lower-casing.
MIRACL_TYDI_TRAIN = {"en": (658, 799), "ko": (163, 213), "sw": (446, 482)}


def _pairs(sources, data_dir):
    return make_pairs(sources, data_dir)[0]


@pytest.fixture(scope="module")
def xquad_report(data_dir):
    return check_leakage(_pairs(["xquad-r"], data_dir), "xquad-r", data_dir)


@pytest.fixture(scope="module")
def tydi_train_report(data_dir):
    return check_leakage(_pairs(["tydiqa-goldp:train"], data_dir), "miracl", data_dir)


def _row(example_id, lang, question, passage, dataset="jsonl-mine"):
    return {"dataset": dataset, "example_id": example_id, "lang": lang, "question": question,
            "passage": passage, "article": example_id, "split": "train"}


# --- XQuAD-R -------------------------------------------------------------------------


def test_xquad_r_pairs_leak_everything_into_xquad_r(xquad_report):
    r = xquad_report
    assert not r.clean and r.checked and r.verdict == "leak" and r.not_checked == {}
    assert r.training_rows == 13090 and r.training_datasets == {"xquad-r": 13090}
    assert r.benchmark_languages == list(XQUAD_LANGS) and r.missing_languages == {}
    ids, questions = r.checks["ids"], r.checks["questions"]
    contexts, sentences = r.checks["contexts"], r.checks["sentences"]
    assert (ids.matched, ids.total, ids.training_rows) == (1190, 1190, 13090)
    assert (questions.matched, questions.total, questions.training_rows) == (13090, 13090, 13090)
    assert (contexts.matched, contexts.total, contexts.training_rows) == (2640, 2640, 13090)
    assert (sentences.matched, sentences.total) == (12551, 12551)
    for lang in XQUAD_LANGS:
        assert ids.by_lang[lang] == {"matched": 1190, "total": 1190}
        assert questions.by_lang[lang] == {"matched": 1190, "total": 1190}
        assert contexts.by_lang[lang] == {"matched": 240, "total": 240}  # BOMs ignored
        n = XQUAD_LONG_SENTENCES[lang]
        assert sentences.by_lang[lang] == {"matched": n, "total": n}
    for check in r.checks.values():
        assert len(check.examples) == MAX_EXAMPLES
        assert check.examples[0]["training"]["dataset"] == "xquad-r"


def test_mlqa_test_and_tydi_dev_are_clean_for_xquad_r(data_dir):
    r = check_leakage(_pairs(["mlqa-test", "tydiqa-goldp"], data_dir), "xquad-r", data_dir)
    assert r.clean and r.checked and r.verdict == "clean" and r.not_checked == {}
    assert set(r.training_datasets) == {"mlqa-test", "tydiqa-goldp-dev"}
    for name in CHECKS:
        assert r.checks[name].checked and r.checks[name].matched == 0
        assert r.checks[name].training_rows == 0 and r.checks[name].examples == []
    # README: "0 contexts, 0 of 13,014 candidate sentences" (12,551 have >= 30 characters)
    assert r.checks["contexts"].total == 2640
    assert r.checks["sentences"].total == 12551
    enforce(r, allow_leakage=False)  # clean: passes


# --- MIRACL --------------------------------------------------------------------------


def test_tydi_train_questions_leak_into_miracl(tydi_train_report, data_dir):
    r = tydi_train_report
    assert not r.clean and r.checked
    assert len(r.benchmark_languages) == 18
    questions = r.checks["questions"]
    assert questions.total == 13495
    for lang, (matched, total) in MIRACL_TYDI_TRAIN.items():
        assert questions.by_lang[lang] == {"matched": matched, "total": total}
    assert questions.matched == sum(m for m, _ in MIRACL_TYDI_TRAIN.values())  # 1,267
    assert all(v["matched"] == 0 for lang, v in questions.by_lang.items()
               if lang not in MIRACL_TYDI_TRAIN)
    assert questions.training_rows == 1355  # some topics are asked several times in train
    assert set(r.not_checked) == {"ids", "contexts", "sentences"}
    assert "passage corpus" in r.not_checked["contexts"]
    train = _pairs(["tydiqa-goldp:train"], data_dir).set_index("example_id")
    for example in questions.examples:
        where = example["training"]
        assert where["dataset"] == "tydiqa-goldp-train"
        assert normalise(train.loc[where["example_id"], "question"]) == normalise(example["text"])


def test_tydi_dev_questions_in_miracl_match_the_readme(data_dir):
    r = check_leakage(_pairs(["tydiqa-goldp"], data_dir), "miracl", data_dir)
    hits = {lang: v["matched"] for lang, v in r.checks["questions"].by_lang.items()
            if v["matched"]}
    assert hits == {"bn": 1, "sw": 11}  # README: 1 bn and 11 sw questions


# --- user data: the text, not the source name ---------------------------------------


def test_xquad_r_sentence_inside_a_user_passage_is_caught(data_dir):
    bench = load_benchmark(get_benchmark("xquad-r"), data_dir, languages=["en"])
    k = next(i for i, s in enumerate(bench.cand_sentences) if len(s) >= 80)
    sentence = bench.cand_sentences[k]
    disguised = "  ".join(sentence.upper().split())  # case and spacing changed
    passage = f"Some unrelated opening sentence. {disguised} And an unrelated ending."
    frame = pd.DataFrame([_row("u1", "en", "Who wrote this?", passage),
                          _row("u2", "de", "Wer?", "Ein ganz anderer Absatz ohne Bezug.")])
    r = check_leakage(frame, "xquad-r", data_dir)
    assert not r.clean
    same = [i for i, s in enumerate(bench.cand_sentences) if normalise(s) == normalise(sentence)]
    s = r.checks["sentences"]
    assert s.matched == len(same) and s.training_rows == 1
    assert s.by_lang["en"]["matched"] == len(same)
    assert s.examples[0]["benchmark_id"] == bench.cand_ids[k]
    assert s.examples[0]["training"] == {"dataset": "jsonl-mine", "example_id": "u1",
                                         "lang": "en"}
    for name in ("ids", "questions", "contexts"):
        assert r.checks[name].checked and r.checks[name].matched == 0
    with pytest.raises(BabelirError) as info:
        enforce(r, allow_leakage=False)
    message = str(info.value)
    assert "xquad-r" in message and "--allow-leakage" in message
    assert "1 of 12,551 benchmark sentences" in message and bench.cand_ids[k] in message
    enforce(r, allow_leakage=True)  # allowed: passes


def test_negative_column_is_training_text_too(data_dir):
    bench = load_benchmark(get_benchmark("xquad-r"), data_dir, languages=["de"])
    row = _row("u1", "de", "Frage?", "Ein Absatz.")
    row["negative"] = "\ufeff" + bench.cand_contexts[0] + "\n"
    r = check_leakage(pd.DataFrame([row]), "xquad-r", data_dir)
    assert r.checks["contexts"].matched == 1 and r.checks["contexts"].training_rows == 1
    assert r.checks["sentences"].matched >= 1 and not r.clean


# --- missing benchmark files ---------------------------------------------------------


def test_missing_mlqa_r_is_reported_not_raised(data_dir, tmp_path):
    frame = _pairs(["xquad-r"], data_dir).head(50)
    r = check_leakage(frame, "mlqa-r", tmp_path)
    assert r.clean and not r.checked and r.verdict == "unchecked"
    assert set(r.not_checked) == set(CHECKS)
    assert "mlqa-r" in r.not_checked["ids"] and "lareqa/mlqa-r" in r.not_checked["ids"]
    assert set(r.missing_languages) == set(get_benchmark("mlqa-r").languages)
    enforce(r, allow_leakage=False)  # the caller decides what an unchecked report means
    r = check_leakage(frame, "miracl", tmp_path)
    assert not r.checked and "topics" in r.not_checked["questions"]


def test_partial_mlqa_r_checks_the_languages_present(tmp_path):
    folder = tmp_path / "lareqa" / "mlqa-r"
    folder.mkdir(parents=True)
    context = "Das ist der erste Satz des Absatzes hier. Und das ist der zweite Satz davon."
    qa = {"id": "abc123", "question": "Was ist das?", "answers": [{"text": "Das",
                                                                   "answer_start": 0}]}
    (folder / "de.json").write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": [qa], "sentence_breaks": [[0, 41], [42, len(context)]]}]}]}),
        encoding="utf-8")
    frame = pd.DataFrame([_row("abc123", "de", "Etwas anderes?", "Kein Treffer hier."),
                          _row("x", "es", "¿Qué?", "Texto: Und das ist der zweite Satz davon.")])
    r = check_leakage(frame, "mlqa-r", tmp_path)
    assert r.checked and r.benchmark_languages == ["de"]
    assert set(r.missing_languages) == {"ar", "en", "es", "hi", "vi", "zh"}
    assert r.checks["ids"].matched == 1 and r.checks["ids"].training_rows == 1
    assert r.checks["questions"].matched == 0 and r.checks["contexts"].matched == 0
    assert r.checks["sentences"].matched == 1 and r.checks["sentences"].total == 2


# --- the sentence search itself ------------------------------------------------------


@pytest.mark.parametrize("chunk", [64, 1 << 22])
def test_find_sentences_equals_brute_force(monkeypatch, chunk):
    monkeypatch.setattr(leakage, "_CHUNK_CHARS", chunk)
    rng = random.Random(7)
    alphabet = "ab cé漢\U0001F600"  # few letters: many shared prefixes; BMP and beyond
    passages = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
                for _ in range(300)]
    sentences = []
    for _ in range(400):
        p = rng.choice(passages)
        if len(p) >= 30 and rng.random() < 0.6:
            start = rng.randint(0, len(p) - 30)
            sentences.append(p[start:start + rng.randint(30, len(p) - start)])
        else:
            sentences.append("".join(rng.choice(alphabet) for _ in range(rng.randint(5, 45))))
    expected = {}
    for i, s in enumerate(sentences):
        if len(s) >= 30:
            owners = [j for j, p in enumerate(passages) if s in p]
            if owners:
                expected[i] = owners[0]
    assert expected and find_sentences(sentences, passages) == expected
    assert find_sentences([], passages) == {} and find_sentences(sentences, []) == {}


def test_normalise():
    assert normalise("\ufeff  Ｈｅｌｌｏ\u00a0\tWORLD\u200b \n") == "hello world"
    assert normalise("Straße") == normalise("STRASSE")


# --- report, errors ------------------------------------------------------------------


def test_report_json_round_trip(tydi_train_report, tmp_path):
    path = tmp_path / "run" / "leakage.json"
    write_report(tydi_train_report, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(tydi_train_report.to_dict()))
    assert data["verdict"] == "leak" and data["clean"] is False
    assert data["checks"]["questions"]["by_lang"]["en"] == {"matched": 658, "total": 799}
    assert data["checks"]["questions"]["leaks"] is True
    assert set(data["not_checked"]) == {"ids", "contexts", "sentences"}
    assert LeakageReport.from_dict(data).to_dict() == data
    assert not list(path.parent.glob(".leakage.json.tmp-*"))  # atomic: no leftovers


def test_enforce_message_names_counts_and_examples(tydi_train_report):
    with pytest.raises(BabelirError) as info:
        enforce(tydi_train_report, allow_leakage=False)
    message = str(info.value)
    assert "miracl" in message and "1,267 of 13,495 benchmark questions" in message
    assert "tydiqa-goldp-train/" in message and "pass --allow-leakage to train anyway" in message
    enforce(tydi_train_report, allow_leakage=True)


def test_bad_arguments(data_dir):
    frame = pd.DataFrame([_row("u1", "en", "q?", "p.")])
    with pytest.raises(BabelirError, match="unknown benchmark 'squad'.*xquad-r, mlqa-r, miracl"):
        check_leakage(frame, "squad", data_dir)
    with pytest.raises(BabelirError, match="needs the pairs column"):
        check_leakage(frame.drop(columns=["passage"]), "xquad-r", data_dir)
    empty = check_leakage(frame.iloc[:0], "xquad-r", data_dir)
    assert empty.clean and empty.checked and empty.training_rows == 0
