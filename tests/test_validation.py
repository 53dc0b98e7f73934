"""Bad input gives one clear error naming the file and the record, never a traceback or
wrong numbers: hand-made bad files for every loader, training configs checked field by field
before any work, and the command line's exit code 2 without a traceback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from babelir.cli import main
from babelir.data.lareqa import check_max_articles, load_benchmark, load_language_file
from babelir.data.miracl import iter_corpus, load_qrels, load_topics
from babelir.data.pairs import load_mlqa_test, load_squad_file
from babelir.data.registry import get_benchmark
from babelir.data.validate import read_npy, text_lines
from babelir.errors import BabelirError, DataError
from babelir.training.config import check_value, load_config
from babelir.training.leakage import check_leakage
from babelir.translate.cache import TranslationCache
from babelir.translate.pipeline import read_jsonl, read_squad, translate_source

CONTEXT = "The first sentence is here. The second one follows it."
BREAKS = [[0, 27], [28, len(CONTEXT)]]
GOOD_QA = {"id": "q1", "question": "What follows?",
           "answers": [{"text": "The second one", "answer_start": 28}]}


def _squad_root(qa: dict | None = None, **paragraph) -> dict:
    para = {"context": CONTEXT, "sentence_breaks": BREAKS, "qas": [qa or GOOD_QA], **paragraph}
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": [para]}]}


def _write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def _answer(**answer) -> dict:
    return {**GOOD_QA, "answers": [{"text": "The second one", **answer}]}


BAD_SQUAD = [  # (root, record named, what is wrong), for every SQuAD-format loader
    ({"data": {"title": "T"}}, "top level", r"'data' must be a list, got dict"),
    (_squad_root(_answer(answer_start="28")), "q1", r"answer_start must be .*'28'"),
    (_squad_root(_answer(answer_start=True)), "q1", r"answer_start must be .*True"),
    (_squad_root({**GOOD_QA, "answers": {"text": "x", "answer_start": 28}}), "q1",
     r"'answers' must be a list, got dict"),
]


# --- LAReQA benchmark files ------------------------------------------------------------


@pytest.mark.parametrize("root, record, message", BAD_SQUAD)
def test_lareqa_file_errors_name_the_file_and_record(tmp_path, root, record, message):
    path = _write(tmp_path / "en.json", root)
    with pytest.raises(DataError, match=rf"en\.json, record [^:]*{record}[^:]*: {message}"):
        load_language_file(path, "en")


def test_lareqa_good_file_and_other_bad_shapes(tmp_path):
    path = _write(tmp_path / "en.json", _squad_root())
    part = load_language_file(path, "en")
    assert part.query_xids == ["q1"] and part.query_gold == [1]  # answer in sentence 1
    for root, message in (
        (_squad_root(qas={"q1": GOOD_QA}), r"en/a0/p0: 'qas' must be a list"),
        ({"data": [{"paragraphs": {"p": 1}}]}, r"article 0: 'paragraphs' must be a list"),
        (_squad_root(sentence_breaks=[["0", "27"]]), r"en/a0/p0: bad sentence_breaks entry 0"),
    ):
        _write(path, root)
        with pytest.raises(DataError, match=rf"en\.json, record {message}"):
            load_language_file(path, "en")


@pytest.mark.parametrize("bad", [-1, 0, True, 2.5, "3"])
def test_max_articles_must_be_at_least_one(data_dir, bad):
    with pytest.raises(BabelirError, match=r"max_articles must be a whole number >= 1"):
        load_benchmark(get_benchmark("xquad-r"), data_dir, languages=["en"], max_articles=bad)
    with pytest.raises(BabelirError, match=r"max_articles must be"):
        check_max_articles(bad)


def test_max_articles_keeps_the_first_n(data_dir):
    path = data_dir / "lareqa" / "xquad-r" / "en.json"
    first = json.loads(path.read_text(encoding="utf-8"))["data"][0]
    wanted = [qa["id"] for p in first["paragraphs"] for qa in p["qas"]]
    assert load_language_file(path, "en", max_articles=1).query_xids == wanted
    assert check_max_articles(None) is None and check_max_articles(3) == 3


def test_cli_refuses_negative_max_articles(capsys):
    # -1 used to slice off the last article: 1,169 of 1,190 questions scored, silently
    with pytest.raises(SystemExit) as info:
        main(["eval", "--model", "bm25", "--max-articles", "-1"])
    assert info.value.code == 2
    assert "--max-articles: must be at least 1, got -1" in capsys.readouterr().err


# --- SQuAD files of the pairs builder and of the translator ----------------------------


@pytest.mark.parametrize("root, record, message", BAD_SQUAD)
def test_pairs_squad_errors_name_the_file_and_record(tmp_path, root, record, message):
    path = _write(tmp_path / "user.json", root)
    with pytest.raises(DataError, match=rf"user\.json, record [^:]*{record}[^:]*: {message}"):
        load_squad_file(path, "en", positive="sentence")


@pytest.mark.parametrize("root, record, message", BAD_SQUAD[1:])
def test_translate_squad_errors_name_the_file_and_record(tmp_path, root, record, message):
    path = _write(tmp_path / "src.json", root)
    assert [e.gold for e in read_squad(_write(tmp_path / "ok.json", _squad_root()), "en")] == [[1]]
    with pytest.raises(DataError, match=rf"src\.json, record [^:]*{record}[^:]*: {message}"):
        read_squad(path, "en")


def test_mlqa_data_dict_is_an_error(tmp_path):
    folder = tmp_path / "mlqa" / "test"
    folder.mkdir(parents=True)
    _write(folder / "test-context-de-question-de.json", {"data": {"x": 1}})
    with pytest.raises(DataError, match=r"test-context-de-question-de\.json, record top level: "
                                        r"'data' must be a list"):
        load_mlqa_test(tmp_path)


# --- JSON lines of the translator -------------------------------------------------------

GOOD_LINE = {"id": "e1", "lang": "en", "question": "Who?", "passage": "A passage. Two."}


@pytest.mark.parametrize("bad, message", [
    ("{oops", r"malformed JSON"),
    ('["a"]', r"a line must be a JSON object"),
    ({"id": "e2", "question": "q?", "passage": "p."}, r"missing field 'lang'"),
    ({"id": "e2", "lang": 7, "question": "q?", "passage": "p."}, r"'lang' must be a language"),
    ({"lang": "en", "question": "q?", "passage": "p."}, r"missing field 'id'"),
    ({"id": "e2", "lang": "en", "question": "q?", "passage": ["p."]},
     r"'passage' must be a string or null"),
])
def test_translate_jsonl_errors_name_the_file_and_line(tmp_path, bad, message):
    lines = [json.dumps(GOOD_LINE), "", bad if isinstance(bad, str) else json.dumps(bad)]
    path = _write(tmp_path / "src.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"src\.jsonl, record line 3: {message}"):
        read_jsonl(path)
    _write(path, json.dumps(GOOD_LINE) + "\n")
    lang, examples = read_jsonl(path)
    assert lang == "en" and [e.sentences for e in examples] == [["A passage.", "Two."]]


def test_translate_limit_must_be_at_least_one(tmp_path):
    path = _write(tmp_path / "src.jsonl", json.dumps(GOOD_LINE) + "\n")
    with pytest.raises(BabelirError, match=r"limit must be a whole number >= 1.*-1"):
        translate_source(str(path), ["es"], engine=None, out_dir=tmp_path / "out", limit=-1)
    assert not (tmp_path / "out").exists()


# --- the sqlite translation cache ------------------------------------------------------


def test_corrupt_translation_cache_is_named(tmp_path):
    good = tmp_path / "ok.sqlite"
    with TranslationCache(good) as cache:
        cache.put_many("e@1", "en", "es", {"hello": "hola"})
        assert cache.get_many("e@1", "en", "es", ["hello", "bye"]) == {"hello": "hola"}
    bad = tmp_path / "translations.sqlite"
    bad.write_bytes(b"this is not an sqlite database " * 200)
    with pytest.raises(DataError, match=r"translations\.sqlite: corrupt translation cache "
                                        r".*delete the file"):
        TranslationCache(bad)
    # damage after the header: the first page that is read is reported
    data = bytearray(good.read_bytes())
    data[100:len(data)] = b"\xff" * (len(data) - 100)
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"translations\.sqlite: .*translation cache"):
        with TranslationCache(bad) as cache:
            cache.get_many("e@1", "en", "es", ["hello"])


# --- MIRACL: corpus, topics, qrels ------------------------------------------------------


def _corpus_lines(n: int) -> bytes:
    return b"".join(json.dumps({"docid": f"{i}#0", "title": "T", "text": f"passage {i} " * 5})
                    .encode() + b"\n" for i in range(n))


@pytest.mark.slow
def test_truncated_gzip_corpus_names_the_file_and_line(tmp_path):
    whole = gzip.compress(_corpus_lines(20_000))
    good = tmp_path / "sw.jsonl.gz"
    good.write_bytes(whole)
    assert sum(len(c) for c in iter_corpus(good, chunk_size=5000)) == 20_000
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # a download cut short
    with pytest.raises(DataError, match=r"cut\.jsonl\.gz, record line \d+: truncated gzip"):
        sum(len(c) for c in iter_corpus(cut))
    broken = bytearray(whole)
    broken[200:260] = b"\x00" * 60
    (tmp_path / "broken.jsonl.gz").write_bytes(bytes(broken))
    with pytest.raises(DataError, match=r"broken\.jsonl\.gz, record line \d+: corrupt"):
        sum(len(c) for c in iter_corpus(tmp_path / "broken.jsonl.gz"))


def test_non_utf8_corpus_and_topics_name_the_line(tmp_path):
    latin = "qué".encode("latin-1")
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(_corpus_lines(2) + b'{"docid": "9#0", "text": "' + latin + b'"}\n')
    with pytest.raises(DataError, match=r"c\.jsonl, record line 3: not UTF-8"):
        list(iter_corpus(corpus))
    folder = tmp_path / "miracl"
    folder.mkdir()
    topics = folder / "topics.miracl-v1.0-es-dev.tsv"
    topics.write_bytes(b"1\tuna pregunta\n\n3\t" + latin + b"\n")
    with pytest.raises(DataError, match=r"topics\.miracl-v1\.0-es-dev\.tsv, record line 3: "
                                        r"not UTF-8"):
        load_topics(topics)
    with pytest.raises(DataError, match=r"topics\.miracl-v1\.0-es-dev\.tsv, record line 3"):
        check_leakage(_one_row_frame(), "miracl", tmp_path)  # the guard reads them too
    qrels = tmp_path / "q.tsv"
    qrels.write_bytes(b"1\tQ0\t5#0\t1\n2\tQ0\t" + latin + b"#1\t0\n")
    with pytest.raises(DataError, match=r"q\.tsv, record line 2: not UTF-8"):
        load_qrels(qrels)
    topics.write_text("1\tuna pregunta\n3\tqué\n", encoding="utf-8")
    assert load_topics(topics) == {"1": "una pregunta", "3": "qué"}
    assert list(text_lines(topics)) == [(1, "1\tuna pregunta"), (2, "3\tqué")]


def _one_row_frame():
    import pandas as pd

    return pd.DataFrame([{"dataset": "d", "example_id": "1", "lang": "es",
                          "question": "¿Qué?", "passage": "Un texto."}])


# --- .npy files (embedding cache) ------------------------------------------------------


def test_read_npy_names_a_truncated_or_foreign_file(tmp_path):
    path = tmp_path / "emb.npy"
    array = np.arange(40, dtype=np.float32).reshape(10, 4)
    np.save(path, array)
    assert np.array_equal(read_npy(path, ndim=2, rows=10), array)
    with pytest.raises(DataError, match=r"emb\.npy: expected 11 rows"):
        read_npy(path, rows=11)
    data = path.read_bytes()
    for damaged in (data[:-6], data[:40], b"", b"plain text, not numpy"):
        path.write_bytes(damaged)
        with pytest.raises(DataError, match=r"emb\.npy: truncated or corrupt \.npy file"):
            read_npy(path)
    with pytest.raises(DataError, match=r"none\.npy: file not found"):
        read_npy(tmp_path / "none.npy")


# --- training configs ---------------------------------------------------------------------


@pytest.mark.parametrize("line, message", [
    ("batch_size: '32'", r"batch_size must be a whole number, got '32' \(str\)"),
    ("steps: 3.5", r"steps must be a whole number, got 3\.5 \(float\)"),
    ("steps: true", r"steps must be a whole number, got True"),
    ("save_every: 0", r"save_every must be at least 1, got 0"),
    ("eval_every: -5", r"eval_every must be at least 0, got -5"),
    ("learning_rate: 0", r"learning_rate must be positive, got 0\.0"),
    ("learning_rate: fast", r"learning_rate must be a finite number, got 'fast'"),
    ("learning_rate: .inf", r"learning_rate must be a finite number"),
    ("alpha: '0.5x'", r"alpha must be a finite number"),
    ("freeze_embeddings: 1", r"freeze_embeddings must be true or false, got 1 \(int\)"),
    ("languages: [en, 7]", r"languages must be a list of non-empty strings"),
    ("model: 12", r"model must be a string, got 12 \(int\)"),
    ("stop_after: 0", r"stop_after must be at least 1"),
    ("precision: fp8", r"precision is unknown: 'fp8'; valid: fp32, bf16, fp16"),
    ("strategy: mixed", r"strategy is unknown: 'mixed'"),
    ("benchmark: squad", r"benchmark is unknown: 'squad'"),
    ("max_grad_norm: -1", r"max_grad_norm must be at least 0"),
    ("weight_decay: -0.1", r"weight_decay must be at least 0"),
])
def test_training_config_fields_are_checked(tmp_path, line, message):
    path = _write(tmp_path / "train.yaml", f"pairs: p.parquet\n{line}\n")
    with pytest.raises(BabelirError, match=rf"config .*train\.yaml: {message}"):
        load_config(path, {})


def test_training_config_conversions(tmp_path):
    path = _write(tmp_path / "train.yaml", "pairs: p.parquet\nlearning_rate: 3e-5\n"
                  "languages: en\nalpha: 1\nprecision: bf16\ndata_dir: null\n")
    config = load_config(path, {})
    assert config.learning_rate == 3e-5 and isinstance(config.learning_rate, float)
    assert config.languages == ["en"] and config.alpha == 1.0 and config.precision == "bf16"
    assert load_config(path, {"languages": "de, es,"}).languages == ["de", "es"]
    # a command-line value replaces the file's before the check
    _write(path, "pairs: p.parquet\nsteps: 0\nsave_every: 0\n")
    with pytest.raises(BabelirError) as info:
        load_config(path, {"steps": 5}, source="command line")
    assert str(info.value) == f"config {path}: save_every must be at least 1, got 0"
    with pytest.raises(BabelirError, match=r"invalid training settings:\n  config .*steps must"
                                           r".*\n  command line: save_every must"):
        load_config(path, {"save_every": 0}, source="command line")
    assert check_value(None, int | None) is None and check_value("-2.5E-3", float) == -2.5e-3
    with pytest.raises(ValueError, match="must be a whole number"):
        check_value(None, int)


@pytest.mark.slow  # a new Python process
def test_training_config_errors_on_the_command_line(tmp_path):
    path = _write(tmp_path / "bad.yaml", "pairs: p.parquet\nbatch_size: '32'\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-m", "babelir", "train", "--config", str(path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"config {path}: batch_size must be a whole number, got '32'" in done.stderr


@pytest.mark.slow  # a new Python process
def test_bad_jsonl_source_on_the_command_line(tmp_path):
    source = _write(tmp_path / "mine.jsonl", json.dumps({"id": "1", "lang": "en",
                                                         "question": "q?", "passage": "p"})
                    + "\n" + json.dumps({"id": "2", "question": "q?", "passage": "p"}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-m", "babelir", "data", "build-pairs", "--source",
                           f"jsonl:{source}", "--data-dir", str(tmp_path), "--out",
                           str(tmp_path / "p.parquet")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"file {source}, record line 2: missing field 'lang'" in done.stderr
    assert not (tmp_path / "p.parquet").exists()


def _experiment(tmp_path: Path, overrides: str, eval_block: str = "") -> Path:
    return _write(tmp_path / "exp.yaml", f"""
