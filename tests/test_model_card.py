"""Model cards of trained runs (``training.card``) and ``babelir publish``.

A tiny run trained by ``babelir train``: its card is sentence-transformers' own, loads with
``huggingface_hub.ModelCard``, carries the training record (strategy, α, seeds, leakage check)
and, once the run is evaluated, the numbers of its ``results.json`` in the ``model-index``.
Publishing is followed up to the network: the two Hub calls are replaced, and what would be
uploaded is checked.
"""

from __future__ import annotations

import json
import types

import pytest
import yaml
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.utils import filter_repo_objects

from babelir.cli import main
from babelir.evaluation.st_evaluator import lareqa_metrics, metric_names
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir
from babelir.training.card import write_model_card
from babelir.training.config import load_config
from babelir.training.run import train

pytestmark = pytest.mark.model  # the tests train or load models


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """(run folder, final model, the card as training wrote it, results.json of its eval)."""
    root = tmp_path_factory.mktemp("card")
    tiny = build_tiny_model(root / "tiny", cache_dir())
    pairs = root / "pairs.parquet"
    assert main(["data", "build-pairs", "--source", "mlqa-test", "--languages", "de,es,zh",
                 "--data-dir", str(data_dir), "--out", str(pairs)]) == 0
    config = load_config(None, {"pairs": str(pairs), "out": str(root / "run"),
                                "model": str(tiny), "batch_size": 8, "steps": 4,
                                "eval_every": 2, "save_every": 2, "dev_batches": 2,
                                "max_length": 32, "learning_rate": 1e-3,
                                "data_dir": str(data_dir), "device": "cpu",
                                "select_on": "dev_loss"})  # merge: the default (0.7)
    final = train(config)
    train_card = (final / "README.md").read_text(encoding="utf-8")
    out = root / "run" / "eval-xquad-r"
    assert main(["eval", "--model", str(final), "--languages", "de,en", "--max-articles", "1",
                 "--backend", "torch", "--no-embedding-cache", "--data-dir", str(data_dir),
                 "--out", str(out)]) == 0
    return root / "run", final, train_card, json.loads((out / "results.json").read_text())


def test_training_writes_the_library_card(run):
    run_dir, _, train_card, _ = run
    card = ModelCard(train_card)
    data = card.data.to_dict()
    assert data["library_name"] == "sentence-transformers"
    assert data["pipeline_tag"] == "sentence-similarity"
    assert {"babelir", "loss:MultipleNegativesRankingLoss"} <= set(data["tags"])
    assert data["language"] == ["de", "es", "zh"]
    assert "model-index" not in data  # not evaluated yet
    record = data["babelir"]
    history = json.loads((run_dir / "history.json").read_text())
    leakage = json.loads((run_dir / "leakage.json").read_text())
    assert record["strategy"] == "hybrid" and record["alpha"] == 0.5
    assert record["seeds"] == {"training": 0, "pairs_split": 0}
    assert record["training_data"]["sources"] == ["mlqa-test"]
    assert record["selected_step"] == history["best_step"]
    assert record["selection"] == "lowest dev loss"
    assert record["prefixes"] == {"query": "query: ", "passage": "passage: "}
    assert record["leakage_check"]["verdict"] == leakage["verdict"] == "clean"
    assert record["leakage_check"]["checks"]["ids"] == {
        "matched": leakage["checks"]["ids"]["matched"], "total": leakage["checks"]["ids"]["total"]}
    assert "## babelir training record" in card.text
    assert "| batch strategy | hybrid, α = 0.5 |" in card.text
    assert "MultipleNegativesRankingLoss" in card.text and "`steps`: 4" in card.text
    assert str(run_dir.parent) not in card.text  # no path of this machine
    # the default recipe merges (WiSE-FT 0.7): the card says so below its metadata
    assert "> Merged by `babelir merge`: (1 - 0.7) * BASE (tiny)" in card.text


def _check_eval_results(card: ModelCard, results: dict) -> None:
    expected = lareqa_metrics(results["summary"])
    assert sorted(expected) == sorted(metric_names())
    got = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert got == expected  # the numbers of results.json, exactly
    for result in card.data.eval_results:
        assert (result.task_type, result.dataset_type, result.dataset_split) == \
            ("information-retrieval", "xquad-r", "test")
        assert result.dataset_config == "de,en; first 1 articles"
    metadata = yaml.safe_load(str(card).split("---")[1])  # the Hub's model-index, as written
    written = {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert written == expected


def test_card_carries_the_evaluation_results(run):
    run_dir, final, _, results = run
    path = write_model_card(final, run_dir)
    card = ModelCard.load(path)
    _check_eval_results(card, results)
    assert card.data.model_name == "run"
    assert "#### Information Retrieval" in card.text  # the evaluation table of the body
    assert card.data.to_dict()["babelir"]["strategy"] == "hybrid"


def test_publish_uploads_the_model_and_its_card(run, monkeypatch):
    run_dir, final, _, results = run
    # a model folder as an older babelir saved it: the "no pooler" setting is missing
    config_path = final / "sentence_bert_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({k: v for k, v in config.items() if k != "model_args"}))
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)

    def upload_folder(self, *, repo_id, folder_path, ignore_patterns=None, **kwargs):
        from pathlib import Path

        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*")
                       if p.is_file())
        calls["upload"] = {"repo_id": repo_id, "folder": Path(folder_path),
                           "files": list(filter_repo_objects(files,
                                                             ignore_patterns=ignore_patterns)),
                           "card": (Path(folder_path) / "README.md").read_text()}
        return types.SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/x")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert main(["publish", str(run_dir), "--repo-id", "someone/babelir-tiny",
                 "--license", "mit"]) == 0
    assert calls["create_repo"] == ("someone/babelir-tiny",
                                    {"private": None, "exist_ok": True, "repo_type": "model"})
    upload = calls["upload"]
    assert upload["repo_id"] == "someone/babelir-tiny" and upload["folder"] == final
    assert {"README.md", "model.safetensors", "config.json", "modules.json",
            "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer.json",
            "1_Pooling/config.json"} <= set(upload["files"])
    assert not any(name.startswith(".babelir") for name in upload["files"])
    card = ModelCard(upload["card"])
    _check_eval_results(card, results)
    assert card.data.license == "mit"
    assert 'SentenceTransformer("someone/babelir-tiny")' in card.text
    assert json.loads(config_path.read_text())["model_args"] == {"add_pooling_layer": False}


def test_publish_refuses_what_it_cannot_describe(tmp_path):
    from babelir.errors import BabelirError
    from babelir.training.publish import publish

    with pytest.raises(BabelirError, match="owner/name"):
        publish(tmp_path, "no-owner")
    with pytest.raises(BabelirError, match="neither a babelir run folder"):
        publish(tmp_path, "someone/x")
