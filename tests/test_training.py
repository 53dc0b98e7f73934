"""Training end to end with a tiny random encoder (real XLM-R tokenizer): run folder,
exact resume, DDP sharding on 2 CPU processes, and errors before any step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from babelir.cli import main
from babelir.data.pairs import make_pairs
from babelir.errors import BabelirError
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir
from babelir.training.config import load_config
from babelir.training.run import train

LANGS = ["de", "es", "zh"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", cache_dir())


def _config(tiny_model, pairs_file, data_dir, out, **overrides):
    values = dict(pairs=str(pairs_file), out=str(out), model=str(tiny_model), batch_size=8,
                  steps=6, eval_every=3, save_every=3, dev_batches=2, max_length=32,
                  learning_rate=1e-3, data_dir=str(data_dir), device="cpu",
                  select_on="dev_loss", merge=1.0)  # the recipe's merge: its own test
    values.update(overrides)
    return load_config(None, values)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_run_folder_and_hybrid_batches(tiny_model, pairs_file, data_dir, tmp_path):
    out = tmp_path / "run"
    final = train(_config(tiny_model, pairs_file, data_dir, out, steps=8))
    names = {p.name for p in out.iterdir()}
    assert {"config.yaml", "run.json", "data_summary.json", "leakage.json", "train_log.jsonl",
            "history.json", "final", "checkpoints"} <= names
    assert (final / "README.md").is_file() and (final / "model.safetensors").is_file()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9))
    drawn = json.loads((out / "data_summary.json").read_text())["drawn"]
    assert drawn["batches"] == 8 and set(drawn["kinds"]) <= {"mono", "cross"}
    assert json.loads((out / "leakage.json").read_text())["clean"] is True
    history = json.loads((out / "history.json").read_text())
    assert [d["step"] for d in history["dev"]] == [3, 6, 8]
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(final), device="cpu")
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    before = _weights(tiny_model)
    after = _weights(final)
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[key], after[key])  # it trained
    emb = "embeddings.word_embeddings.weight"
    assert torch.equal(before[emb], after[emb])  # frozen by default


def test_resume_reproduces_the_uninterrupted_run(tiny_model, pairs_file, data_dir, tmp_path):
    straight = train(_config(tiny_model, pairs_file, data_dir, tmp_path / "a",
                             select_best=False))
    stopped = _config(tiny_model, pairs_file, data_dir, tmp_path / "b", select_best=False,
                      stop_after=3)
    train(stopped)
    assert not (tmp_path / "b" / "final").exists()
    resumed = train(_config(tiny_model, pairs_file, data_dir, tmp_path / "b",
                            select_best=False), resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log_a = (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()
    log_b = (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in log_a] == [json.loads(x)["loss"] for x in log_b]


def test_two_processes_share_each_global_batch(tiny_model, pairs_file, data_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "-m", "babelir", "train", "--pairs", str(pairs_file), "--out", str(out),
           "--model", str(tiny_model), "--batch-size", "8", "--steps", "3", "--eval-every", "0",
           "--save-every", "3", "--max-length", "32", "--data-dir", str(data_dir),
           "--device", "cpu", "--log-batches", "--strategy", "xy"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [[json.loads(x) for x in (out / f"batches.rank{r}.jsonl").read_text().splitlines()]
             for r in (0, 1)]
    from babelir.sampling import make_sampler
    from babelir.training.examples import TrainingTexts
    from babelir.training.run import load_training_pairs

    config = _config(tiny_model, pairs_file, data_dir, out, strategy="xy")
    texts = TrainingTexts.from_pairs(load_training_pairs(config)[0])
    sampler = make_sampler("xy", texts.pool, 8, 0)
    assert ranks[0][-1]["weights_checksum"] == ranks[1][-1]["weights_checksum"]
    for step in range(3):
        zero, one = ranks[0][step]["examples"], ranks[1][step]["examples"]
        assert len(zero) == len(one) == 4 and not set(zero) & set(one)
        expected = [texts.pool.example_ids[i] for i in sampler.batch(step).example_idx]
        assert zero + one == expected


@pytest.mark.parametrize("overrides, message", [
    ({"alpha": 1.5}, "alpha must be in"),
    ({"batch_size": 5000}, "cannot form a batch"),
    ({"languages": ["de", "fr"]}, "no rows for language"),
    ({"strategy": "mixed"}, "unknown"),
    ({"lora_rank": -1}, "lora_rank must be at least 0"),
    ({"lora_rank": 4, "lora_targets": ["query", "qkv"]}, r"lora_targets \['qkv'\] name no"),
])
def test_bad_settings_fail_before_any_step(tiny_model, pairs_file, data_dir, tmp_path,
                                           overrides, message):
    out = tmp_path / "bad"
    with pytest.raises(BabelirError, match=message):
        train(_config(tiny_model, pairs_file, data_dir, out, **overrides))
    assert not (out / "checkpoints").exists()


def test_select_on_a_pool_the_data_folder_lacks_fails_before_anything_is_written(
        tiny_model, pairs_file, tmp_path, monkeypatch, capsys):
    """The default recipe selects on mlqa-val: without MLQA in the data folder, exit 2 with
    the way out (--select-on dev_loss), and no run folder."""
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("BABELIR_CACHE", str(tmp_path / "cache"))  # no cached data either
    out = tmp_path / "run"
    assert main(["train", "--pairs", str(pairs_file), "--model", str(tiny_model), "--out",
                 str(out), "--data-dir", str(empty), "--device", "cpu", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "select_on mlqa-val:mean_map" in err and "--select-on dev_loss" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("corrupt, message", [
    (lambda df: df.assign(question=df["question"].where(df.index != df.index[0], "  ")), "empty"),
    (lambda df: pd.concat([df, df.iloc[:1]]), "duplicate"),
    (lambda df: df.assign(lang=df["lang"].where(df.index != df.index[0], "xx")), "xx"),
    (lambda df: df.assign(lang=df["lang"].where(df.index != df.index[0], None)), "lang"),
])
def test_bad_pairs_files_fail_before_any_step(tiny_model, pairs_file, data_dir, tmp_path,
                                              corrupt, message):
    bad = tmp_path / "bad.parquet"
    corrupt(pd.read_parquet(pairs_file)).to_parquet(bad)
    with pytest.raises(BabelirError, match=message):
        train(_config(tiny_model, bad, data_dir, tmp_path / "out"))


def test_leakage_guard_refuses_xquad_r_training(tiny_model, data_dir, tmp_path):
    pairs, _ = make_pairs(["xquad-r"], data_dir, languages=["en", "de"])
    path = tmp_path / "xquad.parquet"
    pairs.to_parquet(path)
    with pytest.raises(BabelirError, match="allow-leakage"):
        train(_config(tiny_model, path, data_dir, tmp_path / "leaky"))
    assert json.loads((tmp_path / "leaky" / "leakage.json").read_text())["clean"] is False


def test_wise_ft_merge_makes_final_from_the_start_and_the_selected_model(
        tiny_model, pairs_file, data_dir, tmp_path):
    """merge = lambda: final/ = (1 - lambda) * start + lambda * tuned/ (the selected step)."""
    out = tmp_path / "run"
    final = train(_config(tiny_model, pairs_file, data_dir, out, steps=4, merge=0.25))
    start, tuned, merged = _weights(tiny_model), _weights(out / "tuned"), _weights(final)
    assert merged.keys() == tuned.keys()
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(start[key], tuned[key])  # it trained, so the merge is not trivial
    for name in merged:
        expected = 0.75 * start[name].double() + 0.25 * tuned[name].double()
        assert torch.allclose(merged[name].double(), expected, atol=1e-6, rtol=0), name
    record = json.loads((final / "babelir-merge.json").read_text())
    assert record["weight"] == 0.25 and record["tuned"]["name"] == str(out / "tuned")
    assert json.loads((out / "history.json").read_text())["best_step"] in (3, 4)


def test_the_default_recipe_is_the_chosen_one():
    """`babelir train` defaults = configs/hybrid.yaml's recipe (results/xquadr-recipe)."""
    import yaml

    from babelir.training.config import TrainConfig

    from pathlib import Path

    recipe = yaml.safe_load((Path(__file__).parents[1] / "configs" / "hybrid.yaml")
                            .read_text(encoding="utf-8"))
    defaults = TrainConfig().to_dict()
    for name in ("steps", "select_on", "merge", "eval_every", "save_every", "batch_size",
                 "learning_rate", "freeze_embeddings", "max_length"):
        assert defaults[name] == recipe[name], name
    assert defaults["merge"] < 1.0 and defaults["select_on"].startswith("mlqa-val:")


