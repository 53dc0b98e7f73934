"""The Python API (``babelir.evaluate``, ``babelir.train``, ``EvaluationResult``) and the README
examples: the "Python API" block is executed as written, and its numbers must equal
``babelir eval``'s on the same model folder and subset; the ir_measures block must re-score
its run files to babelir's own MRR@10 and nDCG@10."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import babelir
from babelir.errors import BabelirError
from babelir.evaluation.result import EvaluationResult

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(heading: str, contains: str = "") -> str:
    """The first ```python block of the README section ``heading`` that holds ``contains``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = re.search(r"\n#{1,3} ", text[start + 1:])
    section = text[start:start + 1 + end.start()] if end else text[start:]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if contains in b]
    assert blocks, f"no python block with {contains!r} under {heading!r}"
    return blocks[0]


def _numbers(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if isinstance(v, float)}


# ---------------------------------------------------------------------- README, end to end
@pytest.mark.model
def test_readme_python_api_equals_the_command_line(tmp_path, monkeypatch, capsys):
    from babelir.cli import main
    from babelir.eval_job import EvalConfig, run_eval

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(readme_block("### Python API", "babelir.evaluate(model"), namespace)  # noqa: S102
    result = namespace["result"]
    assert isinstance(result, EvaluationResult) and result.out == Path("runs/e5-en-de")
    assert "Mul mAP" in capsys.readouterr().out

    assert main(["eval", "--model", namespace["folder"], "--backend", "torch", "--languages",
                 "en,de", "--max-articles", "2", "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert _numbers(result.summary) == _numbers(cli["summary"])  # to the last digit
    for setting in ("mono", "cross", "multi", "pairs"):
        assert result.results[setting] == cli[setting]
    written = json.loads((tmp_path / "runs" / "e5-en-de" / "summary.json").read_text())
    assert _numbers(written) == _numbers(cli["summary"])

    bm25 = run_eval(EvalConfig(model="bm25", languages=["en", "de"], max_articles=2,
                               out=str(tmp_path / "bm25")))
    assert _numbers(namespace["bm25"].summary) == _numbers(bm25["summary"])
    assert namespace["bm25"].out is None
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["e5-en-de"]

    # the run-file example re-scores that folder to babelir's own numbers
    namespace = {}
    block = readme_block("### Re-scoring the run files (ir_measures, ranx)",
                         "ir_measures")
    exec(block, namespace)  # noqa: S102 (the README's own code)
    scores = {str(measure): value for measure, value in namespace["scores"].items()}
    assert scores["RR@10"] == pytest.approx(result["multi.mrr@10"], abs=1e-9)
    assert scores["nDCG@10"] == pytest.approx(result["multi.ndcg@10"], abs=1e-9)


# ---------------------------------------------------------------------- EvaluationResult
def _lareqa_results() -> dict:
    langs = ["de", "en"]
    metrics = {"map": 0.5, "recall@1": 0.25, "n_queries": 4.0}
    return {
        "summary": {"mono.map": 0.8, "cross.map": 0.6, "multi.map": 0.5, "mono.recall@1": 0.7,
                    "cross.recall@1": 0.5, "multi.recall@10": 0.9,
                    "multi.rank_distance": 3.25, "multi.own_language@10": 0.75, "model": "m", "benchmark": "xquad-r",
                    "n_queries": 8, "languages": langs, "incomplete_pairs": False},
        "languages": langs,
        "mono": {x: dict(metrics) for x in langs}, "cross": {x: dict(metrics) for x in langs},
        "multi": {x: {**metrics, "rank_distance": 3.0, "own_language@10": 0.75} for x in langs},
        "pairs": {x: {y: {**metrics, "map": 0.1 * (i + 2 * j)} for j, y in enumerate(langs)}
                  for i, x in enumerate(langs)},
        "out": None,
    }


def test_result_tables_frame_and_repr():
    result = EvaluationResult(_lareqa_results())
    assert repr(result) == ("EvaluationResult(xquad-r, model='m', 2 languages, 8 queries: "
                            "Mo mAP 0.800, Cr mAP 0.600, Mul mAP 0.500, Mo R@1 0.700, "
                            "Cr R@1 0.500, Mul R@10 0.900, rank distance 3.2)")
    assert result["multi.map"] == 0.5 and result.out is None and result.languages == ["de", "en"]
    table = result.table("multi")
    assert list(table.index) == ["de", "en"] and table.loc["en", "rank_distance"] == 3.0
    assert "n_queries" not in table.columns
    pairs = result.pairs("map")
    assert pairs.loc["en", "de"] == pytest.approx(0.1) and pairs.loc["de", "en"] == 0.2
    frame = result.to_dataframe()
    assert list(frame.columns) == ["setting", "metric", "value", "query_lang", "candidate_lang"]
    summary = frame[frame.query_lang.isna()]
    assert set(summary.setting) == {"mono", "cross", "multi"} and len(summary) == 8
    mono = frame[(frame.setting == "mono") & frame.query_lang.notna()]
    assert (mono.query_lang == mono.candidate_lang).all() and len(mono) == 4
    pair = frame[frame.setting == "pair"].set_index(["query_lang", "candidate_lang", "metric"])
    assert pair.loc[("en", "de", "map"), "value"] == pytest.approx(0.1)
    assert "n_queries" not in set(frame.metric)
    assert "Table 1" in result.report()
    with pytest.raises(ValueError, match="setting must be"):
        result.table("pool")


def test_result_of_a_corpus_benchmark():
    per_language = {"sw": {"ndcg@10": 0.4, "recall@100": 0.8, "n_queries": 3, "n_in_run": 3,
                           "per_query": {"qid": ["1"]}}}
    result = EvaluationResult({"summary": {"mean.ndcg@10": 0.4, "median.ndcg@10": 0.4,
                                           "model": "m", "benchmark": "miracl:sw"},
                               "languages": ["sw"], "per_language": per_language})
    assert "mean nDCG@10 0.400" in repr(result)
    assert result.table().loc["sw", "ndcg@10"] == 0.4
    frame = result.to_dataframe()
    assert set(frame.setting) == {"mean", "median", "mono"}
    with pytest.raises(ValueError, match="no language pairs"):
        result.pairs()


# ---------------------------------------------------------------------- errors, laziness
@pytest.mark.slow  # the first call imports torch (the retrievers)
@pytest.mark.parametrize("kwargs, message", [
    ({"benchmark": "squad"}, "unknown benchmark 'squad'"),
    ({"colour": "blue"}, "unknown option"),
    ({"max_length": 64}, "max_length: not read by benchmark xquad-r with the bm25"),
])
def test_bad_evaluate_calls_are_clear_errors(kwargs, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    benchmark = kwargs.pop("benchmark", "xquad-r")
    with pytest.raises(BabelirError, match=message):
        babelir.evaluate("bm25", benchmark, **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # imports torch (the retrievers)
def test_evaluate_names_what_it_takes():
    with pytest.raises(BabelirError, match="model must be a SentenceTransformer"):
        babelir.evaluate(42)


@pytest.mark.model  # imports sentence-transformers (evaluation.st_evaluator)
def test_a_loaded_model_encodes_with_torch_only():
    import torch

    from babelir.api import loaded_model_retriever

    class Loaded(torch.nn.Module):  # what the retriever reads of a SentenceTransformer
        prompts: ClassVar[dict] = {"query": "q: ", "passage": "p: "}
        max_seq_length = 512
        device = torch.device("cpu")

    retriever = loaded_model_retriever(Loaded(), {"max_length": 64})
    assert retriever.encoder.backend == "torch" and retriever.encoder.max_length == 64
    assert (retriever.encoder.model.query_prefix, retriever.encoder.model.passage_prefix) == \
        ("q: ", "p: ")
    assert retriever.describe()["model_location"] == "Loaded"
    with pytest.raises(BabelirError, match="encodes with torch"):
        loaded_model_retriever(Loaded(), {"backend": "onnx"})
    with pytest.raises(BabelirError, match="int8"):
        loaded_model_retriever(Loaded(), {"precision": "int8"})


@pytest.mark.slow  # a fresh interpreter
def test_import_babelir_stays_light():
    code = ("import sys, babelir; assert 'babelir.api' not in sys.modules; "
            "assert 'torch' not in sys.modules; assert callable(babelir.evaluate); "
            "assert 'evaluate' in dir(babelir); print(babelir.EvaluationResult.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "EvaluationResult"


# ---------------------------------------------------------------------- train
@pytest.mark.slow  # imports the training stack (torch)
def test_train_takes_a_config_a_dict_or_a_yaml_file(tmp_path, monkeypatch):
    from babelir.training.config import TrainConfig

    seen = []
    monkeypatch.setattr("babelir.training.run.train",
                        lambda config, resume=False: seen.append((config, resume)) or Path("f"))
    expected = TrainConfig(pairs="p.parquet", steps=7, strategy="xy")
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("pairs: p.parquet\nsteps: 3\nstrategy: xy\n", encoding="utf-8")
    assert babelir.train(expected) == Path("f")
    babelir.train({"pairs": "p.parquet", "steps": 7, "strategy": "xy"}, resume=True)
    babelir.train(yaml_file, steps=7)
    babelir.train(str(yaml_file), steps=7)
    assert [c for c, _ in seen] == [expected] * 4 and [r for _, r in seen] == [False, True,
                                                                                False, False]
    with pytest.raises(BabelirError, match="unknown setting"):
        babelir.train({"pairs": "p.parquet", "stepz": 7})
    with pytest.raises(BabelirError, match="steps must be a whole number"):
        babelir.train(expected, steps="7")
    with pytest.raises(BabelirError, match="must be a TrainConfig"):
        babelir.train(7)
    assert len(seen) == 4
