"""`babelir eval` end to end on a real subset of XQuAD-R, with the bundled model and BM25."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from babelir.cli import main
from babelir.eval_job import EvalConfig, run_eval
from babelir.io import atomic_dir

SUMMARY_KEYS = ["mono.map", "cross.map", "multi.map", "mono.recall@1", "cross.recall@1",
                "multi.recall@10", "multi.rank_distance", "model", "benchmark", "candidate_mode",
                "max_length", "n_queries", "n_candidates"]
SUBSET = ["--languages", "en,de,zh", "--max-articles", "2"]


@pytest.fixture(scope="module")
def e5_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "e5"
    assert main(["eval", "--model", "multilingual-e5-small", "--data-dir", str(data_dir),
                 "--out", str(out), *SUBSET]) == 0
    return out


def test_outputs_are_complete(e5_run):
    names = {p.name for p in e5_run.iterdir()}
    assert {"summary.json", "results.json", "tables.md", "heatmap_map.png",
            "run.multilingual.trec", "qrels.multilingual.trec", "per_query.npz"} <= names
    summary = json.loads((e5_run / "summary.json").read_text())
    for key in SUMMARY_KEYS:
        assert key in summary
    for key in SUMMARY_KEYS[:7]:
        assert isinstance(summary[key], float) and summary[key] == summary[key]
    assert summary["candidate_mode"] == "sentence" and summary["max_length"] == 128
    results = json.loads((e5_run / "results.json").read_text())
    assert set(results["pairs"]) == {"de", "en", "zh"}
    assert results["retriever"]["query_prefix"] == "query: "


def test_zero_shot_e5_is_strong_in_mono_and_language_biased(e5_run):
    summary = json.loads((e5_run / "summary.json").read_text())
    assert summary["mono.map"] > 0.7
    assert summary["mono.map"] > summary["cross.map"] > summary["multi.map"]
    assert summary["multi.rank_distance"] > 1.0
    assert summary["multi.own_language@10"] > 1 / 3  # more own-language hits than uniform


def test_trec_files_rescore_to_the_reported_multilingual_recall(e5_run):
    import ir_measures
    from ir_measures import R

    qrels = list(ir_measures.read_trec_qrels(str(e5_run / "qrels.multilingual.trec")))
    run = list(ir_measures.read_trec_run(str(e5_run / "run.multilingual.trec")))
    summary = json.loads((e5_run / "summary.json").read_text())
    assert len(qrels) == summary["n_queries"] * 3  # 3 parallel gold sentences per query
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([R @ 10], qrels, run)}
    data = np.load(e5_run / "per_query.npz")
    ours = dict(zip(data["query_ids"], data["multi.recall@10"]))
    assert set(per_query) == set(ours)
    for qid, value in per_query.items():
        assert ours[qid] == pytest.approx(value)


def test_bm25_run_and_its_cross_lingual_weakness(data_dir, tmp_path):
    out = tmp_path / "bm25"
    assert main(["eval", "--model", "bm25", "--data-dir", str(data_dir), "--out", str(out),
                 *SUBSET]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mono.map"] > 0.5
    assert summary["cross.map"] < summary["mono.map"] - 0.2  # lexical match fails across scripts
    assert summary["max_length"] is None


def test_bad_language_is_a_clear_error_and_writes_nothing(data_dir, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["eval", "--model", "bm25", "--data-dir", str(data_dir), "--out", str(out),
                 "--languages", "en,xx"]) == 2
    assert "unknown language code(s) xx" in capsys.readouterr().err
    assert not out.exists()


def test_unloadable_model_is_a_clear_error(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "never"
    assert main(["eval", "--model", str(tmp_path / "no-such-model"), "--data-dir", str(data_dir),
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *SUBSET]) == 2
    assert "could not load model" in capsys.readouterr().err
    assert not out.exists()


def test_bad_file_leaves_no_output(data_dir, tmp_path):
    root = tmp_path / "data" / "lareqa" / "xquad-r"
    root.mkdir(parents=True)
    shutil.copy(data_dir / "lareqa" / "xquad-r" / "en.json", root)
    (root / "de.json").write_text("{not json")
    out = tmp_path / "out"
    with pytest.raises(Exception, match="de.json"):
        run_eval(EvalConfig(model="bm25", data_dir=str(tmp_path / "data"), out=str(out),
                            languages=["en", "de"]))
    assert not out.exists()


def test_atomic_dir_keeps_the_old_output_on_failure(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("boom")
    assert (final / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left