def test_cli_with_yaml_config(tiny_model, pairs_file, data_dir, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"pairs: {pairs_file}\nmodel: {tiny_model}\nstrategy: xx-mono\n"
                      f"batch_size: 4\nsteps: 2\neval_every: 0\nsave_every: 2\nmax_length: 16\n")
    out = tmp_path / "cli"
    assert main(["train", "--config", str(config), "--out", str(out), "--data-dir",
                 str(data_dir), "--device", "cpu"]) == 0
    assert (out / "final" / "model.safetensors").is_file()
    saved = (out / "config.yaml").read_text()
    assert "strategy: xx-mono" in saved and "batch_size: 4" in saved
    assert main(["train", "--config", str(config), "--alpha", "2"]) == 2


def test_cached_loss_and_hard_negatives(tiny_model, pairs_file, data_dir, tmp_path):
    from babelir.retrieval.mining import mine_hard_negatives

    pairs = pd.read_parquet(pairs_file)
    keep = pairs["example_id"].drop_duplicates().iloc[:400]
    mined = mine_hard_negatives(pairs[pairs["example_id"].isin(keep)], method="bm25",
                                show_progress=False)
    path = tmp_path / "mined.parquet"
    mined.to_parquet(path)
    out = tmp_path / "neg"
    final = train(_config(tiny_model, path, data_dir, out, hard_negatives=True, cached_loss=True,
                          mini_batch_size=4, steps=3, eval_every=0, strategy="xx-mono"))
    assert (final / "model.safetensors").is_file()
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 3
    with pytest.raises(BabelirError, match="mine-negatives"):
        train(_config(tiny_model, pairs_file, data_dir, tmp_path / "x", hard_negatives=True))


