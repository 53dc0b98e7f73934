"""faiss indexes (exact / HNSW / IVF-PQ), restricted search, save/load, the BM25 wrapper, and
sharded resumable encoding."""

from __future__ import annotations

import numpy as np
import pytest

from babelir.errors import BabelirError
from babelir.retrieval.index import Bm25Index, VectorIndex, neighbour_overlap_at_k
from babelir.retrieval.sharded import ShardedEmbeddings, encode_corpus

N, DIM, NQ = 20_000, 64, 200


def _unit(n, dim, seed):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    import faiss

    faiss.omp_set_num_threads(1)  # the test machine is shared
    base = _unit(N, DIM, 0)
    queries = _unit(NQ, DIM, 1)
    exact = VectorIndex.build(base)
    _, truth = exact.search(queries, 10)
    return base, queries, exact, truth


def test_exact_equals_numpy(data):
    base, queries, _exact, truth = data
    ref = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    assert (truth == ref).mean() > 0.999  # float summation order may swap near-ties


@pytest.fixture(scope="module")
def approx(data):
    base = data[0]
    return {"hnsw": VectorIndex.build(base, "hnsw", M=16, ef_construction=80, ef_search=256),
            "ivfpq": VectorIndex.build(base, "ivfpq", nlist=64, m=16, nprobe=16,
                                       train_size=5_000),
            "ivfpq-refine": VectorIndex.build(base, "ivfpq", nlist=64, m=16, nprobe=16,
                                              train_size=5_000, refine=10)}


@pytest.mark.parametrize("kind,threshold", [("hnsw", 0.93), ("ivfpq", 0.25), ("ivfpq-refine", 0.55)])
def test_approximate_recall(data, approx, kind, threshold):
    # random unit vectors in 64-d are a hard case (no structure to exploit); measured: HNSW
    # 0.98, IVF-PQ (16 x 8 bits = 16 bytes a vector) ~0.35, re-ranked (refine=10) ~0.66
    _, queries, _, truth = data
    _, found = approx[kind].search(queries, 10)
    assert neighbour_overlap_at_k(found, truth, 10) > threshold


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivfpq", "ivfpq-refine"])
def test_restricted_search_and_round_trip(data, approx, kind, tmp_path):
    base, queries, exact, _ = data
    index = exact if kind == "exact" else approx[kind]
    allowed = np.arange(0, N, 7)
    _scores, ids = index.search(queries[:20], 10, restrict_to=allowed)
    assert np.isin(ids[ids >= 0], allowed).all() and (ids >= 0).mean() > 0.9
    if kind == "exact":
        ref = allowed[np.argsort(-(queries[:20] @ base[allowed].T), axis=1)[:, :10]]
        assert (ids == ref).mean() > 0.99
    index.save(tmp_path / "idx")
    again = VectorIndex.load(tmp_path / "idx")
    assert again.kind == kind.split("-")[0] and again.ntotal == N
    s1, i1 = index.search(queries, 10)
    s2, i2 = again.search(queries, 10)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)


def test_bad_kind_and_params():
    with pytest.raises(BabelirError, match="unknown index kind"):
        VectorIndex.empty(8, "lsh")
    with pytest.raises(BabelirError, match="unknown parameters"):
        VectorIndex.empty(8, "hnsw", efs=3)


@pytest.mark.slow
def test_bm25_save_load_mmap(tmp_path):
    texts = ["the cat sat on the mat", "dogs bark loudly", "a cat and a dog", "nothing here"]
    idx = Bm25Index.build(texts, tokenizer="regex", docids=["a#0", "a#1", "b#0", "c#0"])
    s1, i1 = idx.search(["cat", "dog bark"], 2)
    idx.save(tmp_path / "bm25")
    again = Bm25Index.load(tmp_path / "bm25", mmap=True)
    s2, i2 = again.search(["cat", "dog bark"], 2)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2)
    assert set(i1[0]) == {0, 2} and i1[1, 0] == 1 and again.docids[2] == "b#0"


# ---------------------------------------------------------------------- sharded encoding
def _fake_encode(texts):
    """Deterministic, cheap: a hash-seeded vector per text."""
    out = np.empty((len(texts), 16), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i] = np.random.default_rng(abs(hash(t)) % (2 ** 32)).standard_normal(16)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _corpus(n):
    return ({"docid": f"{i // 3}#{i % 3}", "title": "t", "text": f"passage number {i}"}
            for i in range(n))


