"""Experiment runs with post-processing (merge / centre), validation pools and
validation-only systems: the plan, and a tiny end-to-end run."""

from __future__ import annotations

import json

import pytest
from conftest import write_tiny_experiment

from babelir import experiment
from babelir.errors import BabelirError
from babelir.experiment import load_experiment, run_experiment
from babelir.models.tiny import build_tiny_model
from babelir.retrieval.centring import CENTRING_FILE
from babelir.retrieval.dense import model_fingerprint
from babelir.settings import cache_dir

LANGS = ["de", "es", "zh"]


def test_recipe_config_plans_shared_trainings():
    exp = load_experiment("configs/experiments/xquadr-recipe.yaml")
    assert exp.validation == ["mlqa-val", "xnli-val", "tydi-val"]
    runs = exp.runs
    assert runs["base-wise0.5-s0"].source == "base-s0" and runs["base-wise0.5-s0"].post == {
        "merge": 0.5}
    assert runs["base-centred-s0"].source == "base-s0"
    assert runs["zeroshot-centred"].post == {"centre": True}
    assert runs["distill-s0"].source is None  # another training (distill_weight)
    assert runs["distill-s0"].train_values["distill_weight"] == 1.0
    assert all(runs[n].evaluate == "validation" for n in ("base-s0", "distill-s0"))
    assert exp.runs["base-s0"].train_values["select_on"] == "mlqa-val:mean_map"


def _config(tmp_path, tiny_model, data_dir, systems, validation=("mlqa-val",), **extra):
    return write_tiny_experiment(tmp_path, tiny_model, data_dir, systems, steps=2,
                                 eval_articles=3, name="tiny-recipe",
                                 validation=list(validation),
                                 eval={"languages": ["de", "es"], "max_articles": 3,
                                       "max_length": 32}, **extra)


def _sentence_set(tmp_path) -> dict:
    """A second pair set: MLQA + TyDi GoldP train en with answer-sentence positives, less the
    tydi-val pool's paragraphs and questions."""
    return {"sent": {"out": str(tmp_path / "pairs-sent.parquet"),
                     "sources": ["mlqa-test", "tydiqa-goldp:en:train"], "positive": "sentence",
                     "languages": ["de", "en", "es"], "drop_overlap": ["tydi-val"]}}


def test_pair_sets_are_planned_as_their_own_trainings(tmp_path, data_dir):
    systems = [{"name": "hybrid", "strategy": "hybrid", "alpha": 0.5},
               {"name": "sent", "strategy": "hybrid", "alpha": 0.5, "pairs": "sent"},
               {"name": "sent-wise", "strategy": "hybrid", "alpha": 0.5, "pairs": "sent",
                "merge": 0.5}]
    exp = load_experiment(_config(tmp_path, "m", data_dir, systems,
                                  pair_sets=_sentence_set(tmp_path)))
    runs = exp.runs
    assert runs["hybrid-s0"].train_values["pairs"] == str(tmp_path / "pairs.parquet")
    assert runs["sent-s0"].train_values["pairs"] == str(tmp_path / "pairs-sent.parquet")
    assert runs["sent-s0"].source is None and runs["sent-s0"].pairs == "sent"  # no alias
    assert runs["sent-wise-s0"].source == "sent-s0"  # shares the sent training
    assert runs["sent-s0"].to_dict()["pairs"] == "sent"
    assert "pairs" not in runs["hybrid-s0"].to_dict()
    for bad, message in [({"name": "x", "strategy": "xy", "pairs": "nope"}, "not a pair set"),
                         ({"name": "x", "model": "bm25", "pairs": "sent"}, "fine-tuned")]:
        with pytest.raises(BabelirError, match=message):
            load_experiment(_config(tmp_path, "m", data_dir, [bad],
                                    pair_sets=_sentence_set(tmp_path)))
    same = {"sent": {**_sentence_set(tmp_path)["sent"], "out": str(tmp_path / "pairs.parquet")}}
    with pytest.raises(BabelirError, match="its own `out`"):
        load_experiment(_config(tmp_path, "m", data_dir, systems[:1], pair_sets=same))


