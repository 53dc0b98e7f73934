"""Memory-bounded evaluation paths give the results of the whole-matrix ones: LAReQA metrics
computed block by block of queries, BM25 scored per block and built from a streamed corpus,
faiss indexes searched memory-mapped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babelir.data.lareqa import RetrievalBenchmark
from babelir.evaluation.lareqa import InnerProductBlocks, ScoreMatrices, evaluate
from babelir.report.trec import write_run, write_top_run
from babelir.retrieval.bm25 import (
    BenchmarkBm25Scorer,
    PackedDocIds,
    _build_index,
    bm25_score_matrix_from_tokens,
    build_index_streaming,
)
from babelir.retrieval.index import Bm25Index, VectorIndex


def _random_bench(seed: int, n_lang: int = 3, n_questions: int = 9) -> RetrievalBenchmark:
    """Every question has a query in each language where it exists (some are missing) and a
    gold candidate there, plus distractor candidates; candidates of a language interleave."""
    rng = np.random.default_rng(seed)
    exists = rng.random((n_questions, n_lang)) < 0.75
    exists[:, 0] = True
    cand_lang, gold_of = [], {}
    for q in range(n_questions):
        for y in np.flatnonzero(exists[q]):
            gold_of[(q, y)] = len(cand_lang)
            cand_lang.append(y)
    cand_lang += list(rng.integers(0, n_lang, 12))  # distractors
    order = rng.permutation(len(cand_lang))
    where = np.argsort(order)  # new position of old candidate i
    cand_lang = np.asarray(cand_lang)[order]
    queries = [(q, x) for q in range(n_questions) for x in np.flatnonzero(exists[q])]
    gold = np.array([[where[gold_of[(q, y)]] if exists[q, y] else -1 for y in range(n_lang)]
                     for q, _ in queries])
    return RetrievalBenchmark(
        name="random", languages=tuple(f"l{i}" for i in range(n_lang)),
        cand_ids=[f"c{i}" for i in range(len(cand_lang))], cand_lang=cand_lang,
        cand_sentences=[f"s{i}" for i in range(len(cand_lang))],
        cand_contexts=["c"] * len(cand_lang),
        query_ids=[f"l{x}/q{q}" for q, x in queries], query_xids=[f"q{q}" for q, _ in queries],
        query_lang=np.array([x for _, x in queries]), query_texts=["t"] * len(queries),
        gold=gold, files={})


def _sorted_ap(row: np.ndarray, relevant: list[int]) -> float:
    """Oracle AP: sort the row by score, relevant candidates last among equal scores."""
    is_rel = np.zeros(len(row), dtype=bool)
    is_rel[relevant] = True
    positions = np.flatnonzero(is_rel[np.lexsort((is_rel, -row))]) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blockwise_metrics_equal_the_whole_matrix_and_a_sorting_oracle(seed):
    bench = _random_bench(seed)
    rng = np.random.default_rng(100 + seed)
    # few distinct values: many ties, where the pessimistic rule decides
    pooled = rng.integers(0, 4, (bench.n_queries, bench.n_candidates)).astype(np.float32)
    by_language = rng.integers(0, 4, pooled.shape).astype(np.float32)
    whole = evaluate(bench, ScoreMatrices(pooled, by_language), block_size=bench.n_queries)
    for block_size in (1, 2, 5):
        res = evaluate(bench, ScoreMatrices(pooled, by_language), block_size=block_size)
        assert res.pairs == whole.pairs and res.multi == whole.multi
        assert res.macro() == whole.macro()
        for name, values in whole.per_query_multi.items():
            np.testing.assert_array_equal(res.per_query_multi[name], values)
        np.testing.assert_array_equal(res.top_ids, whole.top_ids)
        np.testing.assert_array_equal(res.top_scores, whole.top_scores)
    for q in range(bench.n_queries):  # the oracle, from a sort of each row
        rel = [int(c) for c in bench.gold[q] if c >= 0]
        assert res.per_query_multi["map"][q] == pytest.approx(_sorted_ap(pooled[q], rel))
        x = bench.languages[bench.query_lang[q]]
        for y, lang_y in enumerate(bench.languages):
            rows = np.flatnonzero(bench.query_lang == bench.query_lang[q])
            got = res.per_query_pair[(x, lang_y)][np.searchsorted(rows, q)]
            if bench.gold[q, y] < 0:
                assert np.isnan(got)
                continue
            cols = np.flatnonzero(bench.cand_lang == y)
            want = _sorted_ap(by_language[q, cols], [int(np.searchsorted(cols, bench.gold[q, y]))])
            assert got == pytest.approx(want)


def test_run_file_from_block_tops_equals_the_whole_matrix_run(tmp_path):
    bench = _random_bench(3)
    scores = np.random.default_rng(7).standard_normal(
        (bench.n_queries, bench.n_candidates)).astype(np.float32)
    res = evaluate(bench, ScoreMatrices(scores, scores), block_size=4, run_depth=10)
    write_run(tmp_path / "whole.trec", scores, bench.query_ids, bench.cand_ids, "t", depth=10)
    write_top_run(tmp_path / "blocks.trec", res.top_scores, res.top_ids, bench.query_ids,
                  bench.cand_ids, "t")
    whole = (tmp_path / "whole.trec").read_text()
    assert whole == (tmp_path / "blocks.trec").read_text()
    assert len(whole.splitlines()) == 10 * bench.n_queries


def test_inner_product_blocks_match_the_full_product():
    bench = _random_bench(4)
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((bench.n_queries, 8)).astype(np.float32)
    cands = rng.standard_normal((bench.n_candidates, 8)).astype(np.float32)
    full = (torch.as_tensor(queries) @ torch.as_tensor(cands).T).numpy()
    blocks = InnerProductBlocks(queries, cands)
    np.testing.assert_allclose(blocks.block(3, 9)[0], full[3:9], rtol=1e-6, atol=1e-6)
    a = evaluate(bench, blocks, block_size=3)
    b = evaluate(bench, ScoreMatrices(full, full))
    assert a.macro() == pytest.approx(b.macro(), abs=1e-12)


TEXTS = ["the cat sat on the mat", "a dog and a cat", "der Hund und die Katze",
         "die Katze sitzt", "le chat et le chien", "", "mat mat mat cat"]
LANGS = ["en", "en", "de", "de", "fr", "fr", "en"]
QUERIES = ["cat mat", "Katze", "chien chat", "nothing matches", "cat cat dog"]


def test_bm25_blocks_equal_per_language_indexes_built_from_lists():
    from babelir.retrieval.tokenize import get_tokenizer

    scorer = BenchmarkBm25Scorer(QUERIES, TEXTS, LANGS, tokenizer="unicode-words")
    tok = get_tokenizer("unicode-words")
    q_tokens, d_tokens = tok(QUERIES), tok(TEXTS)
    pooled = bm25_score_matrix_from_tokens(q_tokens, d_tokens)
    pooled_block, by_block = scorer.block(1, 4)
    np.testing.assert_array_equal(pooled_block, pooled[1:4])
    assert pooled[0].max() > 0  # the cases score something
    for lang in set(LANGS):
        cols = [j for j, lg in enumerate(LANGS) if lg == lang]
        own = bm25_score_matrix_from_tokens(q_tokens[1:4], [d_tokens[j] for j in cols])
        np.testing.assert_array_equal(by_block[:, cols], own)


def test_streamed_bm25_index_scores_exactly_as_the_list_built_one():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(words, rng.integers(0, 12))) for _ in range(57)]
    chunks = [docs[i:i + 10] for i in range(0, len(docs), 10)]
    listed, streamed = _build_index(docs, 1.5, 0.75, "lucene"), build_index_streaming(chunks)
    assert streamed.vocab_dict == listed.vocab_dict
    for query in (["w1", "w2"], ["w3"], ["w5", "w5", "w39"]):
        np.testing.assert_array_equal(streamed.get_scores(query), listed.get_scores(query))
    packed = PackedDocIds()
    packed.add([[3, 1], [], [2]])
    packed.add([[5, 5, 5]])
    packed.finish()
    assert list(packed) == [[3, 1], [], [2], [5, 5, 5]] and len(packed) == 4
    assert packed[3] == [5, 5, 5]


def test_bm25_index_built_streaming_searches_as_the_list_built_one():
    records = [(f"d{i}", t) for i, t in enumerate(TEXTS)]
    listed = Bm25Index.build(TEXTS, "unicode-words", docids=[d for d, _ in records])
    streamed = Bm25Index.build_streaming((records[i:i + 2] for i in range(0, len(records), 2)),
                                         "unicode-words")
    assert streamed.docids == listed.docids
    a, b = listed.search(QUERIES, 4), streamed.search(QUERIES, 4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


@pytest.mark.slow  # faiss index training
@pytest.mark.parametrize("kind,params", [("exact", {}), ("hnsw", {"M": 8}),
                                         ("ivfpq", {"nlist": 16, "train_size": 4000})])
def test_memory_mapped_index_searches_as_the_one_in_memory(tmp_path, kind, params):
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(1)
    base = rng.standard_normal((30_000, 64)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:50] + 0.1 * rng.standard_normal((50, 64)).astype(np.float32)
    VectorIndex.build(base, kind, **params).save(tmp_path / kind)
    del base
    in_ram = VectorIndex.load(tmp_path / kind)
    before = _rss_mib()
    mapped = VectorIndex.load(tmp_path / kind, mmap=True)
    grown = _rss_mib() - before
    assert mapped.mapped and not in_ram.mapped
    if kind == "exact":  # 7.3 MiB of vectors: mapped, not read
        assert grown < 2.0
    for restrict in (None, np.arange(0, 30_000, 3)):
        s1, i1 = in_ram.search(queries, 10, restrict_to=restrict)
        s2, i2 = mapped.search(queries, 10, restrict_to=restrict)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)


@pytest.mark.slow
def test_a_truncated_faiss_index_is_a_clear_error(tmp_path):
    from babelir.errors import DataError

    vectors = np.random.default_rng(2).standard_normal((200, 16)).astype(np.float32)
    VectorIndex.build(vectors, "exact").save(tmp_path / "idx")
    path = tmp_path / "idx" / "index.faiss"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match="index.faiss.*not a readable faiss index|not a readable"):
        VectorIndex.load(tmp_path / "idx")