def test_select_on_names_a_validation_pool_never_a_test_benchmark():
    from babelir.errors import BabelirError
    from babelir.training.trainer import parse_select_on

    assert parse_select_on("dev_loss") is None
    assert parse_select_on("tydi-val:mono_map") == ("tydi-val", "mono_map")
    assert parse_select_on("mlqa-val:mean_map") == ("mlqa-val", "mean_map")
    for bad in ("xquad-r:mean_map", "mlqa-val:nope", "mlqa-val"):
        with pytest.raises(BabelirError, match="select_on"):
            parse_select_on(bad)


LORA_QUERY = "encoder.layer.0.attention.self.query"


def test_lora_trains_low_rank_updates_and_saves_plain_merged_models(
        tiny_model, pairs_file, data_dir, tmp_path):
    """Only the targeted layers change, each by a matrix of rank <= r; the saved model is a
    plain folder (original names) whose weight is W + (alpha / r) B A, by hand from the
    factors in the checkpoint; it encodes like the adapted model did."""
    out = tmp_path / "lora"
    final = train(_config(tiny_model, pairs_file, data_dir, out, lora_rank=2, lora_alpha=6.0,
                          lora_targets=["query", "value"], select_best=False))
    before, after = _weights(tiny_model), _weights(final)
    assert after.keys() == before.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"encoder.layer.{i}.attention.self.{m}.weight"
                       for i in (0, 1) for m in ("query", "value")}
    for key in changed:
        update = (after[key] - before[key]).double()  # fp32 rounding: tiny singular values
        assert torch.linalg.matrix_rank(update, rtol=1e-4) <= 2
    state = torch.load(out / "checkpoints" / "step-0000006" / "trainer_state.pt",
                       weights_only=True)
    a = state["lora"][f"{LORA_QUERY}.lora_A.default.weight"]
    b = state["lora"][f"{LORA_QUERY}.lora_B.default.weight"]
    assert a.shape == (2, 32) and b.shape == (32, 2)
    expected = before[f"{LORA_QUERY}.weight"] + (6.0 / 2) * b @ a
    assert torch.allclose(after[f"{LORA_QUERY}.weight"], expected, atol=1e-6)
    checkpoint = _weights(out / "checkpoints" / "step-0000006" / "model")
    assert checkpoint.keys() == before.keys()  # a checkpoint's model/ is plain too
    assert torch.equal(checkpoint[f"{LORA_QUERY}.weight"], after[f"{LORA_QUERY}.weight"])


def test_lora_starts_at_the_untuned_model(tiny_model):
    """B starts at zero: the adapted model encodes exactly like the one it adapts."""
    from sentence_transformers import SentenceTransformer

    from babelir.training.lora import add_lora, has_lora, merged_copy

    config = load_config(None, {"pairs": "x", "model": str(tiny_model), "lora_rank": 4})
    plain = SentenceTransformer(str(tiny_model), device="cpu")
    adapted = SentenceTransformer(str(tiny_model), device="cpu")
    add_lora(adapted, config)
    trainable = [n for n, p in adapted.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    texts = ["query: wo liegt Bern?", "passage: Bern ist die Bundesstadt der Schweiz."]
    assert torch.allclose(adapted.encode(texts, convert_to_tensor=True),
                          plain.encode(texts, convert_to_tensor=True), atol=1e-6)
    assert has_lora(adapted) and not has_lora(merged_copy(adapted)) and has_lora(adapted)


def test_lora_resume_reproduces_the_uninterrupted_run(tiny_model, pairs_file, data_dir,
                                                      tmp_path):
    import shutil

    from safetensors.torch import save_file

    lora = {"lora_rank": 2, "select_best": False}
    straight = train(_config(tiny_model, pairs_file, data_dir, tmp_path / "a", **lora))
    train(_config(tiny_model, pairs_file, data_dir, tmp_path / "b", stop_after=3, **lora))
    with pytest.raises(BabelirError, match="lora_rank: 2 in the run, 4 now"):
        train(_config(tiny_model, pairs_file, data_dir, tmp_path / "b",
                      **{**lora, "lora_rank": 4}), resume=True)
    resumed = train(_config(tiny_model, pairs_file, data_dir, tmp_path / "b", **lora),
                    resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the factors belong to their starting weights: another model under the same path fails
    start = tmp_path / "start"
    shutil.copytree(tiny_model, start)
    train(_config(start, pairs_file, data_dir, tmp_path / "c", stop_after=3, **lora))
    weights = _weights(start)
    weights[f"{LORA_QUERY}.weight"] = weights[f"{LORA_QUERY}.weight"] + 0.01
    save_file(weights, str(start / "model.safetensors"))
    with pytest.raises(BabelirError, match="not the ones its LoRA adapters were trained on"):
        train(_config(start, pairs_file, data_dir, tmp_path / "c", **lora), resume=True)
