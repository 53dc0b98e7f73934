"""``babelir search``: readable hits (language, title, snippet), ``--json``, ``--languages``,
queries from the command line, a file and standard input, checked against a brute-force cosine
search over the corpus encoded independently (sentence-transformers' own ``encode``)."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from babelir.cli import main

pytestmark = pytest.mark.model

DOCS = {
    "de": ["Der Hund bellt laut im Garten.", "Berlin ist die Hauptstadt von Deutschland.",
           "Die Katze schläft auf dem Sofa.", "Der Rhein fließt durch viele Städte."],
    "en": ["The dog barks loudly in the garden.", "Berlin is the capital of Germany.",
           "The cat sleeps on the sofa. " * 12, "The Rhine flows through many cities."],
    "sw": ["Mbwa anabweka kwa sauti bustanini.", "Berlin ni mji mkuu wa Ujerumani.",
           "Paka analala kwenye sofa.", "Mto Rhine unapita katika miji mingi."],
}
QUERIES = ["Where does the dog bark?", "capital of Germany", "sleeping cat"]
K = 5


@pytest.fixture(scope="module")
def tiny_model():
    from babelir.models.tiny import build_tiny_model
    from babelir.settings import cache_dir

    # shared with tests/test_index.py: built once, kept in the cache (written atomically)
    folder = cache_dir() / "test-models" / "tiny-seed0-h32"
    if not (folder / "modules.json").is_file():
        build_tiny_model(folder, cache_dir())
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of one JSONL file per language (the language comes from the file name)."""
    folder = tmp_path_factory.mktemp("corpus")
    records = []
    for lang, texts in DOCS.items():
        lines = []
        for i, text in enumerate(texts):
            record = {"docid": f"{lang}{i}#0", "title": f"{lang.upper()} title {i}",
                      "text": text}
            records.append({**record, "lang": lang})
            lines.append(json.dumps(record, ensure_ascii=False))
        (folder / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder, records


@pytest.fixture(scope="module")
def index(tiny_model, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "idx"
    assert main(["index", "build", "--corpus", str(corpus[0]), "--out", str(out), "--model",
                 str(tiny_model), "--max-length", "64", "--shard-size", "5", "--dtype",
                 "float32"]) == 0
    return out


@pytest.fixture(scope="module")
def brute_force(tiny_model, corpus):
    """Scores of every query against every document: the model's own ``encode`` (its prompts
    as prefixes), cosine by numpy."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.max_seq_length = 64
    docs = model.encode([f"passage: {r['title']} {r['text']}" for r in corpus[1]])
    queries = model.encode([f"query: {q}" for q in QUERIES])
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return queries @ docs.T


def _search(index, capsys, *args) -> tuple[int, str, str]:
    code = main(["search", "--index", str(index), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(index, capsys, *args) -> list[dict]:
    code, out, _ = _search(index, capsys, "--json", *args)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def _check(results, brute_force, records, rows=None):
    """The hits are the brute-force top K (within ``rows``), with their documents."""
    assert [r["query"] for r in results] == QUERIES
    for q, result in enumerate(results):
        scores = brute_force[q].copy()
        if rows is not None:
            scores[[i for i in range(len(records)) if i not in rows]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:K]
        hits = result["hits"]
        assert [h["rank"] for h in hits] == list(range(1, K + 1))
        np.testing.assert_allclose([h["score"] for h in hits], scores[top], atol=1e-4)
        # near-ties may swap: each hit's own score must be its document's
        for hit in hits:
            row = next(i for i, r in enumerate(records) if r["docid"] == hit["docid"])
            assert hit["score"] == pytest.approx(brute_force[q, row], abs=1e-4)
            assert {k: hit[k] for k in ("lang", "title", "text")} == \
                {k: records[row][k] for k in ("lang", "title", "text")}


def test_json_hits_equal_brute_force(index, capsys, brute_force, corpus):
    results = _json(index, capsys, "-k", str(K), *QUERIES)
    _check(results, brute_force, corpus[1])
    assert set(results[0]["hits"][0]) == {"rank", "docid", "score", "lang", "title", "text"}


def test_languages_restrict_the_hits(index, capsys, brute_force, corpus):
    records = corpus[1]
    results = _json(index, capsys, "-k", str(K), "--languages", "de,sw", *QUERIES)
    rows = {i for i, r in enumerate(records) if r["lang"] in ("de", "sw")}
    _check(results, brute_force, records, rows)
    assert {h["lang"] for r in results for h in r["hits"]} <= {"de", "sw"}
    code, _, err = _search(index, capsys, "--languages", "fr", "q")
    assert code == 2 and "no document in fr" in err and "de (4)" in err


def test_queries_from_a_file_and_stdin(index, capsys, brute_force, corpus, tmp_path,
                                       monkeypatch):
    path = tmp_path / "queries.txt"
    path.write_text(QUERIES[0] + "\n\n" + "\n".join(QUERIES[1:]) + "\n", encoding="utf-8")
    from_file = _json(index, capsys, "-k", str(K), "--queries", str(path))
    _check(from_file, brute_force, corpus[1])
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(QUERIES) + "\n"))
    assert _json(index, capsys, "-k", str(K), "--queries", "-") == from_file
    mixed = _json(index, capsys, "-k", str(K), QUERIES[0], "--query", QUERIES[1],
                  "--queries", str(path))
    assert [r["query"] for r in mixed] == [*QUERIES[:2], *QUERIES]


def test_readable_output(index, capsys, corpus):
    code, out, _ = _search(index, capsys, "-k", "12", "sleeping cat", "Berlin")
    assert code == 0
    blocks = out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["query: sleeping cat", "query: Berlin"]
    lines = blocks[0].splitlines()[1:]
    assert len(lines) == 12
    by_docid = {r["docid"]: r for r in corpus[1]}
    for number, line in enumerate(lines, 1):
        rank, score, lang, docid, snippet = line.split(maxsplit=4)
        record = by_docid[docid]
        assert int(rank) == number and lang == record["lang"] and float(score) <= 1.0
        assert snippet.startswith(f"{record['title']} — ") and len(snippet) <= 120
        if len(record["text"]) > 120:
            assert snippet.endswith("…")


def test_bad_queries_are_clear_errors(index, capsys, tmp_path, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    for args, message in [(["--queries", str(empty)], "no queries in"),
                          (["--queries", str(tmp_path / "missing.txt")], "cannot read"),
                          ([], "no query"), (["-k", "0", "q"], "-k must be at least 1")]:
        code, out, err = _search(index, capsys, *args)
        assert code == 2 and message in err and "Traceback" not in err and not out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = _search(index, capsys, "--queries", "-")
    assert code == 2 and "no queries in standard input" in err


def test_an_index_without_documents_reads_its_corpus_once(index, capsys, corpus, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(index, folder)
    shutil.rmtree(folder / "documents")
    first = _json(folder, capsys, "-k", "3", "Berlin")
    assert (folder / "documents" / "store.json").is_file()
    assert first == _json(index, capsys, "-k", "3", "Berlin")
    # corpus gone and no store: docids and scores only, said on stderr
    shutil.rmtree(folder / "documents")
    record = json.loads((folder / "corpus-index.json").read_text())
    record["identity"]["corpus"]["path"] = str(tmp_path / "gone")
    (folder / "corpus-index.json").write_text(json.dumps(record))
    code, out, err = _search(folder, capsys, "--json", "-k", "3", "Berlin")
    hits = json.loads(out)["hits"]
    assert code == 0 and "docids only" in err
    assert [h["docid"] for h in hits] == [h["docid"] for h in first[0]["hits"]]
    assert all(h["lang"] is None and h["text"] is None for h in hits)
    code, _, err = _search(folder, capsys, "--languages", "de", "Berlin")
    assert code == 2 and "--languages needs" in err


def test_document_languages_from_records_paths_and_text(tmp_path):
    from babelir.retrieval.documents import corpus_documents, path_language

    assert path_language(tmp_path / "miracl-corpus-v1.0-sw" / "docs-0.jsonl.gz") == "sw"
    assert path_language(tmp_path / "de.jsonl.gz") == "de"
    assert path_language(tmp_path / "corpus.jsonl") is None
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"docid": "a", "text": "x", "lang": "yo"},
        {"docid": "b", "text": "Der Hund bellt sehr laut im Garten, und die Katze schläft."},
        {"docid": "c", "title": "Paris", "text": "La tour Eiffel est une tour de fer."},
    ]) + "\n", encoding="utf-8")
    assert [d["lang"] for d in corpus_documents(path)] == ["yo", "de", "fr"]
