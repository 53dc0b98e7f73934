"""Encoding and training precision: the backends agree with PyTorch fp32 within what each
precision allows, the embedding cache keeps precisions apart, and bf16 training resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from babelir.data.pairs import make_pairs
from babelir.errors import BabelirError
from babelir.models.registry import resolve_model
from babelir.models.tiny import build_tiny_model
from babelir.retrieval.dense import DenseEncoder, EmbeddingCache, resolve_backend
from babelir.settings import cache_dir
from babelir.training.config import load_config
from babelir.training.run import make_accelerator, train

TEXTS = ["Wo ist der Eiffelturm?", "埃菲尔铁塔在哪里？", "Where is the Eiffel tower?",
         "Der Turm wurde 1889 für die Weltausstellung gebaut und ist 330 Meter hoch.",
         "Кто построил башню?", "The stock market fell sharply today."]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", cache_dir())


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory):
    """One cache root for the module: each (model, precision) is exported once."""
    return tmp_path_factory.mktemp("cache")


def _encoder(tiny_model, root, precision="fp32", backend="auto", embeddings=None):
    choice = resolve_model(str(tiny_model), cache_dir())
    return DenseEncoder(choice, max_length=64, batch_size=4, device="cpu",
                        cache=EmbeddingCache(embeddings) if embeddings else None,
                        precision=precision, backend=backend, cache_root=root)


def test_backends_agree_with_pytorch_fp32(tiny_model, onnx_root):
    reference = _encoder(tiny_model, onnx_root, backend="torch")
    ref = reference.encode(TEXTS, "passage")
    onnx = _encoder(tiny_model, onnx_root, "fp32", "onnx")
    assert onnx.backend == "onnx"
    cosine = (onnx.encode(TEXTS, "passage") * ref).sum(axis=1)
    assert cosine.min() > 0.9999
    int8 = _encoder(tiny_model, onnx_root, "int8").encode(TEXTS, "passage")
    assert 0.95 < (int8 * ref).sum(axis=1).min()
    assert np.abs(int8 - ref).max() > 1e-6  # close, but not the fp32 vectors
    bf16 = _encoder(tiny_model, onnx_root, "bf16")
    assert bf16.backend == "torch"
    half = bf16.encode(TEXTS, "passage")
    assert 0.99 < (half * ref).sum(axis=1).min()
    assert np.abs(half - ref).max() > 1e-6  # bf16 arithmetic really ran
    meta = json.loads(next((onnx_root / "onnx").glob("*-int8-*/babelir-onnx.json")).read_text())
    assert meta["precision"] == "int8" and meta["pooling"] == "mean"
    assert meta["fused_operators"].get("Attention") == 2  # one fused attention per layer


def test_the_embedding_cache_keeps_precisions_apart(tiny_model, onnx_root, tmp_path):
    vectors = {}
    for precision, backend in (("fp32", "torch"), ("fp32", "onnx"), ("int8", "onnx")):
        vectors[precision, backend] = _encoder(tiny_model, onnx_root, precision, backend,
                                               tmp_path).encode(TEXTS, "query")
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 3  # one entry per (precision, backend)
    again = _encoder(tiny_model, onnx_root, "int8", "onnx", tmp_path)
    np.testing.assert_array_equal(again.encode(TEXTS, "query"), vectors["int8", "onnx"])
    assert again._st is None and again._onnx is None  # served from the cache


@pytest.mark.parametrize("precision, backend, device", [
    ("int8", "torch", "cpu"), ("bf16", "onnx", "cpu"), ("fp32", "onnx", "cuda"),
    ("fp8", "auto", "cpu"), ("fp32", "tensorrt", "cpu")])
def test_unsupported_combinations_are_refused(precision, backend, device):
    with pytest.raises(BabelirError):
        resolve_backend(backend, precision, device)


def test_auto_backend_choice():
    assert resolve_backend("auto", "fp32", "cpu") == "onnx"
    assert resolve_backend("auto", "bf16", "cpu") == "torch"
    assert resolve_backend("auto", "fp32", "cuda") == "torch"


def test_bf16_training_resumes_exactly(tiny_model, data_dir, tmp_path):
    pairs, _ = make_pairs(["mlqa-test"], data_dir, languages=["de", "es"])
    pairs.to_parquet(tmp_path / "pairs.parquet")
    values = dict(pairs=str(tmp_path / "pairs.parquet"), model=str(tiny_model), batch_size=8,
                  steps=4, eval_every=2, save_every=2, dev_batches=1, max_length=32,
                  learning_rate=1e-3, data_dir=str(data_dir), device="cpu", precision="bf16",
                  select_best=False, select_on="dev_loss", merge=1.0)
    straight = train(load_config(None, {**values, "out": str(tmp_path / "a")}))
    train(load_config(None, {**values, "out": str(tmp_path / "b"), "stop_after": 2}))
    resumed = train(load_config(None, {**values, "out": str(tmp_path / "b")}), resume=True)
    a = load_file(str(straight / "model.safetensors"))
    b = load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(x) for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(np.isfinite(e["loss"]) for e in log)
    assert make_accelerator(load_config(None, values)).mixed_precision == "bf16"


def test_fp16_training_is_refused_on_the_cpu(tiny_model, data_dir, tmp_path):
    values = dict(pairs=str(tmp_path / "missing.parquet"), model=str(tiny_model),
                  out=str(tmp_path / "r"), device="cpu", precision="fp16")
    with pytest.raises(BabelirError, match="fp16 needs a CUDA device"):
        train(load_config(None, values))


def test_a_damaged_cache_entry_is_encoded_again(tiny_model, onnx_root, tmp_path, capsys):
    first = _encoder(tiny_model, onnx_root, "fp32", "onnx", tmp_path).encode(TEXTS, "query")
    (entry,) = tmp_path.rglob("*.npy")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated, as by a killed write elsewhere
    again = _encoder(tiny_model, onnx_root, "fp32", "onnx", tmp_path).encode(TEXTS, "query")
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert "truncated or corrupt" in capsys.readouterr().out
    assert np.load(entry).shape == first.shape  # replaced by a whole entry
