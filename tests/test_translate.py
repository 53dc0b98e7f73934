"""babelir.translate: Apertium for real (en→es), the sentence-level pipeline (answer sentence
index, cache, resume, failures, quality flags) and the Hugging Face path with tiny randomly
initialised models built here (their output is garbage by design)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from babelir.errors import BabelirError
from babelir.translate import (
    ApertiumEngine,
    TranslationCache,
    TranslationEngine,
    load_source,
    model_language_codes,
    quality_flags,
    translate_source,
)

CONTEXTS = [
    ("The Nile is a river in Africa. It is the longest river in the world. Many people live "
     "near its banks.", [("How long is the Nile?", "the longest river in the world"),
                         ("Where is the Nile?", "Africa")]),
    ("Paris is the capital of France. The city has two million inhabitants. It is famous "
     "for the Eiffel Tower. POISON is here.", [("How many people live in Paris?",
                                                "two million inhabitants")]),
    ("The cat sleeps. The dog barks loudly at night.", [("What does the dog do?",
                                                         "sleeps. The dog barks")]),
]


def write_squad(path: Path) -> Path:
    data, n = [], 0
    for c, (context, qas) in enumerate(CONTEXTS):
        items = []
        for question, answer in qas:
            items.append({"id": f"q{n}", "question": question,
                          "answers": [{"text": answer, "answer_start": context.index(answer)}]})
            n += 1
        data.append({"title": f"t{c}", "paragraphs": [{"context": context, "qas": items}]})
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path


class FakeEngine(TranslationEngine):
    """Deterministic 'translation' (tgt prefix + reversed words); counts texts and calls."""

    name, version, batch_size = "fake", "1", 3

    def __init__(self, poison: str | None = None, mapping: dict | None = None):
        self.calls, self.texts, self.poison, self.mapping = 0, 0, poison, mapping or {}

    def translate(self, texts, src, tgt):
        self.calls += 1
        if self.poison and any(self.poison in t for t in texts):
            raise RuntimeError("engine crashed")
        self.texts += len(texts)
        return [self.mapping.get(t, f"{tgt}: " + " ".join(reversed(t.split()))) for t in texts]


@pytest.fixture
def squad(tmp_path) -> Path:
    return write_squad(tmp_path / "toy.json")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# ---------------------------------------------------------------------------- Apertium


@pytest.fixture(scope="module")
def apertium() -> ApertiumEngine:
    if shutil.which("apertium") is None:
        pytest.fail("the `apertium` command is missing: run `bash scripts/install_apertium.sh` "
                    "(apt-get install apertium apertium-eng-spa apertium-eng-cat apertium-en-gl)")
    return ApertiumEngine(batch_size=4)


def test_apertium_translates_en_es_with_counts_kept(apertium):
    texts = ["The cat is black.", "Who wrote the book?", "", "He said:\n\"no\".",
             "[8]", "The house is big.", "Dr. Smith lives in the U.S.", "*"]
    calls = apertium.calls
    out = apertium.translate(texts, "en", "es")
    assert len(out) == len(texts)
    assert "gato" in out[0] and "negro" in out[0]
    assert "libro" in out[1]
    assert out[2] == ""
    assert "casa" in out[5]
    assert all("\n" not in t for t in out)
    assert apertium.calls - calls == 2  # 7 non-empty texts, 4 per call
    assert apertium.pair_version("en", "es").startswith(apertium.version + "/")
    with pytest.raises(BabelirError, match=r"apertium-\w+-\w+"):
        apertium.check_pair("en", "xx")


def test_answer_sentence_index_preserved(apertium, squad, tmp_path):
    cache = TranslationCache(tmp_path / "cache.sqlite")
    manifest = translate_source(str(squad), ["es"], apertium, tmp_path / "out", cache=cache,
                                progress=False)
    assert manifest["languages"]["es"]["examples"] == 4 and manifest["failures"] == 0
    src = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "en.jsonl")}
    rows = read_jsonl(tmp_path / "out" / "es.jsonl")
    assert [r["id"] for r in rows] == ["q0", "q1", "q2", "q3"]
    gold = {r["id"]: r["gold_sentence"] for r in rows}
    assert gold == {"q0": 1, "q1": 0, "q2": 1, "q3": None}  # q3's answer crosses 2 sentences
    assert rows[3]["gold_sentences"] == [0, 1]
    for row in rows:
        en = src[row["id"]]
        assert len(row["sentences"]) == len(en["sentences"])
        assert row["passage"] == " ".join(row["sentences"])
        for (s, e), sentence in zip(row["sentence_breaks"], row["sentences"]):
            assert row["passage"][s:e] == sentence
        # sentence k of the translation is the translation of source sentence k
        assert row["sentences"] == apertium.translate(en["sentences"], "en", "es")
        assert row["answers"] == [{"text": None, "answer_start": None}]
        assert en["answers"][0]["text"] in en["passage"]
    assert "África" in rows[0]["sentences"][0] and "largo" in rows[0]["sentences"][1]
    combined = read_jsonl(tmp_path / "out" / "out.jsonl")
    assert {(r["id"], r["lang"]) for r in combined} == {(f"q{i}", lang) for i in range(4)
                                                         for lang in ("en", "es")}


# ---------------------------------------------------------------------------- pipeline


def test_cache_hit_on_second_run(squad, tmp_path):
    cache = tmp_path / "cache.sqlite"
    engine = FakeEngine()
    first = translate_source(str(squad), ["es", "ca"], engine, tmp_path / "a", cache=cache,
                             progress=False)
    n_texts = first["texts"]
    assert engine.texts == 2 * n_texts and first["languages"]["es"]["cache_hits"] == 0
    engine2 = FakeEngine()
    second = translate_source(str(squad), ["es", "ca"], engine2, tmp_path / "b", cache=cache,
                              progress=False)
    assert engine2.calls == 0
    assert second["languages"]["es"]["cache_hits"] == n_texts
    assert (tmp_path / "a" / "es.jsonl").read_text() == (tmp_path / "b" / "es.jsonl").read_text()
    # another engine version does not reuse the cache
    engine3 = FakeEngine()
    engine3.version = "2"
    translate_source(str(squad), ["es"], engine3, tmp_path / "c", cache=cache, progress=False)
    assert engine3.texts == n_texts


def test_resume_after_interruption(squad, tmp_path):
    cache = tmp_path / "cache.sqlite"

    class Interrupted(FakeEngine):
        def translate(self, texts, src, tgt):
            if self.calls >= 2:
                raise KeyboardInterrupt
            return super().translate(texts, src, tgt)

    with pytest.raises(KeyboardInterrupt):
        translate_source(str(squad), ["es"], Interrupted(), tmp_path / "o", cache=cache,
                         progress=False)
    assert TranslationCache(cache).count() == 6  # 2 chunks of 3 were committed
    limited = FakeEngine()
    translate_source(str(squad), ["es"], limited, tmp_path / "o", cache=cache, limit=1,
                     progress=False)
    assert limited.texts == 0  # the first example's 4 texts were in the first 6
    engine = FakeEngine()
    manifest = translate_source(str(squad), ["es"], engine, tmp_path / "o", cache=cache,
                                progress=False)
    assert engine.texts == manifest["texts"] - 6
    assert manifest["languages"]["es"]["cache_hits"] == 6


def test_failures_recorded_not_fatal(squad, tmp_path):
    engine = FakeEngine(poison="POISON")
    manifest = translate_source(str(squad), ["es"], engine, tmp_path / "o",
                                cache=tmp_path / "c.sqlite", progress=False)
    assert manifest["failures"] == 1 and manifest["languages"]["es"]["failed_texts"] == 1
    failures = read_jsonl(tmp_path / "o" / "failures.jsonl")
    assert failures[0]["text"] == "POISON is here." and failures[0]["ids"] == ["q2"]
    assert "engine crashed" in failures[0]["error"]
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "o" / "es.jsonl")}
    assert set(rows) == {"q0", "q1", "q2", "q3"}  # never silently dropped
    assert rows["q2"]["passage"] is None and rows["q2"]["question"].startswith("es: ")
    assert rows["q0"]["passage"] is not None
    assert manifest["languages"]["es"]["examples_incomplete"] == 1
    # the failed text is not cached: a re-run with a working engine fills it in
    fixed = FakeEngine()
    translate_source(str(squad), ["es"], fixed, tmp_path / "o", cache=tmp_path / "c.sqlite",
                     progress=False)
    assert fixed.texts == 1


def test_quality_flags(squad, tmp_path):
    assert quality_flags("The cat is black.", "") == ["empty"]
    assert quality_flags("Barack Obama", "Barack Obama") == ["unchanged"]
    assert quality_flags("[8]", "[8]") == []
    assert quality_flags("A reasonably long sentence.", "Si.") == ["too_short"]
    assert quality_flags("Short one.", "x" * 40) == ["too_long"]
    assert quality_flags("The cat is black.", "El gato es negro.") == []
    engine = FakeEngine(mapping={"The cat sleeps.": "", "Where is the Nile?":
                                 "Where is the Nile?"})
    manifest = translate_source(str(squad), ["es"], engine, tmp_path / "o",
                                cache=tmp_path / "c.sqlite", progress=False)
    lang = manifest["languages"]["es"]
    assert lang["flags"] == {"empty": 1, "unchanged": 1}
    assert lang["flag_shares"]["empty"] == round(1 / lang["text_occurrences"], 4)
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "o" / "es.jsonl")}
    assert rows["q1"]["flags"] == ["unchanged"] and rows["q3"]["flags"] == ["empty"]


def test_tydi_ids_match_build_pairs_naming(data_dir):
    from babelir.data.pairs import _parse_squad

    path = data_dir / "tydiqa" / "goldp-train" / "tydiqa.goldp.en.train.json"
    src, _, examples = load_source("tydiqa-goldp:en", data_dir)
    rows = _parse_squad(path, "en", "tydiqa-goldp-train", "paragraph",
                        lambda pos, raw: f"tydiqa-train-en-{pos}", unique_ids=True)
    assert src == "en" and len(examples) == len(rows) == 3696
    assert [e.id for e in examples] == [r["example_id"] for r in rows]
    assert [e.question for e in examples[:50]] == [" ".join(r["question"].split())
                                                   for r in rows[:50]]


@pytest.mark.slow
def test_build_pairs_reads_the_output(squad, tmp_path):
    from babelir.data.pairs import build_pairs

    out = tmp_path / "mt"
    translate_source(str(squad), ["es", "ca"], FakeEngine(), out, cache=tmp_path / "c.sqlite",
                     progress=False)
    summary = build_pairs([f"jsonl:{out / 'mt.jsonl'}"], tmp_path, tmp_path / "pairs.parquet")
    assert summary["rows"] == 12 and summary["examples"] == 4
    assert summary["pairs"]["en-es"] == 4 and summary["pairs"]["ca-es"] == 4
    # the output folder itself is a source too (its manifest names the combined file)
    again = build_pairs([str(out)], tmp_path, tmp_path / "pairs2.parquet")
    assert {k: again[k] for k in ("rows", "examples", "pairs")} == \
        {k: summary[k] for k in ("rows", "examples", "pairs")}
    (out / "manifest.json").unlink()
    with pytest.raises(BabelirError, match="no manifest.json"):
        build_pairs([str(out)], tmp_path, tmp_path / "pairs3.parquet")
    assert not (tmp_path / "pairs3.parquet").exists()


def test_manifest_paths_are_portable(tmp_path, monkeypatch):
    from babelir.io import sha256_of

    data = tmp_path / "data"
    data.mkdir()
    source = write_squad(data / "toy.json")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache = tmp_path / "home" / ".cache" / "t.sqlite"
    cache.parent.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    manifest = translate_source("toy.json", ["es"], FakeEngine(), "out",
                                data_dir=data, cache=cache, progress=False)
    assert manifest["source_file"] == "$BABELIR_DATA/toy.json"
    assert manifest["source_sha256"] == sha256_of(source)
    assert manifest["cache"] == "~/.cache/t.sqlite"
    assert manifest["build_pairs_source"] == "out"
    written = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert str(tmp_path) not in written


# ---------------------------------------------------------------------------- Hugging Face


def test_model_language_codes():
    assert model_language_codes("nllb", "en", "es") == {
        "src_lang": "eng_Latn", "tgt_lang": "spa_Latn", "forced_bos_token": "spa_Latn",
        "prefix": None}
    assert model_language_codes("nllb", "en", "gl")["forced_bos_token"] == "glg_Latn"
    assert model_language_codes("m2m100", "en", "ca") == {
        "src_lang": "en", "tgt_lang": "ca", "forced_bos_token": "__ca__", "prefix": None}
    assert model_language_codes("marian", "en", "es")["prefix"] is None
    assert model_language_codes("marian", "en", "gl", [">>glg<<", ">>spa<<"])["prefix"] \
        == ">>glg<<"
    with pytest.raises(BabelirError):
        model_language_codes("marian", "en", "de", [">>spa<<"])
    with pytest.raises(BabelirError):
        model_language_codes("nllb", "en", "xx")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, data_dir):
    """A tiny Marian and a tiny M2M-100 (random weights), with a Unigram tokenizer trained on
    XNLI dev sentences (en + es); the M2M tokenizer also has language tokens."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import (
        M2M100Config,
        M2M100ForConditionalGeneration,
        MarianConfig,
        MarianMTModel,
        PreTrainedTokenizerFast,
    )

    lines = []
    for lang in ("en", "es"):
        with open(data_dir / "xnli" / f"dev-{lang}.tsv", encoding="utf-8") as fh:
            lines += [line.split("\t")[0] for _, line in zip(range(300), fh)][1:]
    folders = {}
    for kind in ("marian", "m2m"):
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        special = ["<pad>", "</s>", "<unk>"]
        if kind == "m2m":
            special += ["__en__", "__es__", "eng_Latn", "spa_Latn"]
        tok.train_from_iterator(lines, trainers.UnigramTrainer(
            vocab_size=300, special_tokens=special, unk_token="<unk>"))
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>",
                                       eos_token="</s>", unk_token="<unk>")
        size = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                    max_position_embeddings=64, vocab_size=len(fast),
                    pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id,
                    decoder_start_token_id=fast.eos_token_id)
        torch.manual_seed(0)
        if kind == "marian":
            size["decoder_start_token_id"] = fast.pad_token_id
            model = MarianMTModel(MarianConfig(**size))
        else:
            model = M2M100ForConditionalGeneration(M2M100Config(**size))
        folder = tmp_path_factory.mktemp(kind)
        fast.save_pretrained(folder)
        model.save_pretrained(folder)
        folders[kind] = folder
    return folders