class Killed(Exception):
    pass


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_sharded_resume_equals_unbroken(tmp_path, dtype):
    n = 1_050
    whole = encode_corpus(_corpus(n), tmp_path / "whole", _fake_encode, shard_size=200,
                          batch_size=64, dtype=dtype, progress=False)
    calls = {"n": 0, "texts": 0}

    def dying(texts):
        calls["n"] += 1
        if calls["n"] > 13:  # 4 batches of <= 64 a shard: dies inside the 4th shard
            raise Killed
        calls["texts"] += len(texts)
        return _fake_encode(texts)

    with pytest.raises(Killed):
        encode_corpus(_corpus(n), tmp_path / "resumed", dying, shard_size=200, batch_size=64,
                      dtype=dtype, progress=False)
    with pytest.raises(BabelirError, match="did not finish"):
        ShardedEmbeddings(tmp_path / "resumed")
    done = sorted(p.name for p in (tmp_path / "resumed").glob("shard-*.npy"))
    assert done == ["shard-00000.npy", "shard-00001.npy", "shard-00002.npy"]
    assert not list((tmp_path / "resumed").glob(".*tmp*"))  # no half-written files left

    seen = []

    def counting(texts):
        seen.extend(texts)
        return _fake_encode(texts)

    resumed = encode_corpus(_corpus(n), tmp_path / "resumed", counting, shard_size=200,
                            batch_size=64, dtype=dtype, progress=False)
    assert len(seen) == n - 600  # finished shards were not encoded again
    assert resumed.docids == whole.docids and len(resumed) == n
    np.testing.assert_array_equal(resumed.to_array(), whole.to_array())
    assert resumed.shard(0).dtype == np.dtype(dtype)
    assert isinstance(resumed.shard(0), np.memmap)
    # an index built from the memory-mapped shards equals one built from the array
    a = VectorIndex.build(resumed).search(whole.to_array()[:5], 3)[1]
    b = VectorIndex.build(whole.to_array()).search(whole.to_array()[:5], 3)[1]
    np.testing.assert_array_equal(a, b)


def test_sharded_refuses_other_settings_and_changed_corpus(tmp_path):
    encode_corpus(_corpus(50), tmp_path / "e", _fake_encode, shard_size=20, progress=False)
    with pytest.raises(BabelirError, match="other settings"):
        encode_corpus(_corpus(50), tmp_path / "e", _fake_encode, shard_size=10, progress=False)
    (tmp_path / "e" / "manifest.json").unlink()
    changed = ({"docid": f"x#{i}", "text": "t"} for i in range(50))
    with pytest.raises(BabelirError, match="corpus changed"):
        encode_corpus(changed, tmp_path / "e", _fake_encode, shard_size=20, progress=False)


@pytest.mark.model
def test_sharded_with_tiny_model(tmp_path):
    from babelir.models.registry import resolve_model
    from babelir.models.tiny import build_tiny_model
    from babelir.retrieval.dense import DenseEncoder
    from babelir.settings import cache_dir

    # built once and kept in the cache (building takes ~8 s; the folder is written atomically)
    folder = cache_dir() / "test-models" / "tiny-seed0-h32"
    if not (folder / "modules.json").is_file():
        build_tiny_model(folder, cache_dir())
    encoder = DenseEncoder(resolve_model(str(folder), cache_dir()), max_length=32, batch_size=16,
                           device="cpu")
    records = [{"docid": f"{i}#0", "title": "T", "text": f"Habari ya leo namba {i}"}
               for i in range(40)]
    emb = encode_corpus(records, tmp_path / "emb", lambda t: encoder.encode(t, "passage"),
                        shard_size=16, batch_size=8, progress=False)
    direct = encoder.encode([f"T Habari ya leo namba {i}" for i in range(40)], "passage")
    np.testing.assert_allclose(emb.to_array(), direct, atol=1e-5)


@pytest.mark.slow
def test_sharded_two_processes_equal_one(tmp_path, monkeypatch):
    """Ranks 0 and 1 of 2 (concurrent, synchronised only through the shard files) encode
    disjoint shards and return the same embeddings as one process."""
    from concurrent.futures import ThreadPoolExecutor

    from babelir.retrieval.sharded import process_rank

    n = 1_050
    single = encode_corpus(_corpus(n), tmp_path / "one", _fake_encode, shard_size=200,
                           batch_size=64, progress=False)
    encoded = {0: [], 1: []}

    def run(rank):
        def enc(texts):
            encoded[rank].extend(texts)
            return _fake_encode(texts)
        return encode_corpus(_corpus(n), tmp_path / "two", enc, shard_size=200, batch_size=64,
                             progress=False, rank=rank, world_size=2, poll_seconds=0.05,
                             wait_timeout=60)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, [1, 0]))  # rank 1 first: it must wait for rank 0
    shards = {0: {0, 2, 4}, 1: {1, 3, 5}}
    for rank, texts in encoded.items():
        numbers = {int(t.split()[-1]) // 200 for t in texts}
        assert numbers == shards[rank] and len(texts) == len(set(texts))
    assert len(encoded[0]) + len(encoded[1]) == n
    for emb in results:
        assert emb.docids == single.docids
        np.testing.assert_array_equal(np.concatenate(list(emb.iter_shards())),
                                      np.concatenate(list(single.iter_shards())))
    assert results[0].manifest["processes"] == 2

    # a rank whose partner never comes: a clear error, not a hang
    with pytest.raises(BabelirError, match="did another process fail"):
        encode_corpus(_corpus(n), tmp_path / "alone", _fake_encode, shard_size=200,
                      progress=False, rank=0, world_size=2, poll_seconds=0.05, wait_timeout=0.5)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert process_rank() == (1, 4)
    with pytest.raises(BabelirError, match="not in"):
        encode_corpus(_corpus(3), tmp_path / "bad", _fake_encode, rank=4, world_size=4)
