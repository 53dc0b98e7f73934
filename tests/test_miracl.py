"""MIRACL: loader counts on the real topics/qrels, corpus streaming, and nDCG@10 / R@100
against ir_measures on a generated corpus built around the real sw judgments."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from babelir.data.miracl import LANGUAGES, iter_corpus, load_language, load_qrels, load_topics
from babelir.errors import DataError
from babelir.evaluation.miracl import evaluate_language, evaluate_miracl

# data README §3.5: queries, judgments, positives
COUNTS = {
    "ar": (2896, 29197, 5658), "bn": (411, 4206, 863), "de": (305, 3144, 811),
    "en": (799, 8350, 2326), "es": (648, 6443, 2987), "fa": (632, 6571, 1314),
    "fi": (1271, 12008, 2447), "fr": (343, 3429, 731), "hi": (350, 3494, 752),
    "id": (960, 9668, 3088), "ja": (860, 8354, 1790), "ko": (213, 3057, 547),
    "ru": (1252, 13100, 3560), "sw": (482, 5092, 910), "te": (828, 1606, 854),
    "th": (733, 7573, 1343), "yo": (119, 1188, 144), "zh": (393, 3928, 994),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_counts(data_dir, lang):
    m = load_language(data_dir, lang)
    assert (len(m.topics), m.n_judgments, m.n_positives) == COUNTS[lang]
    assert all(any(r > 0 for r in d.values()) for d in m.qrels.values())


def test_bad_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "qrels.tsv"
    bad.write_text("1\tQ0\t5#0\t1\n1\tQ0\t5#1\t2\n")
    with pytest.raises(DataError, match=r"qrels.tsv.*line 2"):
        load_qrels(bad)
    bad = tmp_path / "topics.tsv"
    bad.write_text("1\tok\n2 no tab\n")
    with pytest.raises(DataError, match=r"topics.tsv.*line 2"):
        load_topics(bad)


def _write_corpus(path, lang_data, n_distractors, seed=0):
    """A corpus in miracl-corpus JSONL: every judged docid of the language, plus distractors."""
    rng = np.random.default_rng(seed)
    docids = sorted(lang_data.judged_docids())
    docids += [f"{900000 + i}#{i % 7}" for i in range(n_distractors)]
    order = rng.permutation(len(docids))
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for i in order:
            d = docids[i]
            fh.write(json.dumps({"docid": d, "title": f"T{d.split('#')[0]}",
                                 "text": f"passage {d}"}, ensure_ascii=False) + "\n")
    return docids


def _fake_run(lang_data, corpus_docids, k=100, seed=1):
    """Deterministic fake retriever: scores every passage, positives a little higher."""
    rng = np.random.default_rng(seed)
    docids = np.asarray(corpus_docids)
    run = {}
    for qid, judged in lang_data.qrels.items():
        bonus = np.array([0.95 * judged.get(d, 0) + 0.02 * (d in judged) for d in docids])
        scores = rng.random(len(docids)) + bonus
        top = np.argsort(-scores)[:k]
        run[qid] = (docids[top].tolist(), scores[top])
    return run


def test_metrics_equal_ir_measures_on_generated_corpus(data_dir, tmp_path):
    import ir_measures
    from ir_measures import R, nDCG

    sw = load_language(data_dir, "sw")
    path = tmp_path / "sw.jsonl.gz"
    _write_corpus(path, sw, n_distractors=3000)
    chunks = list(iter_corpus(path, chunk_size=1000))
    assert all(len(c) <= 1000 for c in chunks)
    corpus_ids = [r["docid"] for c in chunks for r in c]
    assert set(corpus_ids) >= sw.judged_docids() and len(corpus_ids) == len(set(corpus_ids))
    run = _fake_run(sw, corpus_ids)
    ours = evaluate_language(run, sw.qrels)
    qrels = [ir_measures.Qrel(q, d, r) for q, judged in sw.qrels.items() for d, r in judged.items()]
    trec = [ir_measures.ScoredDoc(q, d, float(s)) for q, (ds, ss) in run.items()
            for d, s in zip(ds, ss)]
    ref = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], qrels, trec)
    assert ours["n_queries"] == 482
    assert ours["ndcg@10"] == pytest.approx(ref[nDCG @ 10], abs=1e-9)
    assert ours["recall@100"] == pytest.approx(ref[R @ 100], abs=1e-9)
    assert 0.05 < ours["ndcg@10"] < 0.99  # neither trivial nor perfect


def test_missing_query_and_ties_and_aggregates():
    qrels = {"a": {"1#0": 1, "1#1": 0}, "b": {"2#0": 1, "2#1": 1}}
    # a: the relevant passage ties with a non-relevant one -> pessimistically second
    run = {"a": (["1#1", "1#0"], [1.0, 1.0])}  # b missing -> 0
    r = evaluate_language(run, qrels)
    assert r["per_query"]["ndcg@10"][0] == pytest.approx(1 / np.log2(3))
    assert r["per_query"]["ndcg@10"][1] == 0.0
    assert r["recall@100"] == pytest.approx(0.5)
    res = evaluate_miracl({"x": run, "y": {"a": (["1#0"], [2.0])}, "z": {}},
                          {"x": qrels, "y": qrels, "z": qrels})
    vals = [res["per_language"][l]["ndcg@10"] for l in "xyz"]
    assert res["summary"]["mean.ndcg@10"] == pytest.approx(np.mean(vals))
    assert res["summary"]["median.ndcg@10"] == pytest.approx(np.median(vals))


def test_iter_corpus_plain_and_errors(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"docid": "1#0", "title": "t", "text": "x"}\n\n'
                    '{"docid": "1#1", "title": "t", "text": "y"}\n')
    assert [[r["docid"] for r in c] for c in iter_corpus(path, chunk_size=1)] == [["1#0"], ["1#1"]]
    path.write_text('{"docid": "1#0", "text": "x"}\n{"docid": 3}\n')
    with pytest.raises(DataError, match=r"c.jsonl.*line 2"):
        list(iter_corpus(path))


def test_cli_bm25_eval_and_dense_index_search(data_dir, tmp_path, capsys):
    """`babelir eval --benchmark miracl:sw`, `babelir index build` and `babelir search`
    end to end on a generated corpus holding the real sw judged docids."""
    import json

    from babelir.cli import main
    from babelir.models.tiny import build_tiny_model
    from babelir.settings import cache_dir

    lang_data = load_language(data_dir, "sw")
    corpus = tmp_path / "sw.jsonl.gz"
    docids = _write_corpus(corpus, lang_data, n_distractors=300)
    # make every positive passage repeat its query, so BM25 must find it
    query_of = {d: q for q, judged in lang_data.qrels.items() for d, rel in judged.items() if rel}
    with gzip.open(corpus, "wt", encoding="utf-8") as fh:
        for d in docids:
            text = lang_data.topics[query_of[d]] if d in query_of else f"passage {d}"
            fh.write(json.dumps({"docid": d, "title": "", "text": text}) + "\n")
    out = tmp_path / "eval"
    assert main(["eval", "--model", "bm25", "--benchmark", "miracl:sw", "--corpus",
                 str(tmp_path / "{lang}.jsonl.gz"), "--data-dir", str(data_dir), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["languages"] == ["sw"] and summary["mean.recall@100"] > 0.9
    assert summary["mean.ndcg@10"] > 0.5
    assert (out / "run.sw.trec").is_file()
    model = build_tiny_model(tmp_path / "tiny", cache_dir())
    index = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(corpus), "--out", str(index), "--model",
                 str(model), "--kind", "hnsw"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--query", "Rais wa Tanzania ni nani?",
                 "-k", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("#") >= 3  # three MIRACL docids (article#passage) listed


@pytest.mark.slow
def test_online_corpus_download_path(tmp_path, monkeypatch):
    """Without --corpus, --online fetches miracl/miracl-corpus through huggingface_hub; with
    no network (offline mode here) that is a clear error naming the dataset, and without
    --online the message says what to give."""
    import huggingface_hub.constants

    from babelir.data.miracl import HF_CORPUS_DATASET, download_corpus
    from babelir.evaluation.miracl import corpus_for

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="could not download the sw passages.*miracl-corpus"):
        corpus_for(None, "sw", online=True, cache_root=tmp_path)
    with pytest.raises(DataError, match="--corpus .* or --online"):
        corpus_for(None, "sw", online=False, cache_root=tmp_path)
    with pytest.raises(DataError, match="unknown MIRACL language"):
        download_corpus("xx", tmp_path)
    # a snapshot already in the cache (as a download leaves it) is used offline
    calls = {}

    def fake_snapshot(repo_id, repo_type, allow_patterns, cache_dir):
        calls.update(repo_id=repo_id, repo_type=repo_type, patterns=allow_patterns)
        folder = tmp_path / "snap" / "miracl-corpus-v1.0-sw"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "docs-0.jsonl.gz").write_bytes(gzip.compress(b'{"docid": "1#0", "title": '
                                                               b'"t", "text": "x"}\n'))
        return str(tmp_path / "snap")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot)
    path = corpus_for(None, "sw", online=True, cache_root=tmp_path)
    assert calls == {"repo_id": HF_CORPUS_DATASET, "repo_type": "dataset",
                     "patterns": ["miracl-corpus-v1.0-sw/*"]}
    assert [r["docid"] for chunk in iter_corpus(path) for r in chunk] == ["1#0"]
