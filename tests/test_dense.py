"""Dense encoding: the on-disk embedding cache and model prefixes."""

from __future__ import annotations

import numpy as np
import pytest

from babelir.models.registry import resolve_model, table_prefixes
from babelir.retrieval.dense import DenseEncoder, EmbeddingCache
from babelir.settings import cache_dir


def test_prefix_table_and_override():
    assert table_prefixes("intfloat/multilingual-e5-base") == ("query: ", "passage: ")
    assert table_prefixes("sentence-transformers/LaBSE") == ("", "")
    assert table_prefixes("some/unknown-model") == ("", "")
    choice = resolve_model("multilingual-e5-small", cache_dir(), query_prefix="Query: ")
    assert (choice.query_prefix, choice.passage_prefix) == ("Query: ", "passage: ")


@pytest.mark.model
def test_second_encoder_reads_the_cache_without_loading_the_model(tmp_path):
    choice = resolve_model("multilingual-e5-small", cache_dir())
    texts = ["Wo ist der Eiffelturm?", "埃菲尔铁塔在哪里？", "Where is the Eiffel tower?"]
    first = DenseEncoder(choice, cache=EmbeddingCache(tmp_path))
    emb = first.encode(texts, "query")
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    second = DenseEncoder(choice, cache=EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(second.encode(texts, "query"), emb)
    assert second._st is None  # served from disk
    # another prefix or another text is another cache entry
    other = second.encode(texts, "passage")
    assert not np.allclose(other, emb)
    assert len(list(tmp_path.rglob("*.npy"))) == 2
    # translations are closer to each other than to an unrelated sentence
    unrelated = second.encode(["The stock market fell sharply today."], "query")
    assert (emb[2] @ emb[:2].T).min() > float(emb[2] @ unrelated[0])
