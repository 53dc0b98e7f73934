"""`babelir merge`: WiSE-FT weight interpolation of two tiny models."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from babelir.cli import main
from babelir.errors import BabelirError
from babelir.models.merge import merge_models
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge-models")
    return (build_tiny_model(root / "base", cache_dir(), seed=0),
            build_tiny_model(root / "tuned", cache_dir(), seed=1),
            build_tiny_model(root / "narrow", cache_dir(), seed=2, hidden=16))


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_weights_interpolate(models, tmp_path):
    base, tuned, _ = models
    wb, wt = _weights(base), _weights(tuned)
    assert any(not torch.equal(wb[k], wt[k]) for k in wb)  # different seeds
    for weight, expected in ((0.0, wb), (1.0, wt)):
        out = merge_models(str(base), str(tuned), weight, tmp_path / f"m{weight}", cache_dir())
        merged = _weights(tmp_path / f"m{weight}")
        assert merged.keys() == expected.keys()
        assert all(torch.equal(merged[k], expected[k]) for k in merged), weight
        assert out["weight"] == weight
    merge_models(str(base), str(tuned), 0.5, tmp_path / "half", cache_dir())
    merged = _weights(tmp_path / "half")
    for key in merged:
        mean = ((wb[key].double() + wt[key].double()) / 2).to(wt[key].dtype)
        assert merged[key].dtype == wt[key].dtype
        assert torch.equal(merged[key], mean), key


def test_merged_folder_loads_and_records(models, tmp_path):
    from sentence_transformers import SentenceTransformer

    base, tuned, _ = models
    out = tmp_path / "merged"
    merge_models(str(base), str(tuned), 0.0, out, cache_dir())
    model = SentenceTransformer(str(out), device="cpu")
    assert (model.prompts["query"], model.prompts["passage"]) == ("query: ", "passage: ")
    reference = SentenceTransformer(str(base), device="cpu")
    texts = ["Wer schrieb den Steppenwolf?", "Hermann Hesse schrieb ihn."]
    assert torch.allclose(torch.as_tensor(model.encode(texts)),
                          torch.as_tensor(reference.encode(texts)), atol=1e-6)
    record = json.loads((out / "babelir-merge.json").read_text(encoding="utf-8"))
    assert record["weight"] == 0.0
    assert record["base"]["name"] == str(base) and record["tuned"]["name"] == str(tuned)
    for side in ("base", "tuned"):
        assert record[side]["model_fingerprint"]
        assert list(record[side]["weights_sha256"]) == ["./model.safetensors"]
    assert record["base"]["weights_sha256"] != record["tuned"]["weights_sha256"]
    # the tuned folder's structure is copied
    for name in ("modules.json", "tokenizer.json", "1_Pooling/config.json"):
        assert (out / name).is_file(), name


def test_mismatches_refused(models, tmp_path):
    base, tuned, narrow = models
    with pytest.raises(BabelirError, match="shape"):
        merge_models(str(base), str(narrow), 0.5, tmp_path / "x", cache_dir())
    assert not (tmp_path / "x").exists()
    other = tmp_path / "other-arch"
    shutil.copytree(tuned, other)
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "xlm-roberta"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(BabelirError, match="different architectures"):
        merge_models(str(base), str(other), 0.5, tmp_path / "y", cache_dir())
    # a parameter missing from TUNED
    missing = tmp_path / "missing"
    shutil.copytree(tuned, missing)
    from safetensors.torch import save_file

    state = _weights(tuned)
    state.pop(sorted(state)[-1])
    save_file(state, str(missing / "model.safetensors"))
    with pytest.raises(BabelirError, match="only in BASE"):
        merge_models(str(base), str(missing), 0.5, tmp_path / "z", cache_dir())
    with pytest.raises(BabelirError, match=r"\[0, 1\]"):
        merge_models(str(base), str(tuned), 1.5, tmp_path / "w", cache_dir())
    with pytest.raises(BabelirError, match="TUNED model folder"):
        merge_models(str(base), str(tuned), 0.5, tuned, cache_dir())


def test_bundled_base_is_resolved(models, tmp_path):
    """BASE may be the bundled name; the bundled model (384 wide) is not the tiny one."""
    _, tuned, _ = models
    with pytest.raises(BabelirError, match="shape"):
        merge_models("multilingual-e5-small", str(tuned), 0.5, tmp_path / "x", cache_dir())


def test_cli_merge(models, tmp_path, capsys):
    base, tuned, narrow = models
    out = tmp_path / "cli"
    assert main(["merge", str(base), str(tuned), "--weight", "0.25", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    record = json.loads((out / "babelir-merge.json").read_text(encoding="utf-8"))
    assert record["weight"] == 0.25
    wb, wt, merged = _weights(base), _weights(tuned), _weights(out)
    key = next(iter(merged))
    assert torch.allclose(merged[key], 0.75 * wb[key] + 0.25 * wt[key], atol=1e-6)
    assert main(["merge", str(base), str(narrow), "--weight", "0.5", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "shape" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["merge", str(base), str(tuned), "--weight", "2", "--out", str(tmp_path / "w")])


def test_provenance_files_and_module_names(models, tmp_path):
    """Old and new sentence-transformers module paths name the same classes; TUNED's
    provenance of its own weights is not copied, its model card says it is a merge."""
    base, tuned, _ = models
    other = tmp_path / "tuned-old-st"
    shutil.copytree(tuned, other)
    modules = json.loads((other / "modules.json").read_text())
    for module in modules:
        module["type"] = "sentence_transformers.models." + module["type"].rsplit(".", 1)[-1]
    (other / "modules.json").write_text(json.dumps(modules))
    (other / "README.md").write_text("# tuned\n")
    (other / "babelir_source.json").write_text("{}")
    out = tmp_path / "merged"
    merge_models(str(base), str(other), 0.5, out, cache_dir())
    assert not (out / "babelir_source.json").exists()
    card = (out / "README.md").read_text()
    assert card.startswith("> Merged by `babelir merge`") and card.endswith("# tuned\n")


def test_merge_note_goes_after_the_cards_metadata(models, tmp_path):
    """A card with YAML front matter keeps it first (the Hub reads it only there): the merge
    note goes below it, and huggingface_hub still reads the metadata."""
    from huggingface_hub import ModelCard

    base, tuned, _ = models
    other = tmp_path / "tuned-card"
    shutil.copytree(tuned, other)
    (other / "README.md").write_text("---\nlibrary_name: sentence-transformers\n---\n\n# tuned\n")
    out = tmp_path / "merged"
    merge_models(str(base), str(other), 0.5, out, cache_dir())
    text = (out / "README.md").read_text()
    assert text.startswith("---\nlibrary_name: sentence-transformers\n---\n\n> Merged by")
    assert text.endswith("# tuned\n")
    assert ModelCard.load(out / "README.md").data.library_name == "sentence-transformers"