@pytest.mark.parametrize("bad, message", [
    ({"name": "x", "strategy": "hybrid", "merge": 1.5}, "in \\[0, 1\\]"),
    ({"name": "x", "model": "bm25", "centre": True}, "bm25 takes no"),
    ({"name": "x", "model": "m", "merge": 0.5}, "needs a fine-tuned system"),
    ({"name": "x", "strategy": "xy", "evaluate": "test"}, "all or validation"),
])
def test_bad_post_settings(tmp_path, data_dir, bad, message):
    with pytest.raises(BabelirError, match=message):
        load_experiment(_config(tmp_path, "m", data_dir, [bad]))
    with pytest.raises(BabelirError, match="`validation`"):
        load_experiment(_config(tmp_path, "m", data_dir, [{"name": "y", "strategy": "xy"}],
                                validation=("xquad-r",)))


def test_post_processed_runs_end_to_end(tmp_path, data_dir, monkeypatch):
    tiny = build_tiny_model(tmp_path / "tiny", cache_dir())
    path = _config(tmp_path, tiny, data_dir, [
        {"name": "zeroshot-centred", "model": str(tiny), "centre": True},
        {"name": "hybrid", "strategy": "hybrid", "alpha": 0.5},
        {"name": "wise", "strategy": "hybrid", "alpha": 0.5, "merge": 0.5,
         "evaluate": "validation"},
        {"name": "sent", "strategy": "hybrid", "alpha": 0.5, "pairs": "sent",
         "evaluate": "validation"},
    ], pair_sets=_sentence_set(tmp_path))
    trained = []
    real_train = experiment._train
    monkeypatch.setattr(experiment, "_train", lambda c, r: trained.append(c.out) or
                        real_train(c, r))
    results = run_experiment(path, report=False)
    # one training shared by hybrid and wise, one on the other pair set
    assert [p.rsplit("/", 1)[-1] for p in trained] == ["hybrid-s0", "sent-s0"]
    sent = json.loads((results / "pairs-sent.summary.json").read_text())
    assert sent["positive"] == "sentence" and sent["drop_overlap"]["benchmarks"] == ["tydi-val"]
    by_reason = sent["drop_overlap"]["by_benchmark"]["tydi-val"]["by_reason"]
    assert by_reason["contexts"]["examples"] > 0  # the pool's paragraphs went
    assert by_reason["questions"]["examples"] > 0
    assert (results / "leakage" / "sent" / "xquad-r.json").is_file()
    kept = (results / "grid" / "sent-s0" / "config.yaml").read_text()
    assert "pairs-sent.parquet" in kept
    work = tmp_path / "work"
    record = json.loads((work / "wise-s0" / "model" / "babelir-merge.json").read_text())
    assert record["weight"] == 0.5 and record["tuned"]["location"].endswith("hybrid-s0/final")
    assert (work / "zeroshot-centred" / "model" / CENTRING_FILE).is_file()
    # a centred copy shares the base model's embedding cache (same fingerprint)
    assert model_fingerprint(str(work / "zeroshot-centred" / "model")) == \
        model_fingerprint(str(tiny))
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["validation"] == ["mlqa-val"]
    assert manifest["runs"]["wise-s0"]["done"] == {"mlqa-val": True}
    assert manifest["runs"]["hybrid-s0"]["done"] == {"mlqa-val": True, "xquad-r": True}
    assert manifest["runs"]["wise-s0"]["source"] == "hybrid-s0"
    assert (results / "grid" / "wise-s0" / "config.yaml").is_file()  # the training it used
    assert not (results / "grid" / "wise-s0" / "eval" / "xquad-r").exists()
    centred = json.loads((results / "grid" / "zeroshot-centred" / "eval" / "mlqa-val" /
                          "summary.json").read_text())
    assert 0.0 <= centred["multi.map"] <= 1.0
    evaluated = []
    monkeypatch.setattr(experiment, "_evaluate", lambda c: evaluated.append(c) or {})
    run_experiment(path)  # everything done: nothing trained or evaluated again; the report
    assert evaluated == [] and len(trained) == 2
    report = (results / "REPORT.md").read_text(encoding="utf-8")
    assert "**Training data `sent`** (pair set, sentence positives, drop_overlap tydi-val)" \
        in report and "pairs-sent.summary.json" in report
    assert "training pairs `sent`" in report and "**Leakage of `sent`**" in report
