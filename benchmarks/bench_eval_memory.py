"""Peak resident memory of a full ``babelir eval`` run, for two source trees.

Each measurement runs ``babelir eval`` in a fresh child process (``python -m babelir.cli``
with ``PYTHONPATH`` pointing at the source tree) through ``/usr/bin/time -v``, whose
"Maximum resident set size" is the child's peak RSS. Typical use, comparing the committed
code (checked out with ``git worktree add --detach /tmp/base HEAD``) with the working tree:

    python benchmarks/bench_eval_memory.py --before /tmp/base/src --after src

``--corpus-size N`` also measures the MIRACL BM25 index build on a generated N-passage
corpus: all records in a list (the former path) vs streamed in chunks (the current one).
Also compares the two runs' summary.json (the numbers must be identical) and their TREC run
files. Writes results/benchmarks/eval_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save


def peak_rss(src: Path, args: list[str], out: Path) -> dict:
    """Run ``babelir eval <args> --out <out>`` from ``src``; its peak RSS (MiB) and wall time."""
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "babelir.cli", "eval", *args,
               "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"eval failed ({src}):\n{proc.stderr[-3000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"source": _described(src), "peak_rss_mib": round(kib / 1024, 1),
            "wall_s": round(wall, 1)}


BUILD_BM25 = {
    # what run_miracl_eval did before: every record in a list, all texts tokenised at once
    "list": "records = [r for chunk in iter_corpus(path) for r in chunk]\n"
            "index = Bm25Index.build([passage_text(r) for r in records], TOKENIZER,"
            " docids=[r['docid'] for r in records])\ndel records\n",
    # what it does now: one chunk of records tokenised and packed at a time
    "streamed": "index = Bm25Index.build_streaming(([(r['docid'], passage_text(r)) for r in c]"
                " for c in iter_corpus(path)), TOKENIZER)\n",
}


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    """A MIRACL-format corpus of ``n`` passages of 40-80 words drawn from a Zipf-like
    vocabulary of 200,000 made-up words (a realistic long tail of rare terms)."""
    import gzip

    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:x}" for i in range(200_000)])
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as fh:
        for start in range(0, n, 10_000):
            count = min(10_000, n - start)
            lengths = rng.integers(40, 81, count)
            words = vocab[np.minimum(rng.zipf(1.2, int(lengths.sum())) - 1, len(vocab) - 1)]
            ends = np.cumsum(lengths)
            for i in range(count):
                text = " ".join(words[ends[i] - lengths[i]:ends[i]])
                fh.write(json.dumps({"docid": f"d{start + i}", "title": "", "text": text}) + "\n")


def bm25_build_peak(corpus: Path, mode: str) -> dict:
    """Peak RSS (MiB) and wall time of building the MIRACL BM25 index one way (a child)."""
    code = ("from babelir.data.miracl import iter_corpus, passage_text\n"
            "from babelir.retrieval.index import Bm25Index\n"
            f"path, TOKENIZER = {str(corpus)!r}, 'unicode-words'\n" + BUILD_BM25[mode]
            + "print(int(index.retriever.scores['num_docs']))\n")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if proc.returncode != 0:
        raise SystemExit(f"BM25 build failed ({mode}):\n{proc.stderr[-3000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"peak_rss_mib": round(kib / 1024, 1), "wall_s": round(time.perf_counter() - start, 1),
            "n_docs": int(proc.stdout.split()[-1])}


def corpus_measurement(n: int) -> dict:
    """The MIRACL BM25 index of a generated ``n``-passage corpus, built both ways."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl.gz"
        write_corpus(corpus, n)
        out = {"n_passages": n, "tokenizer": "unicode-words",
               "corpus_gz_mib": round(corpus.stat().st_size / 2**20, 1)}
        for mode in BUILD_BM25:
            out[mode] = bm25_build_peak(corpus, mode)
            print(mode, out[mode], flush=True)
    return out


def _described(src: Path) -> str:
    """The source tree as a commit (or 'working tree'), never a machine path."""
    import subprocess

    if src.resolve() == (ROOT / "src").resolve():
        return "working tree"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, text=True,
                          capture_output=True).stdout.strip()
    return f"commit {head}" if head else "another source tree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree (…/src) before")
    parser.add_argument("--after", type=Path, default=ROOT / "src", help="source tree after")
    parser.add_argument("--model", default="bm25")
    parser.add_argument("--benchmark", default="xquad-r")
    parser.add_argument("--corpus-size", type=int, default=0,
                        help="also build the MIRACL BM25 index of a generated corpus of this "
                             "many passages, listed vs streamed (0: skip)")
    args = parser.parse_args()
    corpus = corpus_measurement(args.corpus_size) if args.corpus_size else None
    eval_args = ["--model", args.model, "--benchmark", args.benchmark]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, src in (("before", args.before), ("after", args.after)):
            runs[name] = peak_rss(src, eval_args, Path(tmp) / name)
            print(name, runs[name], flush=True)
        summaries = [json.loads((Path(tmp) / n / "summary.json").read_text()) for n in runs]
        metric = {k: v for k, v in summaries[0].items() if isinstance(v, float)}
        same = all(summaries[1].get(k) == v for k, v in metric.items())
        run_files = [(Path(tmp) / n / "run.multilingual.trec").read_bytes() for n in runs]
    save("eval_memory", {
        "what": f"peak RSS of `babelir eval {' '.join(eval_args)}` (full benchmark)",
        **runs, "ratio_after_over_before": round(runs["after"]["peak_rss_mib"]
                                                 / runs["before"]["peak_rss_mib"], 3),
        "summary_metrics_identical": same, "n_summary_metrics": len(metric),
        "trec_run_files_identical": run_files[0] == run_files[1],
        **({"miracl_bm25_generated_corpus": corpus} if corpus else {}),
    })


if __name__ == "__main__":
    main()