def test_hf_tiny_marian_batching_and_cache(tiny_models, squad, tmp_path):
    from babelir.translate import HFEngine, make_engine

    engine = make_engine(f"hf:{tiny_models['marian']}", device="cpu", batch_size=3)
    assert isinstance(engine, HFEngine) and engine.family == "marian"
    engine.max_length = 8
    texts = ["The cat is black.", "Hello", "", "A much longer sentence about the weather.",
             "x", "Who wrote the book?", "y"]
    out = engine.translate(texts, "en", "es")
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    assert engine.calls == 3  # 7 texts, 3 per batch
    cache = tmp_path / "c.sqlite"
    m1 = translate_source(str(squad), ["es"], engine, tmp_path / "o", cache=cache,
                          progress=False)
    assert m1["languages"]["es"]["translated"] == m1["texts"]
    calls = engine.calls
    m2 = translate_source(str(squad), ["es"], engine, tmp_path / "o", cache=cache,
                          progress=False)
    assert engine.calls == calls and m2["languages"]["es"]["cache_hits"] == m1["texts"]
    rows = read_jsonl(tmp_path / "o" / "es.jsonl")
    assert [len(r["sentences"]) for r in rows] == [3, 3, 4, 2]


def test_hf_tiny_m2m_forced_target_token(tiny_models):
    from babelir.translate import HFEngine

    seen = {}
    for family, token in (("m2m100", "__es__"), ("nllb", "spa_Latn")):
        engine = HFEngine(str(tiny_models["m2m"]), device="cpu", batch_size=4, max_length=6,
                          family=family)
        generate = engine.model.generate

        def spy(*args, family=family, generate=generate, **kwargs):
            seen[family] = kwargs.get("forced_bos_token_id")
            return generate(*args, **kwargs)

        engine.model.generate = spy
        out = engine.translate(["The cat is black.", "Hello there"], "en", "es")
        assert len(out) == 2
        assert seen[family] == engine.tokenizer.convert_tokens_to_ids(token)
        engine.check_pair("en", "es")
        with pytest.raises(BabelirError, match="no language token"):
            engine.check_pair("en", "gl")
    # detection: an m2m_100 model whose tokenizer knows FLORES codes is NLLB
    assert HFEngine(str(tiny_models["m2m"]), device="cpu").family == "nllb"
