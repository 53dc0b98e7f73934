"""faiss index types on N generated unit vectors, and the peak memory of sharded encoding.

Per index type (exact IndexFlatIP, HNSW, IVF-PQ): build time, RSS growth while building,
size on disk, queries/s and recall@10 against exact search. Then the peak RSS of
``encode_corpus`` streaming a generated MIRACL-format corpus at two sizes (``--text-n`` and
4x that), in fresh processes: bounded memory means the two peaks are about equal.

    python benchmarks/bench_index.py                 # N = 1,000,000 x 384 (needs ~4 GB RAM)
    # the kept run (2 CPU cores: HNSW efConstruction 40 and 1,024 IVF lists keep the builds
    # to minutes; efConstruction 200 would take hours on random 384-d vectors):
    python benchmarks/bench_index.py --ef-construction 40 --nlist 1024 --text-n 25000
    python benchmarks/bench_index.py --n 10000 --kinds exact --encoder model --text-n 1000 \
        --shard-size 250 --name index-encode-model  # encoding memory with the real model
    python benchmarks/bench_index.py --ef-construction 40 --nlist 1024 --text-n 0 \
        --vectors clustered --name index-clustered  # vectors with neighbours, as real ones
    python benchmarks/bench_index.py --n 20000       # a quick run
    python benchmarks/bench_index.py --encoder model --text-n 2000   # the real model

Writes results/benchmarks/index.json (``--name`` to change).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from common import save

from babelir.retrieval.index import VectorIndex, neighbour_overlap_at_k


def rss() -> int:
    return psutil.Process().memory_info().rss


def unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        out[start:start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def clustered_vectors(n: int, dim: int, seed: int, centers: int, spread: float,
                      chunk: int = 100_000) -> np.ndarray:
    """Unit vectors around ``centers`` random unit centres: ``normalize(c + spread * g)``,
    ``g ~ N(0, I / dim)`` (so ``|spread * g|`` is about ``spread``). Nearest neighbours then
    exist (same-centre points), as in real embeddings; the centres use ``seed`` 12345 so
    that base and queries share them."""
    out = np.empty((n, dim), dtype=np.float32)
    centre = unit_vectors(centers, dim, seed=12345)
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        x = centre[rng.integers(0, centers, rows)] + spread * rng.standard_normal(
            (rows, dim), dtype=np.float32) / np.sqrt(dim, dtype=np.float32)
        out[start:start + rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_kind(kind: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray | None,
               k: int, params: dict, workdir: Path) -> dict:
    before = rss()
    vi = VectorIndex.build(base, kind.split("+")[0], **params)
    grown = rss() - before
    vi.search(queries[:10], k)  # warm-up
    start = time.perf_counter()
    _, ids = vi.search(queries, k)
    seconds = time.perf_counter() - start
    folder = vi.save(workdir / kind.replace("+", "-"))
    size = (folder / "index.faiss").stat().st_size
    # restricted search: a 10 % "language" of the pool
    allowed = np.arange(0, len(base), 10)
    start = time.perf_counter()
    _, rids = vi.search(queries, k, restrict_to=allowed)
    restricted_qps = len(queries) / (time.perf_counter() - start)
    result = {"kind": kind, "params": vi.params, "build_s": round(vi.build_seconds, 3),
              "rss_growth_mb": round(grown / 2**20, 1), "index_file_mb": round(size / 2**20, 1),
              "bytes_per_vector": round(size / len(base), 1),
              "queries_per_s": round(len(queries) / seconds, 1),
              "restricted_10pct_queries_per_s": round(restricted_qps, 1),
              "restricted_only_allowed": bool(np.isin(rids[rids >= 0], allowed).all())}
    if truth is not None:
        result["recall@10_vs_exact"] = round(neighbour_overlap_at_k(ids, truth, 10), 4)
        knob = {"hnsw": ("ef_search", (32, 64, 128, 256, 512)),
                "ivfpq": ("nprobe", (4, 8, 16, 32, 64, 128)),
                "ivfpq+refine": ("nprobe", (8, 32, 128))}.get(kind)
        if knob:  # the speed / recall trade-off of the search-time parameter
            name, values = knob
            default, sweep = vi.params[name], []
            for value in values:
                vi.params[name] = value
                start = time.perf_counter()
                _, found = vi.search(queries, k)
                overlap = neighbour_overlap_at_k(found, truth, 10)
                sweep.append({name: value, "recall@10_vs_exact": round(overlap, 4),
                              "queries_per_s": round(len(queries) / (time.perf_counter() - start), 1)})
            vi.params[name] = default
            result["sweep"] = sweep
    del vi
    return result, ids


NOTES = {
    "random": "random unit vectors: the worst case for HNSW and PQ (no neighbour structure: "
              "every inner product is about N(0, 1/dim), so the true top 10 barely stand out)",
    "clustered": "unit vectors around random centres (noise of about the centre's norm): "
                 "true neighbours exist, as in real embeddings, and approximate indexes can "
                 "find them",
}

CHILD = r"""
import json, sys, time
import numpy as np, psutil
from babelir.data.miracl import iter_corpus
from babelir.retrieval.sharded import encode_corpus
corpus, out, encoder, dim, shard = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if encoder == "model":
    from babelir.models.registry import resolve_model
    from babelir.retrieval.dense import DenseEncoder
    from babelir.settings import cache_dir
    enc = DenseEncoder(resolve_model("multilingual-e5-small", cache_dir()), batch_size=64)
    enc.sentence_transformer
    fn = lambda t: enc.encode(t, "passage")
