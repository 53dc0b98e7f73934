"""Per-language mean centring: the formula by hand, the saved file, `babelir centre` on a tiny
model with the real XNLI data, and that every encoder of a centred folder applies it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from babelir.cli import main
from babelir.errors import BabelirError
from babelir.models.centre import centre_model, xnli_parallel_sentences
from babelir.models.merge import merge_models
from babelir.models.registry import resolve_model
from babelir.models.tiny import build_tiny_model
from babelir.retrieval.centring import (CENTRING_FILE, LanguageCentring, estimate_centring,
                                        identify_languages)
from babelir.retrieval.dense import DenseEncoder, EmbeddingCache, encode_by_group, model_fingerprint
from babelir.settings import cache_dir


def test_apply_by_hand():
    means = {"query": np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)}
    centring = LanguageCentring(("de", "en"), means)
    emb = np.array([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0]], dtype=np.float32)
    out = centring.apply(emb, "query", ["de", "en", "xx"])
    # de: (2, 4)/sqrt(20); en: (3, 2)/sqrt(13); unknown: minus the mean of means (0.5, 1)
    expected = np.array([[2, 4], [3, 2], [2.5, 3]], dtype=np.float64)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert centring.apply(emb, "passage", ["de"] * 3) is emb  # no passage means: unchanged
    with pytest.raises(BabelirError, match="3 rows"):
        centring.apply(emb, "query", ["de"])


def test_estimate_is_the_mean_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    vectors = {lang: rng.normal(size=(5, 4)).astype(np.float32) for lang in ("de", "en")}
    centring = estimate_centring(lambda texts, side: vectors[texts[0]],
                                 {"de": ["de"] * 5, "en": ["en"] * 5}, ("query",))
    np.testing.assert_allclose(centring.means["query"][0], vectors["de"].mean(axis=0), rtol=1e-6)
    centring.save(tmp_path)
    loaded = LanguageCentring.load(tmp_path)
    assert loaded.languages == ("de", "en") and set(loaded.means) == {"query"}
    np.testing.assert_array_equal(loaded.means["query"], centring.means["query"])
    assert loaded.meta["sentences_per_language"] == {"de": 5, "en": 5}
    (tmp_path / CENTRING_FILE).write_bytes(b"not a npz")
    with pytest.raises(BabelirError, match="not a babelir centring file"):
        LanguageCentring.load(tmp_path)
    assert LanguageCentring.load(tmp_path / "nothing") is None


@pytest.mark.slow  # py3langid's model
def test_identify_languages():
    texts = ["Wann wurde der Kölner Dom fertiggestellt?", "¿Cuándo se terminó la catedral?",
             "When was the cathedral finished?", "大教堂是什么时候完工的？", "Собор был закончен когда?"]
    assert identify_languages(texts, ["de", "en", "es", "ru", "zh"]) == ["de", "es", "en", "zh", "ru"]


def test_xnli_sentences_are_parallel_and_held_out(data_dir):
    from babelir.data.validation import dev_rows

    sentences = xnli_parallel_sentences(data_dir, 20, languages=["de", "en", "zh"])
    assert set(sentences) == {"de", "en", "zh"} and all(len(v) == 20 for v in sentences.values())
    dev_texts = set(dev_rows("xnli", data_dir)["question"])
    assert not dev_texts & {t for v in sentences.values() for t in v}
    # line-aligned files: row i of de is the German premise of row i of en
    en_lines = [line.split("\t")[0] for line in
                (data_dir / "xnli" / "dev-en.tsv").read_text(encoding="utf-8").splitlines()]
    en_lines += [line.split("\t")[0] for line in
                 (data_dir / "xnli" / "test-en.tsv").read_text(encoding="utf-8").splitlines()]
    for split in ("dev", "test"):
        de = (data_dir / "xnli" / f"{split}-de.tsv").read_text(encoding="utf-8").splitlines()
        en = (data_dir / "xnli" / f"{split}-en.tsv").read_text(encoding="utf-8").splitlines()
        german = {e.split("\t")[0]: d.split("\t")[0] for e, d in zip(en, de)}
        for e, d in zip(sentences["en"], sentences["de"]):
            if e in german:
                assert german[e] == d
    assert set(sentences["en"]) <= set(en_lines)


@pytest.fixture(scope="module")
def centred(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("centre")
    base = build_tiny_model(root / "base", cache_dir())
    out = root / "centred"
    code = main(["centre", str(base), "--out", str(out), "--sentences", "12", "--languages",
                 "de", "en", "zh", "--data-dir", str(data_dir), "--cache-dir", str(root / "c")])
    assert code == 0
    return base, out, root


def test_centre_command_writes_true_means(centred, data_dir):
    base, out, root = centred
    assert model_fingerprint(str(out)) == model_fingerprint(str(base))  # one shared cache
    centring = LanguageCentring.load(out)
    assert centring.languages == ("de", "en", "zh")
    raw = DenseEncoder(resolve_model(str(base), root / "c"), backend="torch")
    texts = xnli_parallel_sentences(data_dir, 12, languages=["de", "en", "zh"])
    for i, lang in enumerate(centring.languages):
        for side in ("query", "passage"):
            expected = raw.encode(texts[lang], side).mean(axis=0)
            np.testing.assert_allclose(centring.means[side][i], expected, atol=1e-5)
    meta = json.loads((out / "babelir_centring.json").read_text())
    assert meta["sentences_per_language"] == {"de": 12, "en": 12, "zh": 12}


def test_centred_encoder_applies_means(centred, data_dir):
    base, out, root = centred
    raw = DenseEncoder(resolve_model(str(base), root / "c"), backend="torch")
    enc = DenseEncoder(resolve_model(str(out), root / "c"), backend="torch",
                       cache=EmbeddingCache(root / "emb"))
    centring = LanguageCentring.load(out)
    texts = ["Wann wurde der Kölner Dom fertiggestellt?", "When was the cathedral finished?"]
    got = enc.encode(texts, "query", languages=["de", "en"])
    mine = raw.encode(texts, "query") - centring.means["query"][[0, 1]]
    np.testing.assert_allclose(got, mine / np.linalg.norm(mine, axis=1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(enc.encode(texts, "query"), got, atol=1e-6)  # identified
    grouped = encode_by_group(enc, texts, np.array([0, 1]), ("de", "en"), "query")
    np.testing.assert_allclose(grouped, got, atol=1e-6)


def test_centre_refuses_and_merge_drops_means(centred, tmp_path, data_dir):
    base, out, root = centred
    with pytest.raises(BabelirError, match="model folder itself"):
        centre_model(str(base), base, data_dir, root / "c")
    assert main(["centre", str(base), "--out", str(tmp_path / "x"), "--sentences", "0",
                 "--data-dir", str(data_dir)]) == 2
    merged = tmp_path / "merged"
    merge_models(str(base), str(out), 0.5, merged, root / "c")
    assert not (merged / CENTRING_FILE).exists()