name: t
results: {tmp_path / 'results'}
work: {tmp_path / 'work'}
pairs:
  out: {tmp_path / 'pairs.parquet'}
train:
  overrides:
{overrides}
systems:
  - name: xy
    strategy: xy
    seeds: [0]
{eval_block}""")


def test_experiment_training_settings_are_checked(tmp_path):
    from babelir.experiment import load_experiment

    path = _experiment(tmp_path, "    learning_rate: 3e-5\n    steps: 10")
    run = load_experiment(path).runs["xy-s0"]
    assert run.train_values["learning_rate"] == 3e-5 and run.train_values["steps"] == 10
    path = _experiment(tmp_path, "    steps: 3.5")
    with pytest.raises(BabelirError, match=rf"experiment {path}: steps must be a whole number"):
        load_experiment(path)
    path = _experiment(tmp_path, "    steps: 10", "eval:\n  max_articles: -1\n")
    with pytest.raises(BabelirError, match=rf"experiment {path}: `eval.max_articles`: "
                                           r"max_articles must be a whole number >= 1"):
        load_experiment(path)
    assert not (tmp_path / "work").exists() and not (tmp_path / "results").exists()


def test_experiment_target_is_checked(tmp_path):
    from babelir.experiment import load_experiment

    good = "target:\n  system: xy\n  benchmark: xquad-r\n  at_least: {mono.map: 0.8}\n"
    exp = load_experiment(_experiment(tmp_path, "    steps: 10", good))
    assert exp.target == {"system": "xy", "benchmark": "xquad-r",
                          "at_least": {"mono.map": 0.8}, "at_most": {}}
    for bad in ("target:\n  system: hybrid\n  benchmark: xquad-r\n",
                "target:\n  system: xy\n  benchmark: xquad-r\n  at_most: {multi.map: high}\n",
                "target:\n  system: xy\n  benchmark: xquad-r\n  goal: 1\n"):
        path = _experiment(tmp_path, "    steps: 10", bad)
        with pytest.raises(BabelirError, match=rf"experiment {path}: `target"):
            load_experiment(path)
    # merge is a system's setting in an experiment, never a training override
    path = _experiment(tmp_path, "    merge: 0.5")
    with pytest.raises(BabelirError, match="`merge` is a system's setting"):
        load_experiment(path)