else:
    def fn(texts):
        seeds = np.frombuffer(b"".join(
            abs(hash(t)).to_bytes(8, "little") for t in texts), dtype=np.uint64)
        x = np.random.default_rng(seeds).standard_normal((len(texts), dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
base = psutil.Process().memory_info().rss
start = time.perf_counter()
emb = encode_corpus(iter_corpus(corpus, chunk_size=2000), out, fn, shard_size=shard,
                    batch_size=256, dtype="float16", progress=False)
seconds = time.perf_counter() - start
# VmHWM: this process's own peak (ru_maxrss would include the parent's RSS at fork)
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"n": len(emb), "seconds": round(seconds, 2),
                  "passages_per_s": round(len(emb) / seconds, 1),
                  "rss_after_imports_mb": round(base / 2**20, 1),
                  "peak_rss_mb": round(peak / 2**20, 1),
                  "peak_minus_imports_mb": round((peak - base) / 2**20, 1)}))
"""


def write_text_corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(5000)]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words, size=int(rng.integers(20, 120))))
            fh.write(json.dumps({"docid": f"{i // 10}#{i % 10}", "title": f"Article {i // 10}",
                                 "text": text}) + "\n")


def bench_encoding(sizes: list[int], encoder: str, dim: int, workdir: Path,
                   shard_size: int) -> list[dict]:
    results = []
    for n in sizes:
        corpus = workdir / f"corpus-{n}.jsonl.gz"
        write_text_corpus(corpus, n)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(workdir / f"emb-{n}"),
                               encoder, str(dim), str(shard_size)], capture_output=True,
                              text=True,
                              env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        results.append({"corpus_passages": n, "encoder": encoder, "shard_size": shard_size,
                        **json.loads(proc.stdout.strip().splitlines()[-1])})
        print(results[-1], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    parser.add_argument("--dim", type=int, default=384, help="width (e5-small: 384)")
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--kinds", default="exact,hnsw,ivfpq,ivfpq+refine")
    parser.add_argument("--refine", type=float, default=10,
                        help="ivfpq+refine: exact re-ranking of refine*k PQ candidates")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default 4*sqrt(n))")
    parser.add_argument("--pq-m", type=int, default=None, help="PQ sub-quantizers (dim/8)")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="faiss OpenMP threads")
    parser.add_argument("--text-n", type=int, default=20_000,
                        help="encoding memory: corpus sizes text-n and 4*text-n (0: skip)")
    parser.add_argument("--encoder", choices=["cheap", "model"], default="cheap")
    parser.add_argument("--shard-size", type=int, default=10_000,
                        help="encoding: passages per shard (memory is bounded by one shard)")
    parser.add_argument("--vectors", choices=["random", "clustered"], default="random",
                        help="random unit vectors (no neighbour structure: the worst case) "
                             "or unit vectors around --centers random centres")
    parser.add_argument("--centers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=1.0,
                        help="clustered: noise norm relative to the unit centre")
    parser.add_argument("--name", default="index")
    args = parser.parse_args()

    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    kinds = [k for k in args.kinds.split(",") if k]
    params = {"exact": {},
              "hnsw": {"M": args.hnsw_m, "ef_construction": args.ef_construction,
                       "ef_search": args.ef_search},
              "ivfpq": {"nlist": args.nlist, "m": args.pq_m, "nprobe": args.nprobe}}
    params["ivfpq+refine"] = {**params["ivfpq"], "refine": args.refine}
    start = time.perf_counter()
    if args.vectors == "clustered":
        base = clustered_vectors(args.n, args.dim, 0, args.centers, args.spread)
        queries = clustered_vectors(args.queries, args.dim, 1, args.centers, args.spread)
    else:
        base = unit_vectors(args.n, args.dim, seed=0)
        queries = unit_vectors(args.queries, args.dim, seed=1)
    print(f"generated {args.n} x {args.dim} in {time.perf_counter() - start:.1f}s", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        truth = None
        ordered = ["exact"] + [k for k in kinds if k != "exact"]  # exact first: the truth
        for kind in ordered:
            result, ids = bench_kind(kind, base, queries, truth, args.k, params[kind], workdir)
            if kind == "exact":
                truth = ids
                result["recall@10_vs_exact"] = 1.0
            if kind in kinds:
                results.append(result)
                print(result, flush=True)
        encoding = bench_encoding([args.text_n, 4 * args.text_n], args.encoder, args.dim,
                                  workdir, args.shard_size) if args.text_n else []
    save(args.name, {"n": args.n, "dim": args.dim, "n_queries": args.queries, "k": args.k,
                     "faiss": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(),
                     "indexes": results, "encoding": encoding,
                     "vectors": args.vectors,
                     **({"centers": args.centers, "spread": args.spread}
                        if args.vectors == "clustered" else {}),
                     "note": NOTES[args.vectors]})


if __name__ == "__main__":
    main()
